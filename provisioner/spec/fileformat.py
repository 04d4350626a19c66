"""The model of the FILE ``tokens.yaml``: the one source of truth for its shape.

``schema/tokens.schema.json`` is generated from these classes
(``python -m provisioner.spec.schema --write``) and the loader takes its key
sets from them, so the schema, the loader and the docs cannot drift apart.
Field names are exactly those of docs/spec.md. The loader (``loader.py``) adds what a
schema cannot say: byte lengths, uniqueness after ``count``, dates in the past,
host bits in a CIDR, and so on.

Each class is a block of the file as written: ``ServerBlock`` is ``server:``,
``TokenEntry`` an item of ``tokens:``. What the rest of the tool uses is the desired
state the loader builds from them (:mod:`provisioner.spec.desired`: ``Spec``,
``DesiredToken``, ``Manage``, ``Safety``); the schema names its ``$defs`` by the
file's words (``Token``, ``Safety``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from provisioner.observed import DEFAULT_TOKEN_CAP
from provisioner.spec import fields

_STRICT = ConfigDict(extra="forbid", strict=True, regex_engine="python-re")
# Top-level keys that start with this are the user's own (anchors to reuse with `<<: *base`,
# notes), ignored as Docker Compose ignores them (docs/spec.md#yaml-rules).
EXTENSION_PREFIX = "x-"

Duration = Annotated[str, Field(pattern=fields.DURATION_PATTERN, examples=["1h", "7d"])]
PositiveDuration = Annotated[
    str, Field(pattern=fields.POSITIVE_DURATION_PATTERN, examples=["90d", "4w"])
]
Amount = (
    Annotated[
        str,
        Field(
            pattern=fields.AMOUNT_PATTERN,
            description='unlimited, or a USD amount ("10 USD", "$10"; converted with the '
            "server's quota_per_unit at plan time).",
        ),
    ]
    | Annotated[
        int,
        Field(
            ge=1,
            le=fields.MAX_FILE_QUOTA_UNITS,
            description="Raw quota units (500000 = $1 by default); 0 is refused: use "
            "status: disabled.",
        ),
    ]
)


class ServerBlock(BaseModel):
    model_config = ConfigDict(**_STRICT, title="Server")
    url: str | None = Field(
        None,
        pattern=fields.URL_PATTERN,
        title="Server URL",
        description="Base URL of the new-api server. The NEWAPI_URL environment variable "
        "overrides it. Credentials never live in this file.",
        examples=["https://api.example.com"],
    )
    max_tokens: int | None = Field(
        None,
        ge=1,
        title="Token cap",
        description=f"How many tokens the account may hold (default {DEFAULT_TOKEN_CAP}: "
        "new-api's per-user cap since v0.10.8, which the API does not show). validate warns "
        "and plan refuses when the file needs more.",
        examples=[DEFAULT_TOKEN_CAP],
    )


class ManageBlock(BaseModel):
    model_config = ConfigDict(**_STRICT, title="Manage")
    match: list[Annotated[str, Field(pattern=fields.GLOB_PATTERN)]] | None = Field(
        None,
        title="Owned name globs",
        description="fnmatch-style globs: server tokens this file owns besides the names it "
        "declares (and their name-K / name.old-* variants).",
        examples=[["video-*"]],
    )
    orphans: Literal["keep", "disable", "delete"] | None = Field(
        None,
        title="Orphan policy",
        description="What apply does with owned tokens the file does not declare (default keep: "
        "reported only).",
        examples=["keep"],
    )


class SafetyBlock(BaseModel):
    model_config = ConfigDict(**_STRICT, title="Safety")
    max_deletes: int | None = Field(
        None,
        ge=0,
        title="Maximum deletes",
        description="Refuse an apply that deletes more tokens than this (override: --force). "
        "Not set: max(5, 25% of the owned tokens).",
        examples=[5],
    )
    max_disables: int | None = Field(
        None,
        ge=0,
        title="Maximum disables",
        description="Refuse an apply that disables more tokens than this (override: --force). "
        "Not set: max(5, 25% of the owned tokens).",
        examples=[10],
    )
    max_changes_pct: float | int | None = Field(
        None,
        ge=0,
        le=100,
        title="Maximum change percentage",
        description="Refuse when updates+disables+deletes exceed this percentage of the owned "
        "tokens (only checked with 10 or more owned tokens).",
        examples=[30],
    )
    min_idle: Duration | None = Field(
        None,
        title="Minimum idle time",
        description="Refuse to disable or delete a token used more recently than this.",
        examples=["1h"],
    )


class KeysBlock(BaseModel):
    model_config = ConfigDict(**_STRICT, title="Keys")
    to: str | None = Field(
        None,
        pattern=fields.SINK_PATTERN,
        title="Key sink",
        description="Where new keys are delivered: keyring | dotenv:PATH | json:PATH | "
        "exec:CMD ARGS... | stdout. --keys-to overrides it. Required when any token rotates.",
        examples=["keyring", "dotenv:.provisioner/keys.env"],
    )


class RotateBlock(BaseModel):
    model_config = ConfigDict(**_STRICT, title="Rotation policy")
    every: PositiveDuration = Field(
        title="Rotate every",
        description="Rotate when this much time has passed since the token's creation.",
        examples=["90d"],
    )
    overlap: Duration | None = Field(
        None,
        title="Overlap",
        description="How long the old key keeps working after a rotation (shorter than every; "
        "default 1d, or half of every when that is shorter).",
        examples=["7d"],
    )


class TokenSettingsBlock(BaseModel):
    """The fields a token and ``defaults`` share."""

    model_config = ConfigDict(**_STRICT, title="Token settings")
    expires: str | None = Field(
        None,
        pattern=fields.EXPIRES_PATTERN,
        title="Expiry",
        description="never | a duration from the token's creation (12h, 7d, 30d, 90d, 1y) | a "
        "date (midnight UTC) or datetime (UTC unless an offset is given). A date that has "
        "passed is a warning: the token stays expired.",
        examples=["never", "90d", "2027-01-01", "2027-01-01T00:00:00+08:00"],
    )
    quota: Amount | None = Field(
        None,
        title="Quota (budget)",
        description='A total budget (used + remaining): unlimited | "10 USD" | "$10" | raw '
        "quota units (integer).",
        examples=["unlimited", "20 USD", "$10", 5000000],
    )
    group: str | None = Field(
        None,
        pattern=fields.GROUP_PATTERN,
        title="Token group",
        description='Token group (令牌分组); "" = the account\'s own group; auto = automatic '
        "group selection.",
        examples=["default", "auto", ""],
    )
    status: Literal["enabled", "disabled", "absent"] | None = Field(
        None,
        title="Status",
        description="enabled (default) | disabled | absent (apply deletes it).",
        examples=["enabled"],
    )
    auto_groups: list[Annotated[str, Field(pattern=fields.AUTO_GROUP_PATTERN)]] | None = Field(
        None,
        max_length=5,
        json_schema_extra={"uniqueItems": True},
        title="Auto group order",
        description="Only with group: auto. Groups tried in priority order (at most 5, no "
        "duplicates). Omitted = inherit the account's list.",
        examples=[["default", "vip"]],
    )
    cross_group_retry: bool | None = Field(
        None,
        title="Cross-group retry",
        description="Only with group: auto. Retry a failed request in the next auto group.",
        examples=[True],
    )
    models: list[Annotated[str, Field(pattern=fields.MODEL_PATTERN)]] | None = Field(
        None,
        json_schema_extra={"uniqueItems": True},
        title="Model allow-list",
        description="Models this token may call; omitted or [] = all models.",
        examples=[["sora-2", "gpt-4o"]],
    )
    allow_ips: list[Annotated[str, Field(pattern=fields.IP_PATTERN)]] | None = Field(
        None,
        json_schema_extra={"uniqueItems": True},
        title="IP allow-list",
        description="IPv4/IPv6 addresses or CIDR networks (no host bits set); omitted = any IP.",
        examples=[["203.0.113.7", "10.0.0.0/8"]],
    )
    protected: bool | None = Field(
        None,
        title="Protected",
        description="apply refuses to disable or delete this token, or to rotate it other than "
        "on its own rotate.every schedule.",
        examples=[True],
    )
    rotate: RotateBlock | None = Field(
        None,
        title="Rotation",
        description="Rotate the key on a schedule: a new token takes the name, the old one is "
        "renamed NAME.old-YYYYMMDD and expires after the overlap. Needs keys.to.",
        examples=[{"every": "90d", "overlap": "7d"}],
    )


class DefaultsBlock(TokenSettingsBlock):
    model_config = ConfigDict(**_STRICT, title="Defaults")


class TokenEntry(TokenSettingsBlock):
    model_config = ConfigDict(**_STRICT, title="Token")
    name: str = Field(
        pattern=fields.NAME_PATTERN,
        max_length=50,
        title="Name",
        description="The token's exact name on the server: at most 50 bytes of UTF-8 including "
        "a -N count suffix (30 on servers before v0.10.0); no leading or trailing spaces; must "
        "not end in .old-YYYYMMDD (reserved for rotation).",
        examples=["sora-video-api"],
    )
    count: int | None = Field(
        None,
        ge=1,
        le=100,
        title="Count",
        description="How many tokens: name, name-2, ... name-N (default 1).",
        examples=[1, 2],
    )
    renamed_from: str | None = Field(
        None,
        pattern=fields.NAME_PATTERN,
        max_length=50,
        title="Renamed from",
        description="The token's former name (like Terraform's `moved`): a server token of "
        "that name is renamed in place, keeping its key, instead of a new key being minted and "
        "the old token left behind. Remove it once applied. Not with count.",
        examples=["old-name"],
    )
    key_name: str | None = Field(
        None,
        pattern=fields.KEY_NAME_PATTERN,
        title="Key name",
        description="The name the key is delivered under (a valid environment variable name). "
        "Default: derived from the name (sora-video-api -> SORA_VIDEO_API; a name with no "
        "ASCII letter -> TOKEN_ and 8 hex digits of its SHA-256). With count > 1 the extra "
        "tokens get _2, _3, ... suffixes.",
        examples=["STORYBOARD_API_KEY"],
    )


class SpecFile(BaseModel):
    model_config = ConfigDict(
        **_STRICT,
        title="provisioner tokens.yaml",
        json_schema_extra={
            "description": "Tokens as code for new-api-family LLM gateways: the tokens an "
            "account should have. See docs/spec.md.",
            "patternProperties": {
                f"^{EXTENSION_PREFIX}": {
                    "description": "Ignored: the user's own (e.g. anchors to merge into "
                    "tokens with <<: *base), as in Docker Compose."
                }
            },
        },
    )
    version: Literal[1] = Field(
        title="Format version",
        description="Always 1. A newer version needs a newer provisioner.",
        examples=[1],
    )
    server: ServerBlock | None = Field(None, title="Server", description="Where the tokens live.")
    manage: ManageBlock | None = Field(
        None,
        title="Ownership",
        description="Which server tokens this file owns and what "
        "happens to owned tokens it does not declare.",
    )
    safety: SafetyBlock | None = Field(
        None,
        title="Safety thresholds",
        description="Limits that make apply refuse (exit 4) unless --force is given.",
    )
    keys: KeysBlock | None = Field(None, title="Keys", description="Where new keys are delivered.")
    defaults: DefaultsBlock | None = Field(
        None,
        title="Defaults",
        description="Any token field except name, count, key_name and renamed_from; a token's "
        "own value wins.",
    )
    tokens: list[TokenEntry] = Field(
        title="Tokens",
        description="The tokens this account should have.",
    )


def keys_of(model: type[BaseModel]) -> tuple[str, ...]:
    """The allowed keys of a mapping, in declaration order."""
    return tuple(model.model_fields)


REQUIRED = {
    SpecFile: tuple(n for n, fi in SpecFile.model_fields.items() if fi.is_required()),
    TokenEntry: tuple(n for n, fi in TokenEntry.model_fields.items() if fi.is_required()),
    RotateBlock: tuple(n for n, fi in RotateBlock.model_fields.items() if fi.is_required()),
}
