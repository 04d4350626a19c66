"""Shared helpers for the benchmarks: a sandbox in a temp dir, the CLI as a subprocess."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from provisioner.sandbox import Sandbox

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Run:
    seconds: float
    code: int
    peak_mib: float
    requests: Counter[str]
    stdout: str
    stderr: str


def cli_env(sandbox: Sandbox | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWAPI_", "PROVISIONER_"))}
    env.update(CI="true", NO_COLOR="1", PROVISIONER_RATE_LIMIT="off", PYTHONPATH=str(REPO))
    if sandbox is not None:
        env.update(NEWAPI_URL=sandbox.url, NEWAPI_TOKEN=sandbox.credential)
    return env


def run_cli(sandbox: Sandbox | None, workdir: Path, *argv: str) -> Run:
    """One `python -m provisioner ARGV` run: wall time, the child's peak RSS, requests by route."""
    before = len(sandbox.requests) if sandbox is not None else 0
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "provisioner", *argv],
            cwd=workdir,
            env=cli_env(sandbox),
            stdout=out,
            stderr=err,
            text=True,
        )
        _, status, usage = os.wait4(proc.pid, 0)  # the child's own peak RSS
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    scale = 1024 if sys.platform != "darwin" else 1024 * 1024  # ru_maxrss: KiB on Linux
    requests: Counter[str] = Counter()
    if sandbox is not None:
        for method, target, _ in sandbox.requests[before:]:
            requests[f"{method} {target.split('?')[0]}"] += 1
    return Run(seconds, proc.returncode, usage.ru_maxrss / scale, requests, stdout, stderr)


def median_run(runs: list[Run]) -> Run:
    ordered = sorted(runs, key=lambda r: r.seconds)
    middle = ordered[len(ordered) // 2]
    middle.seconds = statistics.median(r.seconds for r in runs)
    return middle


def start_sandbox(tmp: Path) -> Sandbox:
    return Sandbox(db_path=tmp / "bench.db", rate_limits=False, max_user_tokens=1_000_000).start(
        port=0
    )


def machine() -> str:
    return (
        f"{os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), "
        f"Python {sys.version.split()[0]}, {sys.platform}"
    )
