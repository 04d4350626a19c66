"""SIGINT and SIGTERM during an apply: exit 130, a report of what was done, a rerun converges.

The CLI runs as a real subprocess (signals go to its main thread); the sandbox runs here.
The signal is sent while a create is surely in flight: the sandbox holds it until then.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from provisioner.cli.execution import CREATE_CONCURRENCY
from provisioner.sandbox import Sandbox
from provisioner.sandbox.wire import Request
from tests.faults.helpers import Traffic, assert_no_secrets, report_lines

# Unpaced creates go CREATE_CONCURRENCY at a time: the first batch is answered, the
# second is held until the signal, and a third is never sent.
NAMES = [f"job-{i:02d}" for i in range(1, 3 * CREATE_CONCURRENCY + 1)]
SPEC = "version: 1\nkeys:\n  to: json:keys.json\ntokens:\n" + "".join(
    f"  - name: {name}\n" for name in NAMES
)
REPO = Path(__file__).resolve().parents[2]


def _env(sandbox: Sandbox) -> dict[str, str]:
    return {
        **os.environ,  # clean (tests/conftest.py)
        "NEWAPI_URL": sandbox.url,
        "NEWAPI_TOKEN": sandbox.credential,
        "CI": "true",
        "NO_COLOR": "1",
        "PROVISIONER_RATE_LIMIT": "off",
        "PYTHONPATH": str(REPO),
    }


def _run(sandbox: Sandbox, workdir: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "provisioner", *argv],
        cwd=workdir,
        env=_env(sandbox),
        capture_output=True,
        text=True,
        timeout=60,
    )


def _job_create(request: Request) -> bool:
    """A create of one of the spec's tokens (not the lock token's)."""
    if (request.method, request.path) != ("POST", "/api/token/"):
        return False
    return json.loads(request.body or b"{}").get("name", "").startswith("job-")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_mid_apply(sandbox: Sandbox, traffic: Traffic, tmp_path: Path, signum: int) -> None:
    (tmp_path / "tokens.yaml").write_text(SPEC, encoding="utf-8")
    sandbox.seed(2, prefix="other-")
    outside = [r for r in sandbox.rows() if not r["name"].startswith("job-")]
    # The first creates go through; each later one is sent only once the client has read
    # an answer, and stays in flight until the signal is sent: with as many held as go at
    # once, every answer of the first ones has been read.
    traffic.hold(_job_create, after=CREATE_CONCURRENCY)
    proc = subprocess.Popen(
        [sys.executable, "-m", "provisioner", "apply", "--yes"],
        cwd=tmp_path,
        env=_env(sandbox),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    traffic.wait_held(proc, count=CREATE_CONCURRENCY)
    answered = {r["name"] for r in sandbox.rows() if r["name"].startswith("job-")}
    proc.send_signal(signum)
    # The held creates land now, as a POST in flight at a signal may; the apply cannot
    # send the next batch first, since Python runs the handler before its next step.
    traffic.release()
    out, err = proc.communicate(timeout=60)
    traffic.landed()

    assert proc.returncode == 130, out + err
    assert "Traceback" not in err and "internal error" not in err, err
    assert "Interrupted:" in out and "Rerun apply to finish" in out, out
    lines = report_lines(out)
    done = [name for mark, kind, name in lines if mark == "✓" and kind == "create"]
    assert len(answered) == CREATE_CONCURRENCY and answered <= set(done), out  # before it
    not_run = [name for mark, _, name in lines if mark == "·"]
    assert not_run, out  # it stopped before the end and says what did not run
    assert {name for _, _, name in lines} == set(NAMES), out

    for name in done:  # whatever the report calls done is on the server
        assert name in {r["name"] for r in sandbox.rows()}
    rerun = _run(sandbox, tmp_path, "apply", "--yes")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    again = _run(sandbox, tmp_path, "plan", "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr

    # Tokens created before the signal: the report said their keys come with the next
    # apply, and the rerun delivered them (the json sink is compared with the server).
    assert "The next apply delivers them" in out, out
    assert "✓ deliver" in rerun.stdout, rerun.stdout
    assert not [r for r in sandbox.rows() if r["name"].startswith("provisioner.lock.")]

    mine = sorted(r["name"] for r in sandbox.rows() if r["name"].startswith("job-"))
    assert mine == NAMES  # every one exactly once: no duplicate, none lost
    assert [r for r in sandbox.rows() if not r["name"].startswith("job-")] == outside
    keys = json.loads((tmp_path / "keys.json").read_text())
    by_name = {r["name"]: r["key"] for r in sandbox.rows()}
    missing = [n for n in NAMES if keys.get(n.upper().replace("-", "_")) != "sk-" + by_name[n]]
    assert not missing, f"keys never delivered for {missing}\n{out}\n{rerun.stdout}"
    assert_no_secrets(sandbox, out, err, rerun.stdout, rerun.stderr, again.stdout, again.stderr)
