"""The command line's grammar: every command, its help and its example.

Each command's flags are declared once, with their validators and help, on its options
class (:mod:`provisioner.cli.options`); this module puts them on argparse. Only argparse
here: building the parser imports no command module, so ``provisioner --help`` stays fast.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
from typing import Any, NoReturn

from provisioner import __version__
from provisioner.cli.options import (
    ApplyOptions,
    CheckOptions,
    Common,
    DeleteOptions,
    ExportOptions,
    ListOptions,
    LoginOptions,
    PlanOptions,
    RevealOptions,
    RevokeOptions,
    RotateOptions,
    ScanOptions,
    ServerOptions,
    TestOptions,
    UnlockOptions,
    ValidateOptions,
    flags_of,
)
from provisioner.errors import UsageError

#: One example a command's --help shows (tests/test_docs_and_cli.py parses each one).
EXAMPLES: dict[str, str] = {
    "validate": "provisioner validate -f infra/tokens.yaml",
    "plan": "provisioner plan -f infra/tokens.yaml --out plan.json --detailed-exitcode",
    "apply": "provisioner apply plan.json --yes",
    "export": "provisioner export --match 'ci-*' --out tokens.yaml",
    "list": "provisioner list --fail-on dead-but-enabled,budget,stale",
    "check": "provisioner check --url https://api.example.com",
    "reveal": "provisioner reveal ci-render --keys-to dotenv:.env.keys",
    "rotate": "provisioner rotate ci-render --overlap 1d --yes",
    "delete": "provisioner delete 114 --yes",
    "unlock": "provisioner unlock 31 --force",
    "login": "provisioner login --url https://api.example.com --user-id 1",
    "test": "provisioner test ci-render --model gpt-4o-mini",
    "revoke": "provisioner revoke --yes < leaked-key.txt",
    "scan": "provisioner scan . --since origin/main",
    "sandbox": "provisioner sandbox --port 3000 --profile new-api-2025-10",
}


def _epilog(name: str) -> str:
    return (
        f"example:\n  {EXAMPLES[name]}\n\n"
        "exit codes: the table is in `provisioner --help` (and README.md#exit-codes)"
    )


def _exit_code_table() -> str:
    import textwrap

    from provisioner.exitcodes import MEANINGS

    rows = "\n".join(
        textwrap.fill(
            meaning.replace("`", ""),
            width=79,
            initial_indent=f"  {int(code):>3}  ",
            subsequent_indent=" " * 7,
        )
        for code, meaning in MEANINGS.items()
    )
    return f"exit codes:\n{rows}\n\nOne example per command: provisioner COMMAND --help"


class ArgumentsError(UsageError):
    """A flag or argument argparse refused; the usage line is already on stderr."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose usage errors raise :class:`ArgumentsError` (exit 64) instead of exiting 2,
    so ``main`` reports them like every other error (also as JSON with ``--output json``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # `--timeout -inf` and `--stale-after -1d` are values to refuse with their range,
        # not unknown flags: no flag of ours starts with a dash and a digit, a dot or inf/nan.
        self._negative_number_matcher = re.compile(r"^-([0-9.]|inf|nan)", re.IGNORECASE)

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        raise ArgumentsError(f"{self.prog}: {message}")


def _add(parser: argparse.ArgumentParser, cls: type, *, suppress: bool = False) -> None:
    """The flags ``cls`` declares (:func:`provisioner.cli.options.option`), in its order.

    ``suppress``: a global flag given again after the command name; it must not reset
    what was given before it. Otherwise a flag left out is None, and the options keep
    their field's default.
    """
    for name, flags, kw in flags_of(cls):
        if suppress:
            kw["default"] = argparse.SUPPRESS
        elif cls is Common:  # the top level's own value stands when no command gives one
            kw["default"] = {f.name: f.default for f in dataclasses.fields(Common)}[name]
        if flags:
            parser.add_argument(*flags, **kw)
        else:
            parser.add_argument(name, **kw)


#: every command: its options, and what --help says of it
COMMANDS: dict[str, tuple[type, str]] = {
    "validate": (ValidateOptions, "check the spec file offline; every error as FILE:LINE:COL"),
    "plan": (PlanOptions, "show what apply would change (read-only)"),
    "apply": (ApplyOptions, "make the server match the spec"),
    "export": (ExportOptions, "write the account's tokens as a tokens.yaml (no keys)"),
    "list": (ListOptions, "every token with status, usage, budget, expiry and findings"),
    "check": (CheckOptions, "test the connection, the credential and the server dialect"),
    "reveal": (RevealOptions, "deliver existing keys to a sink"),
    "rotate": (
        RotateOptions,
        "replace keys now: new token, old one expires after the overlap",
    ),
    "delete": (
        DeleteOptions,
        "delete tokens by id (e.g. one of two with the same name), after showing them",
    ),
    "unlock": (
        UnlockOptions,
        "show who holds the account's lock (apply's lock token), and remove it: an ended "
        "lease at once, a live one only with --force",
    ),
    "login": (LoginOptions, "store a management credential in the OS keyring (prompted)"),
    "test": (
        TestOptions,
        "call the relay (GET /v1/models) with each token's key: works, or refused and why",
    ),
    "revoke": (
        RevokeOptions,
        "a key leaked: read it from stdin (never argv), disable its token at once, "
        "create and deliver the replacement a declared token needs",
    ),
    "scan": (
        ScanOptions,
        "find this account's keys in files: FILE:LINE and the token, never the key",
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="provisioner",
        description="Tokens as code for new-api-family LLM gateways.",
        epilog=_exit_code_table(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"provisioner {__version__}")
    _add(parser, Common)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=_epilog(name),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        _add(p, Common, suppress=True)
        return p

    for name, (cls, help_text) in COMMANDS.items():
        p = command(name, help_text)
        if "server" in {f.name for f in dataclasses.fields(cls)}:
            _add(p, ServerOptions)
        _add(p, cls)

    from provisioner.sandbox.options import add_arguments as sandbox_arguments

    sandbox_arguments(command("sandbox", "run a local new-api-compatible server"))
    return parser
