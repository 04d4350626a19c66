"""The command line's grammar: every command, flag and help text, in one place.

Only argparse here: building the parser imports no command module, so
``provisioner --help`` stays fast.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any, NoReturn

from provisioner import __version__
from provisioner.cli import options as o
from provisioner.errors import UsageError

SERVER_COMMANDS = (
    "plan",
    "apply",
    "export",
    "list",
    "check",
    "reveal",
    "rotate",
    "delete",
    "test",
    "revoke",
    "scan",
    "unlock",
)


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


def _add_global(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """Global flags, accepted both before and after the command name."""
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument(
        "-f",
        "--file",
        default=default if suppress else "tokens.yaml",
        help="the spec file (default: tokens.yaml)",
    )
    parser.add_argument(
        "--output",
        choices=("text", "json", "markdown"),
        default=default if suppress else "text",
        help="output format (default: text)",
    )
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=default if suppress else False,
        help="only errors on stderr",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=default if suppress else 0,
        help="more detail on stderr (repeat for HTTP requests)",
    )
    parser.add_argument(
        "--no-color",
        action="store_true",
        default=default if suppress else False,
        help="never colour the output (NO_COLOR, TERM=dumb are honoured too)",
    )


def _checked_rate(text: str) -> str:
    """``--rate-limit`` as given, once it is known to parse (the session reads it)."""
    o.rate(text)
    return text.strip()


def _add_server(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sandbox",
        action="store_true",
        help="run against an embedded local sandbox (state in .provisioner/sandbox.db next "
        "to the spec file)",
    )
    parser.add_argument(
        "--url", help="server URL (default: NEWAPI_URL, then server.url in the file)"
    )
    parser.add_argument(
        "--insecure-http",
        action="store_true",
        help="allow plain http:// to a host other than loopback",
    )
    parser.add_argument(
        "--rate-limit",
        type=o.flag(_checked_rate),
        metavar="N/SECONDS",
        help="pace requests to the server's rate limit: N requests per SECONDS (360/180 on "
        "new-api since 2026-06, 180/180 before; 'off' for a server without a limit). "
        "Default: full speed until the server's first 429, then its limit, learned from "
        "it. Waits are shown, never failures",
    )
    parser.add_argument(
        "--timeout",
        type=o.flag(o.number, **o.TIMEOUT),
        default=None,
        metavar="SECONDS",
        help="per-request timeout, more than 0 and at most 3600 (default 30)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="provisioner",
        description="Tokens as code for new-api-family LLM gateways.",
        epilog=_exit_code_table(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"provisioner {__version__}")
    _add_global(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, help_text: str, *, server: bool = False) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=_epilog(name),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        _add_global(p, suppress=True)
        if server:
            _add_server(p)
        return p

    command("validate", "check the spec file offline; every error as FILE:LINE:COL")

    p = command("plan", "show what apply would change (read-only)", server=True)
    p.add_argument("--out", metavar="PLAN", help="save the plan to a file for `apply PLAN`")
    p.add_argument(
        "--detailed-exitcode",
        action="store_true",
        help="exit 0 when there are no changes, 2 when there are",
    )

    p = command("apply", "make the server match the spec", server=True)
    p.add_argument("plan_file", nargs="?", metavar="PLAN", help="a plan saved by `plan --out`")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    p.add_argument("--force", action="store_true", help="override safety thresholds and min_idle")
    p.add_argument("--keys-to", metavar="SINK", help="where new keys go (overrides keys.to)")
    p.add_argument(
        "--lock-timeout",
        metavar="DURATION",
        type=o.flag(o.duration, **o.LOCK_TIMEOUT),
        default="0s",
        help="when another apply holds the account's lock, wait this long for it "
        "(e.g. 10m) before giving up with exit 4 (default: 0s, do not wait)",
    )

    p = command("export", "write the account's tokens as a tokens.yaml (no keys)", server=True)
    p.add_argument("--match", action="append", metavar="GLOB", help="only names matching (repeat)")
    p.add_argument(
        "--out", metavar="FILE", help="write to FILE instead of stdout (never over an existing one)"
    )
    p.add_argument("--force", action="store_true", help="let --out replace an existing file")
    p.add_argument(
        "--include-leftovers",
        action="store_true",
        help="also export NAME.leaked-DATE tokens (revoke disabled them: their keys leaked) and "
        "NAME.new-DATE ones (unfinished rotations); left out by default, and counted",
    )

    p = command("list", "every token with status, usage, budget, expiry and findings", server=True)
    p.add_argument(
        "--sort", default="name", help="name|id|status|used|budget|expiry|created|last-used"
    )
    p.add_argument(
        "--status",
        action="append",
        metavar="STATUS",
        help="only tokens with this effective status: enabled, disabled, expired, exhausted "
        "(repeat, or comma-separate)",
    )
    p.add_argument("--match", action="append", metavar="GLOB", help="only names matching (repeat)")
    p.add_argument(
        "--stale-after",
        type=o.flag(o.duration, **o.STALE_AFTER),
        default="30d",
        metavar="DURATION",
        help="flag a token 'stale' when last used longer ago than this, 'never-used' when "
        "unused and created longer ago than this or 1 day, whichever is shorter (default 30d)",
    )
    p.add_argument(
        "--expiring-within",
        type=o.flag(o.duration, **o.EXPIRING_WITHIN),
        default="7d",
        metavar="DURATION",
        help="flag a usable token 'expiring' when it expires within this (default 7d)",
    )
    p.add_argument(
        "--budget-above",
        type=o.flag(o.number, **o.PERCENT),
        default=90.0,
        metavar="PERCENT",
        help="flag a limited token 'budget' when more than this %% of it is used (default 90)",
    )
    p.add_argument(
        "--fail-on",
        metavar="FINDING[,FINDING...]",
        help="exit 8 when any of these findings is present: any, dead-but-enabled, "
        "unlimited-no-expiry, duplicate-name, budget, expiring, stale, never-used, undeclared",
    )

    command("check", "test the connection, the credential and the server dialect", server=True)

    p = command("reveal", "deliver existing keys to a sink", server=True)
    p.add_argument("names", nargs="+", metavar="NAME", help="token names (exact)")
    p.add_argument("--keys-to", metavar="SINK", help="where the keys go (overrides keys.to)")

    p = command(
        "rotate", "replace keys now: new token, old one expires after the overlap", server=True
    )
    p.add_argument("names", nargs="+", metavar="NAME", help="token names (exact)")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    p.add_argument(
        "--keys-to", metavar="SINK", help="where the new keys go (overrides keys.to; required)"
    )
    p.add_argument(
        "--overlap",
        metavar="DURATION",
        type=o.flag(o.duration, **o.OVERLAP),
        help="how long the old key keeps working (default: rotate.overlap, else 1d)",
    )
    p.add_argument("--force", action="store_true", help="rotate even a protected token")

    p = command(
        "delete",
        "delete tokens by id (e.g. one of two with the same name), after showing them",
        server=True,
    )
    p.add_argument(
        "ids",
        nargs="+",
        type=o.flag(o.whole, **o.TOKEN_ID),
        metavar="ID",
        help="token ids (`provisioner list`)",
    )
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    p.add_argument(
        "--force",
        action="store_true",
        help="delete even tokens the spec protects (protected: true, safety.min_idle)",
    )

    p = command(
        "unlock",
        "show who holds the account's lock (apply's lock token), and remove it: an ended "
        "lease at once, a live one only with --force",
        server=True,
    )
    p.add_argument(
        "id",
        nargs="?",
        type=o.flag(o.whole, **o.TOKEN_ID),
        metavar="ID",
        help="the lock token to remove (`provisioner unlock` lists them)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="remove a live lock: the apply holding it stops before its next write",
    )
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")

    p = command("login", "store a management credential in the OS keyring (prompted)")
    p.add_argument("--url", help="the server URL the credential is for (default: NEWAPI_URL)")
    p.add_argument(
        "--user-id",
        type=o.flag(o.whole, **o.USER_ID),
        help="user id for servers that need New-Api-User",
    )

    p = command(
        "test",
        "call the relay (GET /v1/models) with each token's key: works, or refused and why",
        server=True,
    )
    p.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help="tokens to test (default: every token the file declares that is on the server)",
    )
    p.add_argument(
        "--keys-to",
        metavar="SINK",
        help="the sink to read keys from (overrides keys.to); keys it lacks are revealed",
    )
    p.add_argument(
        "--model",
        metavar="MODEL",
        help="also send one chat completion (max_tokens 1) to MODEL with each working key; "
        "this SPENDS QUOTA, so it is off by default",
    )

    p = command(
        "revoke",
        "a key leaked: read it from stdin (never argv), disable its token at once, "
        "create and deliver the replacement a declared token needs",
        server=True,
    )
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    p.add_argument("--keys-to", metavar="SINK", help="where replacement keys go (or keys.to)")

    p = command(
        "scan",
        "find this account's keys in files: FILE:LINE and the token, never the key",
        server=True,
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="files and folders to read")
    p.add_argument(
        "--since",
        metavar="REV",
        help="only lines added since the git revision REV (git diff REV), plus untracked files",
    )
    p.add_argument(
        "--max-size",
        metavar="SIZE",
        type=o.flag(o.size),
        default="5M",
        help="skip (and list) files larger than SIZE (default 5M; K, M, G)",
    )
    p.add_argument(
        "--revoke",
        action="store_true",
        help="revoke every key of the account found, as `provisioner revoke` does",
    )
    p.add_argument("--yes", "-y", action="store_true", help="with --revoke: do not ask")
    p.add_argument("--keys-to", metavar="SINK", help="with --revoke: where replacement keys go")

    from provisioner.sandbox.options import add_arguments as sandbox_arguments

    sandbox_arguments(command("sandbox", "run a local new-api-compatible server"))
    return parser
