"""`apply` on a terminal asks for 'yes' (docs/commands.md), through a real pseudo-terminal."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time

import pytest

from tests.e2e.conftest import Cli


def _run_in_pty(cli: Cli, answer: str) -> tuple[int, str]:
    leader, follower = pty.openpty()
    env = {**os.environ, **cli.env}
    proc = subprocess.Popen(
        [sys.executable, "-m", "provisioner", "apply"],
        cwd=cli.workdir,
        env=env,
        stdin=follower,
        stdout=follower,
        stderr=follower,
        close_fds=True,
    )
    os.close(follower)
    seen = b""
    answered = False
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        if not answered and b"Enter a value" in seen:
            os.write(leader, answer.encode() + b"\n")
            answered = True
        if proc.poll() is not None and not ready:
            break
    code = proc.wait(timeout=10)
    os.close(leader)
    return code, seen.decode(errors="replace")


@pytest.mark.parametrize(("answer", "code", "created"), [("yes", 0, True), ("no", 1, False)])
def test_apply_asks_on_a_tty(cli: Cli, answer: str, code: int, created: bool) -> None:
    cli.spec("tokens:\n  - name: asked\n")
    status, screen = _run_in_pty(cli, answer)
    assert "+ create  asked" in screen and "Only 'yes' will be accepted" in screen
    assert status == code, screen
    assert (cli.names() == ["asked"]) is created
    if not created:
        assert "cancelled" in screen
