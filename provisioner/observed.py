"""What the server holds and can do, as the core sees it (docs/server-contract.md#token-record).

The observed token never holds a full key: ``key`` is always masked on the
way in (older servers send full keys; the client keeps those, if it needs
them, as :class:`~provisioner.secret.Secret`). Records arrive here already in
the canonical field names: the client maps one-api's ``models``/``subnet``.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

QUOTA_PER_UNIT_DEFAULT = 500_000  # quota units per USD unless /api/status says otherwise
# The largest remain_quota current new-api accepts (docs/server-contract.md).
MAX_QUOTA_UNITS = 2_147_483_647
MAX_NAME_BYTES = 50  # token names, in bytes (30 on older servers: docs/server-contract.md)
OLD_SERVER_NAME_BYTES = 30
# Tokens one user may hold: new-api's MaxUserTokens default since v0.10.8; not readable
# through the API (docs/server-contract.md#limits). A file's server.max_tokens overrides it.
DEFAULT_TOKEN_CAP = 1000


class TokenStatus(IntEnum):
    ENABLED = 1
    DISABLED = 2
    EXPIRED = 3
    EXHAUSTED = 4


def server_mask(key: str) -> str:
    """The server's own masking: first 4 + 10 stars + last 4.

    docs/server-contract.md#token-record
    """
    if "*" in key:
        return key
    if len(key) <= 4:
        return "*" * len(key)
    if len(key) <= 8:
        return key[:2] + "****" + key[-2:]
    return key[:4] + "*" * 10 + key[-4:]


def split_models(text: str) -> tuple[str, ...]:
    """``model_limits`` is comma-separated: its entries, trimmed, blanks dropped."""
    return tuple(m.strip() for m in text.split(",") if m.strip())


def split_ips(text: str | None) -> tuple[str, ...]:
    """``allow_ips`` is newline-separated; null means none: its entries, trimmed, blanks
    dropped.

    docs/server-contract.md#token-record
    """
    return tuple(line.strip() for line in (text or "").splitlines() if line.strip())


# Fields a full-mode PUT must not carry back: read-only or managed elsewhere.
READ_ONLY_FIELDS = frozenset(
    {"key", "status", "user_id", "created_time", "accessed_time", "used_quota", "DeletedAt"}
)


class ObservedToken(BaseModel):
    """A token as observed on the server.

    Fields the tool does not know (forks add some) are kept, so that an update,
    which replaces the whole record (docs/server-contract.md#updating-a-token),
    writes them back unchanged.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    id: int
    user_id: int = 0
    key: str = ""  # always masked here
    status: int = 1
    name: str = ""
    created_time: int = 0
    accessed_time: int = 0
    expired_time: int = -1
    remain_quota: int = 0
    unlimited_quota: bool = False
    model_limits_enabled: bool = False
    model_limits: str = ""
    allow_ips: str | None = ""
    used_quota: int = 0
    group: str = ""
    cross_group_retry: bool = False
    auto_groups: list[str] | None = None

    @field_validator("key", mode="before")
    @classmethod
    def _mask_key(cls, value: object) -> str:
        return server_mask(str(value or ""))

    @field_validator("model_limits", "group", "name", mode="before")
    @classmethod
    def _none_is_empty(cls, value: object) -> object:
        return "" if value is None else value

    # -- derived views (one place each) --

    @property
    def models(self) -> tuple[str, ...]:
        """The model allow-list, or () when the list does not apply."""
        if not self.model_limits_enabled:
            return ()
        return split_models(self.model_limits)

    @property
    def ips(self) -> tuple[str, ...]:
        """The ``allow_ips`` entries (:func:`split_ips`)."""
        return split_ips(self.allow_ips)

    @property
    def budget(self) -> int:
        """Total budget = used + remaining (docs/reconcile.md)."""
        return self.used_quota + self.remain_quota

    @property
    def last_used(self) -> int:
        """``accessed_time`` when the token was used since creation, else 0.

        A new token's ``accessed_time`` equals its ``created_time``
        (docs/server-contract.md#token-record).
        """
        return self.accessed_time if self.accessed_time > self.created_time else 0

    @property
    def display_key(self) -> str:
        """The key as the product prints it: ``sk-abcd...wxyz`` (docs/commands.md#commands)."""
        if not self.key:
            return ""
        head, _, tail = self.key.partition("*")
        tail = tail.strip("*")
        if len(head) >= 4 and len(tail) >= 4:
            return f"sk-{head}...{tail}"
        return "sk-" + self.key

    def effective_status(self, now: int) -> TokenStatus | int:
        """Status computed client-side: a listed 1 can be dead.

        docs/server-contract.md#lazy-status
        """
        if self.status == TokenStatus.ENABLED:
            if self.expired_time != -1 and self.expired_time < now:
                return TokenStatus.EXPIRED
            if not self.unlimited_quota and self.remain_quota <= 0:
                return TokenStatus.EXHAUSTED
        return self.status

    def write_fields(self) -> dict[str, object]:
        """The fields a full-mode PUT carries: never key, never status.

        Server fields the tool does not manage come first, as they were read.
        """
        body: dict[str, object] = {
            name: value
            for name, value in (self.model_extra or {}).items()
            if name not in READ_ONLY_FIELDS
        }
        body |= {
            "id": self.id,
            "name": self.name,
            "expired_time": self.expired_time,
            "remain_quota": self.remain_quota,
            "unlimited_quota": self.unlimited_quota,
            "model_limits_enabled": self.model_limits_enabled,
            "model_limits": self.model_limits,
            "allow_ips": self.allow_ips or "",
            "group": self.group,
            "cross_group_retry": self.cross_group_retry,
        }
        if self.group == "auto":
            body["auto_groups"] = list(self.auto_groups) if self.auto_groups else []
        return body


Known = bool | None  # None: not learned yet (an empty account shows no record to look at)


class ServerInfo(BaseModel):
    """What the probes learned about the server (docs/server-contract.md#probing).

    Capabilities come from evidence (the records' fields, routes that answer or
    404, the auth failures' shape, the ``Auth-Version`` header), never from the
    version string: self-built servers report ``v0.0.0``.
    """

    model_config = ConfigDict(frozen=True)

    url: str
    version: str = ""
    quota_per_unit: int = QUOTA_PER_UNIT_DEFAULT
    quota_display_type: str = "USD"
    # bearer: 2026-07-20+ (New-Api-User ignored); header: needs New-Api-User;
    # access-token: one-api (no user header); unknown: the user id was sent, so either.
    auth: Literal["bearer", "header", "access-token", "unknown"] = "unknown"
    list_shape: Literal["page", "array"] = "page"
    keys_masked: Known = None
    reveal: Known = None  # POST /api/token/:id/key and /batch/keys exist
    batch_delete: Known = None  # POST /api/token/batch exists
    groups_route: Known = None  # GET /api/user/self/groups exists
    auto_groups: Known = None  # the auto_groups field and GET /api/token/auto-groups
    cross_group_retry: Known = None  # the cross_group_retry field
    group_field: Known = None  # the token group (one-api has none)
    oneapi_fields: bool = False  # models/subnet instead of model_limits/allow_ips
    name_max_bytes: int | None = None
    token_cap: Known = None  # a per-user token cap (MaxUserTokens) exists
    user_id: int | None = None
    username: str = ""
    user_group: str = ""
    fingerprint: str = Field(default="", description="Auth-Version header, when present")

    @property
    def generation(self) -> str:
        """A short description of the generation, from the capabilities (for people)."""
        if self.oneapi_fields:
            return "one-api"
        if self.auto_groups:
            return "new-api 2026-08 or later"
        if self.keys_masked:
            return "new-api 2026-03 to 2026-07"
        if self.list_shape == "array":
            return "new-api before 2025-06"
        if self.cross_group_retry is False:
            return "new-api 2025-06 to 2025-12"
        if self.keys_masked is False:
            return "new-api 2025-12 to 2026-03"
        return "new-api"


class User(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: int
    username: str = ""
    display_name: str = ""
    role: int = 0
    status: int = 1
    group: str = ""
    quota: int = 0
    used_quota: int = 0
