"""Each flag is declared once, on its options class (cli/options.py), and nowhere else:
the parser's flags of a command are exactly the fields of its options."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from provisioner.cli import options
from provisioner.cli.main import OPTIONS
from provisioner.cli.parser import COMMANDS, build_parser


def _fields(cls: type) -> set[str]:
    out: set[str] = set()
    for item in dataclasses.fields(cls):
        if dataclasses.is_dataclass(item.type) or item.name in ("common", "server"):
            nested = {"common": options.Common, "server": options.ServerOptions}[item.name]
            out |= _fields(nested)
        else:
            out.add(item.name)
    return out


def _subparser(name: str) -> argparse.ArgumentParser:
    (subparsers,) = [
        a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)
    ]
    return subparsers.choices[name]  # type: ignore[no-any-return]


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_commands_flags_are_its_options_fields(command: str) -> None:
    cls = OPTIONS[command]
    dests = {a.dest for a in _subparser(command)._actions if a.dest != "help"}
    assert dests == _fields(cls)


def test_every_flag_field_says_what_it_is_for() -> None:
    for cls, _ in COMMANDS.values():
        for name, flags, kw in options.flags_of(cls):
            assert kw.get("help"), f"{cls.__name__}.{name} has no help"
            assert all(f.startswith("-") for f in flags), name


def test_a_flag_left_out_keeps_the_fields_default() -> None:
    parsed = options.from_namespace(
        options.ListOptions, build_parser().parse_args(["list", "--sort", "id"])
    )
    assert parsed == options.ListOptions(sort="id")


@pytest.mark.parametrize(
    ("text", "size"), [("5M", 5 * 1024**2), ("512k", 512 * 1024), ("1G", 1024**3), ("100", 100)]
)
def test_size(text: str, size: int) -> None:
    """``scan --max-size``: a size in bytes, with K, M or G."""
    assert options.size(text) == size


@pytest.mark.parametrize("text", ["", "lots", "0", "-1M"])
def test_size_refuses(text: str) -> None:
    with pytest.raises(options.BadValue, match="a size from 1 byte to 16G"):
        options.size(text)
