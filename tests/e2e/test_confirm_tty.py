"""`apply` on a terminal asks for 'yes' (docs/commands.md), through a real pseudo-terminal."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Cli, run_in_pty


def _run_in_pty(cli: Cli, answer: str) -> tuple[int, str]:
    return run_in_pty(cli, ["apply"], [(b"Enter a value", answer.encode() + b"\n")])


@pytest.mark.parametrize(("answer", "code", "created"), [("yes", 0, True), ("no", 1, False)])
def test_apply_asks_on_a_tty(cli: Cli, answer: str, code: int, created: bool) -> None:
    cli.spec("tokens:\n  - name: asked\n")
    status, screen = _run_in_pty(cli, answer)
    assert "+ create  asked" in screen and "Only 'yes' will be accepted" in screen
    assert status == code, screen
    assert (cli.names() == ["asked"]) is created
    if not created:
        assert "cancelled" in screen
