"""The command line's grammar: every command, flag and help text, in one place.

Only argparse here: building the parser imports no command module, so
``provisioner --help`` stays fast.
"""

from __future__ import annotations

import argparse

from provisioner import __version__

SERVER_COMMANDS = ("plan", "apply", "export", "list", "check", "reveal", "rotate")


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


def _add_server(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sandbox",
        action="store_true",
        help="run against an embedded local sandbox (state in .provisioner/sandbox.db)",
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
        metavar="N/SECONDS",
        help="pace requests to the server's rate limit: N requests per SECONDS "
        "(default 180/180, the most cautious new-api default; 360/180 on new-api since "
        "2026-06; 'off' for a server without a limit). Waits are shown, never failures",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="per-request timeout (default 30)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="provisioner",
        description="Tokens as code for new-api-family LLM gateways.",
    )
    parser.add_argument("--version", action="version", version=f"provisioner {__version__}")
    _add_global(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, help_text: str, *, server: bool = False) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
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
        default="0s",
        help="when another apply holds the account's lock, wait this long for it "
        "(e.g. 10m) before giving up with exit 4 (default: 0s, do not wait)",
    )

    p = command("export", "write the account's tokens as a tokens.yaml (no keys)", server=True)
    p.add_argument("--match", action="append", metavar="GLOB", help="only names matching (repeat)")
    p.add_argument("--out", metavar="FILE", help="write to FILE instead of stdout")

    p = command("list", "every token with status, usage, budget, expiry and findings", server=True)
    p.add_argument(
        "--sort", default="name", help="name|id|status|used|budget|expiry|created|last-used"
    )
    p.add_argument("--status", action="append", help="only these effective statuses (repeat)")
    p.add_argument("--match", action="append", metavar="GLOB", help="only names matching (repeat)")
    p.add_argument("--stale-after", default="30d", metavar="DURATION")
    p.add_argument("--expiring-within", default="7d", metavar="DURATION")
    p.add_argument("--budget-above", type=float, default=90.0, metavar="PERCENT")
    p.add_argument("--fail-on", metavar="FINDING[,FINDING...]")

    command("check", "test the connection, the credential and the server dialect", server=True)

    p = command("reveal", "deliver existing keys to a sink", server=True)
    p.add_argument("names", nargs="+", metavar="NAME")
    p.add_argument("--keys-to", metavar="SINK", help="where the keys go (overrides keys.to)")

    p = command(
        "rotate", "replace keys now: new token, old one expires after the overlap", server=True
    )
    p.add_argument("names", nargs="+", metavar="NAME")
    p.add_argument("--yes", "-y", action="store_true")
    p.add_argument("--keys-to", metavar="SINK")
    p.add_argument(
        "--overlap",
        metavar="DURATION",
        help="how long the old key keeps working (default: rotate.overlap, else 1d)",
    )
    p.add_argument("--force", action="store_true", help="rotate even a protected token")

    p = command("login", "store a management credential in the OS keyring (prompted)")
    p.add_argument("--url", help="the server URL the credential is for (default: NEWAPI_URL)")
    p.add_argument("--user-id", type=int, help="user id for servers that need New-Api-User")

    from provisioner.sandbox.options import add_arguments as sandbox_arguments

    sandbox_arguments(command("sandbox", "run a local new-api-compatible server"))
    return parser
