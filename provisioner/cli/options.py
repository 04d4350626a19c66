"""Typed options: argparse's namespace becomes one of these, once, in :mod:`provisioner.cli.main`.

Nothing below a command's ``run`` sees an ``argparse.Namespace``. A command's
options compose :class:`Common` (flags every command takes) and, for the
commands that talk to a server, :class:`ServerOptions`.
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


@dataclass(frozen=True)
class Common:
    """Global flags, accepted before and after the command name."""

    file: str = DEFAULT_FILE
    output: Output = "text"
    quiet: bool = False
    verbose: int = 0
    no_color: bool = False

    @property
    def file_given(self) -> bool:
        return self.file != DEFAULT_FILE


@dataclass(frozen=True)
class ServerOptions:
    sandbox: bool = False
    url: str | None = None
    insecure_http: bool = False
    rate_limit: str | None = None
    timeout: float | None = None


@dataclass(frozen=True)
class ValidateOptions:
    common: Common = field(default_factory=Common)


@dataclass(frozen=True)
class PlanOptions:
    common: Common = field(default_factory=Common)
    server: ServerOptions = field(default_factory=ServerOptions)
    out: str | None = None
    detailed_exitcode: bool = False


@dataclass(frozen=True)
class ApplyOptions:
    common: Common = field(default_factory=Common)
    server: ServerOptions = field(default_factory=ServerOptions)
    plan_file: str | None = None
    yes: bool = False
    force: bool = False
    keys_to: str | None = None
    lock_timeout: int = 0  # seconds


@dataclass(frozen=True)
class ExportOptions:
    common: Common = field(default_factory=Common)
    server: ServerOptions = field(default_factory=ServerOptions)
    match: tuple[str, ...] = ()
    out: str | None = None
    force: bool = False
    include_leftovers: bool = False


@dataclass(frozen=True)
class ListOptions:
    common: Common = field(default_factory=Common)
    server: ServerOptions = field(default_factory=ServerOptions)
    sort: str = "name"
    status: tuple[str, ...] = ()
    match: tuple[str, ...] = ()
    stale_after: int = 30 * 86400  # seconds
    expiring_within: int = 7 * 86400  # seconds
    budget_above: float = 90.0
    fail_on: str | None = None


@dataclass(frozen=True)
class CheckOptions:
    common: Common = field(default_factory=Common)
    server: ServerOptions = field(default_factory=ServerOptions)


@dataclass(frozen=True)
class RevealOptions:
    common: Common = field(default_factory=Common)
    server: ServerOptions = field(default_factory=ServerOptions)
    names: tuple[str, ...] = ()
    keys_to: str | None = None


@dataclass(frozen=True)
class RotateOptions:
    common: Common = field(default_factory=Common)
    server: ServerOptions = field(default_factory=ServerOptions)
    names: tuple[str, ...] = ()
    yes: bool = False
    keys_to: str | None = None
    overlap: int | None = None  # seconds
    force: bool = False


@dataclass(frozen=True)
class DeleteOptions:
    common: Common = field(default_factory=Common)
    server: ServerOptions = field(default_factory=ServerOptions)
    ids: tuple[int, ...] = ()
    yes: bool = False
    force: bool = False  # delete tokens the spec protects (protected: true, safety.min_idle)


@dataclass(frozen=True)
class UnlockOptions:
    common: Common = field(default_factory=Common)
    server: ServerOptions = field(default_factory=ServerOptions)
    id: int | None = None
    force: bool = False
    yes: bool = False


@dataclass(frozen=True)
class LoginOptions:
    common: Common = field(default_factory=Common)
    url: str | None = None
    user_id: int | None = None


@dataclass(frozen=True)
class TestOptions:
    common: Common = field(default_factory=Common)
    server: ServerOptions = field(default_factory=ServerOptions)
    names: tuple[str, ...] = ()
    keys_to: str | None = None
    model: str | None = None


@dataclass(frozen=True)
class RevokeOptions:
    common: Common = field(default_factory=Common)
    server: ServerOptions = field(default_factory=ServerOptions)
    yes: bool = False
    keys_to: str | None = None


@dataclass(frozen=True)
class ScanOptions:
    common: Common = field(default_factory=Common)
    server: ServerOptions = field(default_factory=ServerOptions)
    paths: tuple[str, ...] = ()
    since: str | None = None
    max_size: int = 5 * 1024**2  # bytes
    revoke: bool = False
    yes: bool = False
    keys_to: str | None = None


T = TypeVar("T")


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
