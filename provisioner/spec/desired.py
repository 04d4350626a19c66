"""The desired state, as the rest of the tool sees it.

The spec loader (``provisioner.spec.load_spec``) turns ``tokens.yaml`` into a
:class:`Spec` whose ``tokens`` are already expanded (``count``), merged with
``defaults`` and fully validated. Everything after loading (diff, apply,
export, list) uses only these types.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Literal

from provisioner.spec.diagnostics import Diagnostic

# How long a rotated-out key keeps working when neither rotate.overlap nor
# --overlap says (a declared rotate.every shorter than 2 days gets half of it).
DEFAULT_ROTATE_OVERLAP = 86400
# The longest overlap `provisioner rotate --overlap` may give a token whose file declares
# no rotate.overlap; it bounds that token's NAME.old-YYYYMMDD (docs/reconcile.md#leftovers).
MAX_MANUAL_OVERLAP = 7 * 86400

OrphanPolicy = Literal["keep", "disable", "delete"]
DesiredStatus = Literal["enabled", "disabled", "absent"]


@dataclass(frozen=True)
class Location:
    file: str
    line: int  # 1-based
    col: int  # 1-based

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Expiry:
    """``never`` | a duration from the token's creation | an absolute instant."""

    kind: Literal["never", "relative", "absolute"]
    seconds: int = 0  # relative: duration in seconds
    at: int = 0  # absolute: unix seconds (UTC)

    @classmethod
    def never(cls) -> Expiry:
        return cls("never")

    def expired_time(self, created_time: int) -> int:
        """The server value (-1 = never) for a token created at ``created_time``.

        docs/server-contract.md#token-record. A date at or before the epoch never
        becomes 0 or -1, which mean "never": see :func:`server_instant`.
        """
        if self.kind == "never":
            return -1
        if self.kind == "relative":
            return server_instant(created_time + self.seconds)
        return server_instant(self.at)


# The earliest expired_time the tool ever sends: one second after the epoch.
EARLIEST_EXPIRY = 1


def server_instant(epoch: int) -> int:
    """An instant as the server's ``expired_time``, never read as "never".

    -1 means never, and a create with 0 stores -1 (docs/server-contract.md#creating-a-token),
    so an instant at or before the epoch (``expires: "1970-01-01"``, a date before 1970)
    is sent as 1: a token that has already expired.
    """
    return max(epoch, EARLIEST_EXPIRY)


@dataclass(frozen=True)
class Budget:
    """``unlimited`` | an amount in USD | raw quota units (docs/server-contract.md#quota-units)."""

    unlimited: bool
    units: int | None = None
    usd: Decimal | None = None

    @classmethod
    def unlimited_budget(cls) -> Budget:
        return cls(True)

    def resolve(self, quota_per_unit: int) -> int | None:
        """Quota units, or None for unlimited. USD rounds like the web UI: round(usd * qpu)."""
        if self.unlimited:
            return None
        if self.units is not None:
            return self.units
        assert self.usd is not None
        return int((self.usd * quota_per_unit).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


@dataclass(frozen=True)
class RotatePolicy:
    every: int  # seconds
    overlap: int = 0  # seconds


@dataclass(frozen=True)
class DesiredToken:
    name: str  # final name after count expansion
    base_name: str  # the declared name
    index: int  # 1..count
    count: int
    status: DesiredStatus = "enabled"
    # the file wrote `count` (any value, 1 included): the token owns its copies NAME-2, ...
    # in an unbroken run from 2 (docs/reconcile.md#identity-and-ownership)
    counted: bool = False
    expires: Expiry = field(default_factory=Expiry.never)
    quota: Budget = field(default_factory=Budget.unlimited_budget)
    group: str = ""
    auto_groups: tuple[str, ...] | None = None  # None = inherit the global list / not managed
    cross_group_retry: bool = False
    models: tuple[str, ...] = ()  # () = all models
    allow_ips: tuple[str, ...] = ()
    protected: bool = False
    rotate: RotatePolicy | None = None
    key_name: str = ""
    renamed_from: str | None = None  # the server name to rename in place (docs/spec.md)
    location: Location | None = None


@dataclass(frozen=True)
class Manage:
    match: tuple[str, ...] = ()
    orphans: OrphanPolicy = "keep"


# Safe by default (docs/reconcile.md#safety): a limit the file leaves unset refuses an
# apply that deletes (or disables) more than max(DEFAULT_LIMIT_FLOOR, DEFAULT_LIMIT_PCT%
# of the owned tokens).
DEFAULT_LIMIT_FLOOR = 5
DEFAULT_LIMIT_PCT = 25


def default_limit(owned: int) -> int:
    """The default ``max_deletes`` / ``max_disables`` for ``owned`` tokens: max(5, 25%)."""
    return max(DEFAULT_LIMIT_FLOOR, owned * DEFAULT_LIMIT_PCT // 100)


@dataclass(frozen=True)
class Safety:
    """The file's ``safety`` block. ``None``: not set (``max_deletes`` and
    ``max_disables`` then get :func:`default_limit`; the others are off)."""

    max_deletes: int | None = None
    max_disables: int | None = None
    max_changes_pct: float | None = None
    min_idle: int | None = None  # seconds


@dataclass(frozen=True)
class Spec:
    path: str
    digest: str  # sha256 hex of the file bytes
    version: int = 1
    server_url: str | None = None
    manage: Manage = field(default_factory=Manage)
    safety: Safety = field(default_factory=Safety)
    keys_to: str | None = None
    tokens: tuple[DesiredToken, ...] = ()
    warnings: tuple[str, ...] = ()  # already located: "FILE:LINE:COL: message"
    warning_diagnostics: tuple[Diagnostic, ...] = ()  # the same warnings, structured
    declared_count: int = 0  # tokens as written, before count expansion
    max_tokens: int | None = None  # server.max_tokens: the account's token cap, when set

    def by_name(self) -> dict[str, DesiredToken]:
        return {t.name: t for t in self.tokens}


_KEY_NAME_BAD = re.compile(r"[^A-Z0-9_]")


def derive_key_name(name: str) -> str:
    """Default key name (docs/spec.md#token-fields), always a valid environment variable name.

    ``sora-video-api`` -> ``SORA_VIDEO_API``; ``2024-report`` -> ``T_2024_REPORT``; a
    name with no ASCII letter (``视频生成接口``, ``2024``) -> ``TOKEN_`` and the first 8
    hex digits of the name's SHA-256, so such names do not all become ``TOKEN``.
    """
    candidate = _KEY_NAME_BAD.sub("_", name.upper())
    candidate = re.sub(r"_+", "_", candidate).strip("_")
    if not re.search(r"[A-Z]", candidate):
        return "TOKEN_" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:8].upper()
    if candidate[0].isdigit():
        candidate = "T_" + candidate
    return candidate


def count_key_name(base_key_name: str, index: int) -> str:
    """The key name of copy ``index`` of a ``count``: ``CI_KEY``, ``CI_KEY_2``, ..."""
    return base_key_name if index == 1 else f"{base_key_name}_{index}"


def expand_name(base: str, index: int) -> str:
    """``count`` naming (docs/spec.md#the-spec-file-tokensyaml): name, name-2, ... name-N."""
    return base if index == 1 else f"{base}-{index}"
