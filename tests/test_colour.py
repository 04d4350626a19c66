"""The colour policy, decided in one place (cli/output.py: use_color)."""

from __future__ import annotations

import io

import pytest

from provisioner.cli.output import use_color


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("env", "flag", "tty", "colour"),
    [
        ({}, False, True, True),  # a terminal gets colours
        ({}, False, False, False),  # a pipe or file gets none
        ({"FORCE_COLOR": "1"}, False, False, True),
        ({"NO_COLOR": "1"}, False, True, False),
        ({"TERM": "dumb"}, False, True, False),
        ({}, True, True, False),  # --no-color
        # off wins: NO_COLOR, TERM=dumb and --no-color each beat FORCE_COLOR
        ({"NO_COLOR": "1", "FORCE_COLOR": "1"}, False, True, False),
        ({"TERM": "dumb", "FORCE_COLOR": "1"}, False, True, False),
        ({"FORCE_COLOR": "1"}, True, True, False),
        ({"NO_COLOR": ""}, False, True, True),  # set but empty: not set
    ],
)  # fmt: skip
def test_use_color(env: dict[str, str], flag: bool, tty: bool, colour: bool) -> None:
    stream = _Terminal() if tty else io.StringIO()
    assert use_color(stream, no_color=flag, env=env) is colour
