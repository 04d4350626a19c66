"""Every command's --help shows an example (that parses) and points at the exit codes."""

from __future__ import annotations

import shlex

import pytest

from provisioner.cli.parser import EXAMPLES, build_parser
from provisioner.exitcodes import ExitCode

COMMANDS = sorted(build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]


def _help(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args([*argv, "--help"])
    assert exc.value.code == 0
    return capsys.readouterr().out


def test_every_command_has_an_example() -> None:
    assert sorted(EXAMPLES) == COMMANDS


@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_an_example_and_points_at_the_exit_codes(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    text = _help(capsys, command)
    assert f"example:\n  provisioner {command} " in text
    assert "exit codes: the table is in `provisioner --help`" in text


@pytest.mark.parametrize("command", COMMANDS)
def test_each_example_is_a_valid_command_line(command: str) -> None:
    words = shlex.split(EXAMPLES[command].split(" < ")[0])  # a redirect is the shell's
    assert words[:2] == ["provisioner", command]
    parsed = build_parser().parse_args(words[1:])  # a usage error would raise
    assert parsed.command == command


def test_the_top_level_help_has_the_whole_exit_code_table(
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = _help(capsys)
    table = text.split("exit codes:\n", 1)[1]
    for code in ExitCode:
        assert f"\n  {int(code):>3}  " in "\n" + table, code
    assert "provisioner COMMAND --help" in text
