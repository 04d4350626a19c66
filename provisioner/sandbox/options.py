"""The options of ``provisioner sandbox``: flags, parsed once into :class:`SandboxOptions`.

Light on purpose: the command line's parser imports this to build ``--help``. Its values
are checked here, with the tool's words (``expected ... from 0 to 65535``) but not its
code: the sandbox imports nothing of the tool but the exit codes, so that it stays an
independent implementation of the server (tests/test_architecture.py).
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provisioner.sandbox import profiles
from provisioner.sandbox.faults import Fault, FaultSpecError, parse_fault
from provisioner.sandbox.messages import Lang
from provisioner.sandbox.profiles import MODELS

DEFAULT_DB = ".provisioner/sandbox.db"
PORT: dict[str, Any] = {"low": 0, "high": 65535, "what": "a port number"}
SEED: dict[str, Any] = {"low": 0, "high": 100_000}
MAX_TOKENS: dict[str, Any] = {"low": 1, "high": 1_000_000}
MAX_LATENCY = 60.0
#: --rate-limits N/SECONDS: N from 1 to this, SECONDS more than 0 and at most a day
MAX_RATE_COUNT, MAX_RATE_WINDOW = 1_000_000, 86400.0


class SandboxUsageError(ValueError):
    """A flag value the sandbox cannot use; the message says what is expected."""


@dataclass(frozen=True)
class SandboxOptions:
    port: int = 3000
    host: str = "127.0.0.1"
    db: Path = Path(DEFAULT_DB)
    profile: str = profiles.DEFAULT
    rate_limits: bool = False
    global_limit: tuple[int, float] | None = None  # None: the generation's own
    max_tokens: int | None = None  # None: the generation's cap, if it has one
    neighbour: bool = True
    channels: tuple[str, ...] = MODELS
    redis: bool = False
    auto_group: bool = False
    seed: int = 0
    lang: Lang = "en"
    latency: float = 0.0
    faults: tuple[Fault, ...] = ()
    verbose: int = 0
    json: bool = False  # --output json: the start lines as one JSON object
    scopes: tuple[str, ...] | None = None  # new-api-2026-10: the nap_ token's grant
    legacy_retired: bool = False  # new-api-2026-10: the legacy token's deadline is now


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Every flag of ``provisioner sandbox``."""
    parser.add_argument("--port", default=3000, help="0 picks a free port (default 3000)")
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    parser.add_argument(
        "--db",
        default=DEFAULT_DB,
        metavar="FILE",
        help=f"SQLite state file, kept across restarts (default {DEFAULT_DB})",
    )
    parser.add_argument(
        "--profile",
        choices=profiles.SELECTABLE,
        default=None,
        metavar="NAME",
        help="answer as this server generation: "
        + ", ".join(profiles.SELECTABLE)
        + f" (default {profiles.DEFAULT}, the newest recorded; new-api-2026-10, "
        "v1.0.0-rc.41 with scoped nap_ tokens, is read from source)",
    )
    parser.add_argument(
        "--scopes",
        default=None,
        metavar="SCOPE,...",
        help="new-api-2026-10: the scopes of the nap_ token printed at start (default "
        "profile:read,api_key:read,api_key:write,api_key:reveal)",
    )
    parser.add_argument(
        "--legacy-retired",
        action="store_true",
        help="new-api-2026-10: retire the legacy access token now (for good, as the server "
        "does 30 days after its first start)",
    )
    parser.add_argument(
        "--rate-limits",
        nargs="?",
        const="",
        default=None,
        metavar="N/SECONDS",
        help="enforce rate limits: bare, the generation's defaults; with N/SECONDS, "
        "a global limit of N requests per SECONDS per client address (default: off)",
    )
    parser.add_argument(
        "--max-tokens",
        default=None,
        metavar="N",
        help="per-user token cap, even on a generation that has none "
        "(default: 1000 from new-api-2026-07, none before)",
    )
    parser.add_argument(
        "--no-neighbour",
        dest="neighbour",
        action="store_false",
        help="start without the second user and its three tokens",
    )
    parser.add_argument(
        "--channels",
        default=None,
        metavar="MODELS",
        help="models the relay's channels serve, comma-separated, or 'none' (chat then "
        "answers 503, as recorded); default: five common models (docs/sandbox.md)",
    )
    parser.add_argument(
        "--redis",
        action="store_true",
        help="behave as a server running Redis: relay calls never mark keys expired or "
        "exhausted (as recorded for new-api-2026-08)",
    )
    parser.add_argument(
        "--auto-group",
        action="store_true",
        help="offer the user the automatic group `auto` (/api/user/self/groups), as a server "
        "whose admin turned it on; the recorded servers do not, so by default a token with "
        "group: auto is refused by plan and its key by the relay",
    )
    parser.add_argument(
        "--seed", default=0, metavar="N", help="add N tokens named seed-K on start (up to 100000)"
    )
    parser.add_argument(
        "--lang",
        choices=("en", "zh"),
        default="en",
        help="message language when Accept-Language does not say, on generations that "
        "translate (2026-07 and later; older ones answer Chinese)",
    )
    parser.add_argument(
        "--latency",
        default=0.0,
        metavar="SECONDS",
        help="sleep this long before answering every request (0 to 60)",
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="SPEC",
        help="inject a fault, e.g. 'POST /api/token/=500x2' or 'GET /api/token/=503@0.1' "
        "or 'PUT /api/token/=drop-after'; repeatable",
    )
    parser.add_argument(
        "--auth",
        choices=("bearer", "legacy"),
        default=None,
        help="deprecated, use --profile: legacy is new-api-2026-07, bearer new-api-2026-08",
    )
    parser.add_argument(
        "--list-shape",
        choices=("page", "array"),
        default=None,
        help="deprecated, use --profile: array is new-api-2025-05 (before v0.8.4.0, unrecorded)",
    )


def options_from(ns: argparse.Namespace) -> SandboxOptions:
    """Typed options from parsed flags; :class:`SandboxUsageError` says what is wrong.

    Reads only what is there, so an older parser's namespace works too.
    """

    def get(name: str, default: Any = None) -> Any:
        return getattr(ns, name, default)

    try:
        faults = tuple(parse_fault(spec) for spec in (get("fault") or []))
    except FaultSpecError as exc:
        raise SandboxUsageError(str(exc)) from None
    port = _whole_flag("--port", get("port", 3000), **PORT)
    seed = _whole_flag("--seed", get("seed", 0) or 0, **SEED)
    latency = _seconds_flag("--latency", get("latency", 0.0) or 0.0, MAX_LATENCY)
    max_tokens = get("max_tokens")
    if max_tokens is not None:
        max_tokens = _whole_flag("--max-tokens", max_tokens, **MAX_TOKENS)
    auth, list_shape = get("auth"), get("list_shape")
    if get("profile") is not None and (auth is not None or list_shape is not None):
        raise SandboxUsageError(
            "--auth and --list-shape are deprecated aliases that pick a profile: "
            "give --profile alone"
        )
    chosen = profiles.resolve(get("profile"), auth=auth, list_shape=list_shape)
    scopes = _scopes(get("scopes"), chosen)
    legacy_retired = bool(get("legacy_retired", False))
    if legacy_retired and not chosen.access_tokens:
        raise SandboxUsageError(
            f"--legacy-retired is for --profile new-api-2026-10 (the generation with scoped "
            f"access tokens), not {chosen.name}"
        )
    enabled, global_limit = _rate_limits(get("rate_limits"))
    return SandboxOptions(
        port=port,
        host=str(get("host", "127.0.0.1")),
        db=Path(get("db") or DEFAULT_DB),
        profile=chosen.name,
        rate_limits=enabled,
        global_limit=global_limit,
        max_tokens=max_tokens,
        neighbour=bool(get("neighbour", True)),
        channels=_channels(get("channels")),
        redis=bool(get("redis", False)),
        auto_group=bool(get("auto_group", False)),
        seed=seed,
        lang="zh" if get("lang") == "zh" else "en",
        latency=latency,
        faults=faults,
        verbose=int(get("verbose", 0) or 0),
        json=get("output") == "json",
        scopes=scopes,
        legacy_retired=legacy_retired,
    )


def _given(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def _whole(value: Any, low: int, high: int) -> int | None:
    """``value`` as a whole number within [low, high], or None."""
    if isinstance(value, bool):
        return None
    try:
        number = value if isinstance(value, int) else int(str(value).strip(), 10)
    except ValueError:
        return None
    return number if low <= number <= high else None


def _whole_flag(name: str, value: Any, *, low: int, high: int, what: str = "a whole number") -> int:
    number = _whole(value, low, high)
    if number is None:
        raise SandboxUsageError(
            f"{name}: expected {what} from {low} to {high}; got {_given(value)}"
        )
    return number


def _seconds(value: Any, high: float, *, above_zero: bool = False) -> float | None:
    """``value`` as a finite number of seconds up to ``high`` (more than 0 when asked)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(number) or number < 0 or number > high or (above_zero and not number):
        return None
    return number


def _seconds_flag(name: str, value: Any, high: float) -> float:
    number = _seconds(value, high)
    if number is None:
        try:
            infinite = not math.isfinite(float(value))  # nan, inf, 1e400
        except (TypeError, ValueError):
            infinite = False  # not a number at all
        tail = ", which is not a finite number" if infinite else ""
        raise SandboxUsageError(
            f"{name}: expected a number of seconds from 0 to {high:g}; got {_given(value)}{tail}"
        )
    return number


def _rate(text: str) -> tuple[int, float] | None:
    """``N/SECONDS`` (``N`` alone is per second) or ``off`` (None); ValueError otherwise."""
    if text.strip().lower() == "off":
        return None
    count_text, _, window_text = text.strip().partition("/")
    count = _whole(count_text, 1, MAX_RATE_COUNT)
    window = _seconds(
        window_text.strip().removesuffix("s") or "1", MAX_RATE_WINDOW, above_zero=True
    )
    if count is None or window is None:
        raise ValueError(
            f"expected N/SECONDS, N requests (a whole number from 1 to {MAX_RATE_COUNT}) per "
            f"SECONDS (more than 0 and at most {MAX_RATE_WINDOW:g}), e.g. 180/180, or 'off'; "
            f"got {text!r}"
        )
    return count, window


def _rate_limits(value: Any) -> tuple[bool, tuple[int, float] | None]:
    if value is None or value is False:
        return False, None
    if value is True or value == "":  # a bare flag (or an older parser's store_true)
        return True, None
    try:
        limit = _rate(str(value))
    except ValueError as exc:
        raise SandboxUsageError(
            f"bad --rate-limits {value!r}: {exc}; or no value for the generation's defaults"
        ) from None
    return limit is not None, limit


def _scopes(value: Any, chosen: profiles.Profile) -> tuple[str, ...] | None:
    """``--scopes a,b``: the grant of the printed nap_ token, checked as the console does."""
    if value is None:
        return None
    if not chosen.access_tokens:
        raise SandboxUsageError(
            f"--scopes is for --profile new-api-2026-10 (the generation with scoped access "
            f"tokens), not {chosen.name}"
        )
    from provisioner.sandbox.access import check_scopes

    try:
        return check_scopes(str(value).split(","))
    except ValueError as exc:
        raise SandboxUsageError(f"--scopes: {exc}") from None


def _channels(value: Any) -> tuple[str, ...]:
    if value is None:
        return MODELS
    text = str(value).strip()
    if text.lower() in ("", "none"):
        return ()
    return tuple(dict.fromkeys(m.strip() for m in text.split(",") if m.strip()))
