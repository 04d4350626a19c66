"""Helpers for tests of the account lock: faults that hold or count requests at the sandbox,
subprocess applies, and waiting for events (never for a delay)."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provisioner.newapi.client import NewApiClient
from provisioner.sandbox import Sandbox
from provisioner.sandbox.faults import Fault
from provisioner.secret import Secret
from tests.e2e.conftest import Cli
from tests.e2e.sinkfiles import json_keys
from tests.newapi.fakes import client_settings

LOCK = "provisioner.lock."
ROOT = Path(__file__).resolve().parents[2]


def wait_for(check: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    """Wait for an event the test can observe (bounded, so a bug fails instead of hanging)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class Hold(Fault):
    """Holds matching requests at the server until the test opens the gate: the first
    ``skip`` pass, the next ``hold`` wait (0: all the rest). Counts arrivals."""

    skip: int = 0
    hold: int = 0
    arrived: int = 0
    held: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        self.gate = threading.Event()

    def matches(self, method: str, path: str, pattern: str | None) -> bool:
        if not super().matches(method, path, pattern):
            return False
        self.arrived += 1
        if self.arrived <= self.skip or (self.hold and self.held >= self.hold):
            return False
        self.held += 1
        return True


@dataclass
class Arrivals(Fault):
    """Records every request as it arrives (before it is handled); never changes one."""

    seen: list[tuple[str, str]] = field(default_factory=list)

    def matches(self, method: str, path: str, pattern: str | None) -> bool:
        self.seen.append((method, path))
        return False

    def writes(self, start: int = 0) -> list[tuple[str, str]]:
        reads = {"GET"}
        return [
            (m, p)
            for m, p in self.seen[start:]
            if m not in reads and not p.endswith("/key") and p != "/api/token/batch/keys"
        ]


def answered(sandbox: Sandbox, method: str, path: str) -> int:
    return sum(1 for m, p, _ in sandbox.requests if m == method and p.split("?")[0] == path)


def lock_rows(sandbox: Sandbox) -> list[dict[str, Any]]:
    """Every lock token the sandbox ever held, deleted ones included."""
    return [r for r in sandbox.rows(include_deleted=True) if r["name"].startswith(LOCK)]


def sink_keys(cli: Cli) -> dict[str, str]:
    """The keys in the json sink (it also records where each key came from)."""
    data = json_keys(cli.workdir / "keys.json")
    return {k: v for k, v in data.items() if isinstance(v, str) and v.startswith("sk-")}


def jobs(cli: Cli) -> list[str]:
    return [n for n in cli.names() if n.startswith("job")]


def apply_process(
    cli: Cli, lock_dir: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "provisioner", "apply", "--yes", *args],
        cwd=cli.workdir,
        env={
            **os.environ,
            **cli.env,
            "PYTHONPATH": str(ROOT),
            "PROVISIONER_LOCK_DIR": str(lock_dir),
            **(env or {}),
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def close(process: subprocess.Popen[str]) -> None:
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()


class Lines:
    """A subprocess's stderr, read line by line in the background (to wait for a line)."""

    def __init__(self, stream: Any) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            self.lines.append(line)
        self._queue.put(None)

    def wait_for(self, text: str, timeout: float = 60.0) -> None:
        wait_for(lambda: any(text in line for line in self.lines), f"{text!r} on stderr", timeout)

    @property
    def text(self) -> str:
        self._thread.join(timeout=30)
        return "".join(self.lines)


def other_client(sandbox: Sandbox) -> NewApiClient:
    return NewApiClient(
        sandbox.url, Secret(sandbox.credential), sandbox.user_id, settings=client_settings()
    )
