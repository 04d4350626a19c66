"""Typed options, and each command's flags declared once, with their validators and help.

Every field of an options class that is a flag says so (:func:`option`): its names, its
typed default, and what argparse needs to parse and explain it. The parser
(:mod:`provisioner.cli.parser`) builds every command from these, and argparse's namespace
becomes one of these classes, once, in :mod:`provisioner.cli.main`; nothing below a
command's ``run`` sees an ``argparse.Namespace``. A command's options compose
:class:`Common` (flags every command takes) and, for the commands that talk to a server,
:class:`ServerOptions`. The values' checks (numbers, durations, sizes, rates) live here
too, for flags and environment variables alike.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

Output = Literal["text", "json", "markdown"]
DEFAULT_FILE = "tokens.yaml"
T = TypeVar("T")


# ---------------------------------------------------------------------------- values
# The one home for checking numbers, durations, sizes and rates given on the command line
# or in an environment variable (the sandbox's flags use it too). A value out of range is
# a usage error (64) that names the flag or the variable and the accepted range.

#: the largest whole number any flag takes (a token id is a 64-bit integer on the server)
MAX_WHOLE = 2**63 - 1


class BadValue(ValueError):
    """A value a check refused; ``str()`` says what is accepted, without the flag's name."""


def _shown(text: object) -> str:
    return repr(text) if isinstance(text, str) else str(text)


def number(
    text: str | float, *, low: float, high: float, what: str, low_open: bool = False
) -> float:
    """A finite number within [``low``, ``high``] (``low`` excluded when ``low_open``)."""
    bound = f"more than {low:g}" if low_open else f"from {low:g}"
    accepted = f"{what} {bound} {'and at most' if low_open else 'to'} {high:g}"
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise BadValue(f"expected {accepted}; got {_shown(text)}") from None
    if value != value or value in (float("inf"), float("-inf")):  # nan, inf, 1e400
        raise BadValue(f"expected {accepted}; got {_shown(text)}, which is not a finite number")
    if value < low or (low_open and value == low) or value > high:
        raise BadValue(f"expected {accepted}; got {_shown(text)}")
    return value


def whole(text: str | int, *, low: int, high: int = MAX_WHOLE, what: str = "a whole number") -> int:
    """A whole number within [``low``, ``high``]."""
    accepted = f"{what} from {low} to {high}" if high != MAX_WHOLE else f"{what}, {low} or more"
    if isinstance(text, bool):
        raise BadValue(f"expected {accepted}; got {_shown(text)}")
    try:
        value = text if isinstance(text, int) else int(str(text).strip(), 10)
    except ValueError:
        raise BadValue(f"expected {accepted}; got {_shown(text)}") from None
    if not low <= value <= high:
        raise BadValue(f"expected {accepted}; got {_shown(text)}")
    return value


def duration(text: str, *, low: int = 0, high: int) -> int:
    """A duration (``90s``, ``30m``, ``12h``, ``7d``, ``4w``, ``1y``) within [low, high] seconds."""
    from provisioner.spec import parse_duration

    accepted = (
        f"a duration from {_duration_text(low)} to {_duration_text(high)}: "
        "a whole number and a unit s, m, h, d, w or y"
    )
    try:
        seconds = parse_duration(str(text).strip())
    except ValueError:
        raise BadValue(f"expected {accepted} (e.g. 30m, 12h, 7d); got {_shown(text)}") from None
    if not low <= seconds <= high:
        raise BadValue(f"expected {accepted}; got {_shown(text)}")
    return seconds


def _duration_text(seconds: int) -> str:
    for unit, size in (("y", 365 * 86400), ("w", 7 * 86400), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


SIZE_UNITS = {"K": 1024, "M": 1024**2, "G": 1024**3}
MAX_SIZE = 16 * 1024**3


def size(text: str) -> int:
    """A size in bytes: ``5M``, ``512K``, ``1G`` or a number of bytes, from 1 byte to 16G."""
    accepted = "a size from 1 byte to 16G: a number of bytes, or with K, M or G (e.g. 5M)"
    value = str(text).strip().upper().removesuffix("B")
    scale = SIZE_UNITS.get(value[-1:], 1)
    digits = value[:-1] if scale != 1 else value
    try:
        amount = number(digits, low=0, high=MAX_SIZE / scale, what="", low_open=True)
    except BadValue:
        raise BadValue(f"expected {accepted}; got {_shown(text)}") from None
    result = int(amount * scale)
    if result < 1:
        raise BadValue(f"expected {accepted}; got {_shown(text)}")
    return result


#: requests per window: at most this many, in a window of at most a day
MAX_RATE_COUNT, MAX_RATE_WINDOW = 1_000_000, 86400.0


def rate(text: str) -> tuple[int, float] | None:
    """``N/SECONDS`` (e.g. ``180/180``; ``N`` alone is per second) or ``off`` (None)."""
    accepted = (
        f"N/SECONDS, N requests (a whole number from 1 to {MAX_RATE_COUNT}) per SECONDS "
        f"(more than 0 and at most {MAX_RATE_WINDOW:g}), e.g. 180/180, or 'off'"
    )
    value = str(text).strip()
    if value.lower() == "off":
        return None
    count_text, _, seconds_text = value.partition("/")
    try:
        count = whole(count_text, low=1, high=MAX_RATE_COUNT)
        seconds = number(
            seconds_text.strip().removesuffix("s") or "1",
            low=0,
            high=MAX_RATE_WINDOW,
            what="",
            low_open=True,
        )
    except BadValue:
        raise BadValue(f"expected {accepted}; got {_shown(text)}") from None
    return count, seconds


def flag(check: Callable[..., T], **limits: Any) -> Callable[[str], T]:
    """``check`` as an argparse ``type``: argparse names the flag, the check the range."""

    def convert(text: str) -> T:
        try:
            return check(text, **limits)
        except BadValue as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = check.__name__
    return convert


def variable(name: str, check: Callable[..., T], text: str, **limits: Any) -> T:
    """``check`` applied to the environment variable ``name``'s value; a usage error names it."""
    from provisioner.errors import UsageError

    try:
        return check(text, **limits)
    except BadValue as exc:
        raise UsageError(f"{name}={text!r} in the environment: {exc}") from None


#: the limits of each numeric flag (one place: the parser and the docs read them here)
TIMEOUT = {"low": 0.0, "high": 3600.0, "what": "a number of seconds", "low_open": True}
PERCENT = {"low": 0.0, "high": 100.0, "what": "a percentage"}
LOCK_TIMEOUT = {"low": 0, "high": 86400}
STALE_AFTER = {"low": 60, "high": 100 * 365 * 86400}
EXPIRING_WITHIN = {"low": 0, "high": 100 * 365 * 86400}
OVERLAP = {"low": 0, "high": 365 * 86400}
TOKEN_ID = {"low": 1, "what": "a token id, a whole number"}
USER_ID = {"low": 1, "what": "a user id, a whole number"}


# ------------------------------------------------------------------------------ flags


def option(*flags: str, default: Any = None, **argparse_kw: Any) -> Any:
    """A field and its flag, declared once: the flag's names (none: a positional argument
    named after the field), the field's typed default, and what argparse needs to parse
    and explain it (``help``, ``metavar``, ``type`` with its validator, ``action``,
    ``nargs``, ``choices``). The parser (:mod:`provisioner.cli.parser`) reads them from here;
    a flag left out keeps the field's default."""
    return field(default=default, metadata={"flags": flags, "argparse": argparse_kw})


def flags_of(cls: type) -> list[tuple[str, tuple[str, ...], dict[str, Any]]]:
    """(field name, flag names, argparse keywords) of each field of ``cls`` that is a flag,
    in declaration order (the order ``--help`` lists them)."""
    return [
        (item.name, item.metadata["flags"], dict(item.metadata["argparse"]))
        for item in dataclasses.fields(cls)
        if "flags" in item.metadata
    ]


# ------------------------------------------------------------------------------ options


@dataclass(frozen=True)
class Common:
    """Global flags, accepted before and after the command name."""

    file: str = option(
        "-f", "--file", default=DEFAULT_FILE, help="the spec file (default: tokens.yaml)"
    )
    output: Output = option(  # noqa: RUF009 (a dataclasses.field with its flag, like the rest)
        "--output",
        default="text",
        choices=("text", "json", "markdown"),
        help="output format (default: text)",
    )
    quiet: bool = option(
        "-q", "--quiet", default=False, action="store_true", help="only errors on stderr"
    )
    verbose: int = option(
        "-v",
        "--verbose",
        default=0,
        action="count",
        help="more detail on stderr (repeat for HTTP requests)",
    )
    no_color: bool = option(
        "--no-color",
        default=False,
        action="store_true",
        help="never colour the output (NO_COLOR, TERM=dumb are honoured too)",
    )

    @property
    def file_given(self) -> bool:
        return self.file != DEFAULT_FILE


def _checked_rate(text: str) -> str:
    """``--rate-limit`` as given, once it is known to parse (the session reads it)."""
    rate(text)
    return text.strip()


@dataclass(frozen=True)
class ServerOptions:
    """Flags of every command that talks to a server."""

    sandbox: bool = option(
        "--sandbox",
        default=False,
        action="store_true",
        help="run against an embedded local sandbox (state in .provisioner/sandbox.db next "
        "to the spec file)",
    )
    url: str | None = option(
        "--url", help="server URL (default: NEWAPI_URL, then server.url in the file)"
    )
    insecure_http: bool = option(
        "--insecure-http",
        default=False,
        action="store_true",
        help="allow plain http:// to a host other than loopback",
    )
    rate_limit: str | None = option(
        "--rate-limit",
        type=flag(_checked_rate),
        metavar="N/SECONDS",
        help="pace requests to the server's rate limit: N requests per SECONDS (360/180 on "
        "new-api since 2026-06, 180/180 before; 'off' for a server without a limit). "
        "Default: full speed until the server's first 429, then its limit, learned from "
        "it. Waits are shown, never failures",
    )
    timeout: float | None = option(
        "--timeout",
        type=flag(number, **TIMEOUT),
        metavar="SECONDS",
        help="per-request timeout, more than 0 and at most 3600 (default 30)",
    )


@dataclass(frozen=True)
class OnServer:
    """What every command that talks to a server takes: the global flags and the server's."""

    common: Common = field(default_factory=Common)
    server: ServerOptions = field(default_factory=ServerOptions)


_YES = {"action": "store_true", "help": "do not ask for confirmation"}


@dataclass(frozen=True)
class ValidateOptions:
    common: Common = field(default_factory=Common)


@dataclass(frozen=True)
class PlanOptions(OnServer):
    out: str | None = option(
        "--out", metavar="PLAN", help="save the plan to a file for `apply PLAN`"
    )
    detailed_exitcode: bool = option(
        "--detailed-exitcode",
        default=False,
        action="store_true",
        help="exit 0 when there are no changes, 2 when there are",
    )


@dataclass(frozen=True)
class ApplyOptions(OnServer):
    plan_file: str | None = option(nargs="?", metavar="PLAN", help="a plan saved by `plan --out`")
    yes: bool = option("--yes", "-y", default=False, **_YES)
    force: bool = option(
        "--force",
        default=False,
        action="store_true",
        help="override safety thresholds and min_idle",
    )
    keys_to: str | None = option(
        "--keys-to", metavar="SINK", help="where new keys go (overrides keys.to)"
    )
    lock_timeout: int = option(  # seconds
        "--lock-timeout",
        default=0,
        metavar="DURATION",
        type=flag(duration, **LOCK_TIMEOUT),
        help="when another apply holds the account's lock, wait this long for it "
        "(e.g. 10m) before giving up with exit 4 (default: 0s, do not wait)",
    )


_MATCH = {"action": "append", "metavar": "GLOB", "help": "only names matching (repeat)"}


@dataclass(frozen=True)
class ExportOptions(OnServer):
    match: tuple[str, ...] = option("--match", default=(), **_MATCH)
    out: str | None = option(
        "--out", metavar="FILE", help="write to FILE instead of stdout (never over an existing one)"
    )
    force: bool = option(
        "--force", default=False, action="store_true", help="let --out replace an existing file"
    )
    include_leftovers: bool = option(
        "--include-leftovers",
        default=False,
        action="store_true",
        help="also export NAME.leaked-DATE tokens (revoke disabled them: their keys leaked) and "
        "NAME.new-DATE ones (unfinished rotations); left out by default, and counted",
    )


@dataclass(frozen=True)
class ListOptions(OnServer):
    sort: str = option(
        "--sort", default="name", help="name|id|status|used|budget|expiry|created|last-used"
    )
    status: tuple[str, ...] = option(
        "--status",
        default=(),
        action="append",
        metavar="STATUS",
        help="only tokens with this effective status: enabled, disabled, expired, exhausted "
        "(repeat, or comma-separate)",
    )
    match: tuple[str, ...] = option("--match", default=(), **_MATCH)
    stale_after: int = option(  # seconds
        "--stale-after",
        default=30 * 86400,
        type=flag(duration, **STALE_AFTER),
        metavar="DURATION",
        help="flag a token 'stale' when last used longer ago than this, 'never-used' when "
        "unused and created longer ago than this or 1 day, whichever is shorter (default 30d)",
    )
    expiring_within: int = option(  # seconds
        "--expiring-within",
        default=7 * 86400,
        type=flag(duration, **EXPIRING_WITHIN),
        metavar="DURATION",
        help="flag a usable token 'expiring' when it expires within this (default 7d)",
    )
    budget_above: float = option(
        "--budget-above",
        default=90.0,
        type=flag(number, **PERCENT),
        metavar="PERCENT",
        help="flag a limited token 'budget' when more than this %% of it is used (default 90)",
    )
    fail_on: str | None = option(
        "--fail-on",
        metavar="FINDING[,FINDING...]",
        help="exit 8 when any of these findings is present: any, dead-but-enabled, "
        "unlimited-no-expiry, duplicate-name, budget, expiring, stale, never-used, undeclared",
    )


@dataclass(frozen=True)
class CheckOptions(OnServer):
    """``check`` takes no flag of its own."""


_NAMES = {"nargs": "+", "metavar": "NAME", "help": "token names (exact)"}


@dataclass(frozen=True)
class RevealOptions(OnServer):
    names: tuple[str, ...] = option(default=(), **_NAMES)
    keys_to: str | None = option(
        "--keys-to", metavar="SINK", help="where the keys go (overrides keys.to)"
    )


@dataclass(frozen=True)
class RotateOptions(OnServer):
    names: tuple[str, ...] = option(default=(), **_NAMES)
    yes: bool = option("--yes", "-y", default=False, **_YES)
    keys_to: str | None = option(
        "--keys-to", metavar="SINK", help="where the new keys go (overrides keys.to; required)"
    )
    overlap: int | None = option(  # seconds
        "--overlap",
        metavar="DURATION",
        type=flag(duration, **OVERLAP),
        help="how long the old key keeps working (default: rotate.overlap, else 1d)",
    )
    force: bool = option(
        "--force", default=False, action="store_true", help="rotate even a protected token"
    )


@dataclass(frozen=True)
class DeleteOptions(OnServer):
    ids: tuple[int, ...] = option(
        default=(),
        nargs="+",
        type=flag(whole, **TOKEN_ID),
        metavar="ID",
        help="token ids (`provisioner list`)",
    )
    yes: bool = option("--yes", "-y", default=False, **_YES)
    force: bool = option(
        "--force",
        default=False,
        action="store_true",
        help="delete even tokens the spec protects (protected: true, safety.min_idle)",
    )


@dataclass(frozen=True)
class UnlockOptions(OnServer):
    id: int | None = option(
        nargs="?",
        type=flag(whole, **TOKEN_ID),
        metavar="ID",
        help="the lock token to remove (`provisioner unlock` lists them)",
    )
    force: bool = option(
        "--force",
        default=False,
        action="store_true",
        help="remove a live lock: the apply holding it stops before its next write",
    )
    yes: bool = option("--yes", "-y", default=False, **_YES)


@dataclass(frozen=True)
class LoginOptions:
    common: Common = field(default_factory=Common)
    url: str | None = option(
        "--url", help="the server URL the credential is for (default: NEWAPI_URL)"
    )
    user_id: int | None = option(
        "--user-id",
        type=flag(whole, **USER_ID),
        help="user id for servers that need New-Api-User",
    )


@dataclass(frozen=True)
class TestOptions(OnServer):
    names: tuple[str, ...] = option(
        default=(),
        nargs="*",
        metavar="NAME",
        help="tokens to test (default: every token the file declares that is on the server)",
    )
    keys_to: str | None = option(
        "--keys-to",
        metavar="SINK",
        help="the sink to read keys from (overrides keys.to); keys it lacks are revealed",
    )
    model: str | None = option(
        "--model",
        metavar="MODEL",
        help="also send one chat completion (max_tokens 1) to MODEL with each working key; "
        "this SPENDS QUOTA, so it is off by default",
    )


@dataclass(frozen=True)
class RevokeOptions(OnServer):
    yes: bool = option("--yes", "-y", default=False, **_YES)
    keys_to: str | None = option(
        "--keys-to", metavar="SINK", help="where replacement keys go (or keys.to)"
    )


@dataclass(frozen=True)
class ScanOptions(OnServer):
    paths: tuple[str, ...] = option(
        default=(), nargs="+", metavar="PATH", help="files and folders to read"
    )
    since: str | None = option(
        "--since",
        metavar="REV",
        help="only lines added since the git revision REV (git diff REV), plus untracked files",
    )
    max_size: int = option(  # bytes
        "--max-size",
        default=5 * 1024**2,
        metavar="SIZE",
        type=flag(size),
        help="skip (and list) files larger than SIZE (default 5M; K, M, G)",
    )
    revoke: bool = option(
        "--revoke",
        default=False,
        action="store_true",
        help="revoke every key of the account found, as `provisioner revoke` does",
    )
    yes: bool = option(
        "--yes", "-y", default=False, action="store_true", help="with --revoke: do not ask"
    )
    keys_to: str | None = option(
        "--keys-to", metavar="SINK", help="with --revoke: where replacement keys go"
    )


def from_namespace(cls: type[T], namespace: argparse.Namespace) -> T:
    """Build ``cls`` from the parsed flags; nested option groups read the same namespace.

    A flag the parser did not define for this command keeps the field's default.
    """
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for item in dataclasses.fields(cls):  # type: ignore[arg-type]
        kind = hints[item.name]
        if dataclasses.is_dataclass(kind):
            values[item.name] = from_namespace(kind, namespace)  # type: ignore[arg-type]
            continue
        if not hasattr(namespace, item.name):
            continue
        value = getattr(namespace, item.name)
        if isinstance(value, list):
            value = tuple(value)
        if value is None and item.default is not dataclasses.MISSING and item.default is not None:
            continue  # an optional flag left out: the field's default
        values[item.name] = value
    return cls(**values)


def check_combinations(options: object) -> None:
    """Refuse (exit 64) flag combinations that cannot work, before anything is sent.

    ``--url`` with ``--sandbox``: the sandbox is its own server. ``--keys-to stdout``
    with ``--output json|markdown``: keys never mix into data output
    (docs/sinks.md#stdout; a file's ``keys.to: stdout`` is checked where the sink is made).
    """
    from provisioner.errors import UsageError
    from provisioner.keystore.sinks import stdout_refusal

    server = getattr(options, "server", None)
    if isinstance(server, ServerOptions) and server.sandbox and server.url:
        raise UsageError(
            f"--url {server.url} and --sandbox name two servers: --sandbox runs an embedded "
            "local server and ignores --url; drop one of them"
        )
    common = getattr(options, "common", None)
    keys_to = getattr(options, "keys_to", None)
    stdout_sink = bool(keys_to) and str(keys_to).strip() == "stdout"
    if isinstance(common, Common) and stdout_sink and common.output != "text":
        raise UsageError(stdout_refusal("--keys-to stdout", common.output))
