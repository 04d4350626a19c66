"""Server generations the sandbox answers as, one frozen :class:`Profile` each.

Four are modelled on recordings of real servers (tests/conformance/recordings/,
provenance in tests/conformance/README.md); ``new-api-2025-05`` is the page-less
generation before v0.8.4.0, which the deprecated ``list_shape="array"`` picks;
``new-api-2026-10`` (v1.0.0-rc.41 and later, scoped ``nap_`` access tokens) is read
from the servers' source, not recorded. Each generation is written as the changes
from the one before it.
docs/sandbox.md#profiles has the table people read; docs/server-contract.md#sandbox
says what each switch stands for on a real server.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

# The models the newcomer sandbox's channels serve (the recordings had no channel).
MODELS = ("gpt-4o-mini", "gpt-4o", "claude-3-5-haiku", "claude-3-5-sonnet", "deepseek-chat")


AuthGeneration = Literal["one-api", "legacy-header", "bearer"]
ListDialect = Literal["one-api", "array", "page"]
SearchDialect = Literal["prefix", "substring", "exact"]

DEFAULT = "new-api-2026-08"
RECORDED = ("one-api-2025-02", "new-api-2025-10", "new-api-2026-07", "new-api-2026-08")
# What `provisioner sandbox --profile` offers: the recorded ones, and the newest generation,
# read from source (new-api-2025-05 is reached only through the deprecated --list-shape).
SELECTABLE = (*RECORDED, "new-api-2026-10")


def _names(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# /api/status and /api/user/self field sets, as each recorded server answered them.
_ONE_API_STATUS = _names(
    "chat_link display_in_currency email_verification footer_html github_client_id "
    "github_oauth lark_client_id logo oidc oidc_authorization_endpoint oidc_client_id "
    "oidc_token_endpoint oidc_userinfo_endpoint oidc_well_known quota_per_unit "
    "server_address start_time system_name top_up_link turnstile_check turnstile_site_key "
    "version wechat_login wechat_qrcode"
)
_NEW_API_2025_STATUS = _names(
    "HeaderNavModules SidebarModulesAdmin announcements announcements_enabled api_info "
    "api_info_enabled chats custom_currency_exchange_rate custom_currency_symbol "
    "data_export_default_time default_collapse_sidebar default_use_auto_group "
    "demo_site_enabled display_in_currency docs_link email_verification "
    "enable_batch_update enable_data_export enable_drawing enable_task faq faq_enabled "
    "footer_html github_client_id github_oauth linuxdo_client_id "
    "linuxdo_minimum_trust_level linuxdo_oauth logo mj_notify_enabled "
    "oidc_authorization_endpoint oidc_client_id oidc_enabled passkey_allow_insecure "
    "passkey_attachment passkey_display_name passkey_login passkey_origins passkey_rp_id "
    "passkey_user_verification price privacy_policy_enabled quota_display_type "
    "quota_per_unit self_use_mode_enabled server_address setup start_time "
    "stripe_unit_price system_name telegram_bot_name telegram_oauth top_up_link "
    "turnstile_check turnstile_site_key uptime_kuma_enabled usd_exchange_rate "
    "user_agreement_enabled version wechat_login wechat_qrcode"
)
_NEW_API_2026_07_STATUS = sorted(
    (
        {*_NEW_API_2025_STATUS, "checkin_enabled", "discord_client_id", "discord_oauth"}
        | {"password_login_enabled", "password_register_enabled", "register_enabled", "theme"}
    )
    - {"top_up_link"}
)
_NEW_API_2026_08_STATUS = sorted(
    {*_NEW_API_2026_07_STATUS, "group_monitor_enabled", "oidc_display_name"}
)
_ONE_API_USER = _names(
    "access_token aff_code display_name email github_id group id inviter_id lark_id "
    "oidc_id password quota request_count role status used_quota username "
    "verification_code wechat_id"
)
_NEW_API_2025_USER = _names(
    "aff_code aff_count aff_history_quota aff_quota display_name email github_id group id "
    "inviter_id linux_do_id oidc_id permissions quota request_count role setting "
    "sidebar_modules status stripe_customer telegram_id used_quota username wechat_id"
)
_NEW_API_2026_USER = sorted({*_NEW_API_2025_USER, "discord_id"})

CRITICAL_LIMIT = (20, 1200.0)  # reveal routes, per client IP, one shared counter
SEARCH_LIMIT = (10, 60.0)  # GET /api/token/search per user, exact-search servers only


@dataclass(frozen=True)
class Profile:
    """What one server generation does, as switches the sandbox reads."""

    name: str
    server: str  # what it models: the build that was recorded, or the era
    recorded: bool
    version: str  # /api/status data.version: the release line, -sandbox, the recorded commit
    # -- the dashboard API --
    auth: AuthGeneration
    list_dialect: ListDialect
    search: SearchDialect
    masked_keys: bool
    reveal_routes: bool  # POST /api/token/:id/key and /batch/keys
    batch_delete: bool  # POST /api/token/batch
    user_groups_route: bool  # GET /api/user/self/groups
    auto_groups: bool  # GET /api/token/auto-groups and the auto_groups field
    cross_group_retry: bool
    one_api_fields: bool  # models/subnet; no group, DeletedAt, model_limits*, allow_ips
    create_returns_token: bool  # one-api answers the created token, full key included
    hard_delete: bool  # one-api: rows go, and ids come from max(id)+1, so they come back
    name_max_bytes: int
    i18n: bool  # English by default, Accept-Language zh; otherwise every message is Chinese
    quota_checks: bool  # remain_quota >= 0 and <= max_quota when limited
    max_quota: int
    max_user_tokens: int | None  # the per-user token cap, None: no cap
    auth_version_header: bool
    status_fields: tuple[str, ...]
    user_fields: tuple[str, ...]
    # -- rate limits (off unless asked for) --
    global_limit: tuple[int, float]  # every /api/* request, per client IP
    retry_after: bool  # 429 answers carry Retry-After
    # -- the relay side --
    relay_reasons: bool  # a refused key is told why; otherwise "Invalid token"
    ip_cidr: bool  # allow_ips entries may be CIDR blocks, not only addresses
    ip_denied_code: str  # error.code of the 403 for an address outside allow_ips
    limited_models_need_channel: bool  # a model limit lists only models a channel serves
    unserved_owner: str | None  # owned_by of a listed model no channel serves; None: vendor
    charges_unlimited: bool  # relay spending lowers remain_quota of unlimited tokens too
    recorded_with_redis: bool  # the recorded server ran Redis: relay auth wrote no statuses
    # -- v1.0.0-rc.41 and later (docs/server-contract.md#management-credentials) --
    # scoped nap_ personal access tokens, a route -> scope map, the legacy access token
    # retired 30 days after the first start, /api/user/token gone (access.py)
    access_tokens: bool = False
    audit_log: bool = False  # token changes and reveals in GET /api/audit/self

    @property
    def search_limited(self) -> bool:
        return self.search == "exact"

    @property
    def family(self) -> str:
        return "one-api" if self.one_api_fields else "new-api"


# Each generation is written as what changed from the one before it, so that this file
# reads as the history the servers went through (docs/server-contract.md#version-history).

ONE_API_2025_02 = Profile(
    name="one-api-2025-02",
    server="one-api 8df4a26 (2025-02-21)",
    recorded=True,
    version="v0.0.0-sandbox+8df4a26",
    auth="one-api",  # the access token, `Bearer ` optional; no New-Api-User
    list_dialect="one-api",  # bare arrays from p=0, 10 rows whatever the size
    search="prefix",
    masked_keys=False,
    reveal_routes=False,
    batch_delete=False,
    user_groups_route=False,
    auto_groups=False,
    cross_group_retry=False,
    one_api_fields=True,
    create_returns_token=True,
    hard_delete=True,
    name_max_bytes=30,
    i18n=False,
    quota_checks=False,
    max_quota=0,
    max_user_tokens=None,
    auth_version_header=False,
    status_fields=_ONE_API_STATUS,
    user_fields=_ONE_API_USER,
    global_limit=(480, 180.0),
    retry_after=False,
    relay_reasons=True,
    ip_cidr=True,  # subnet holds networks only
    ip_denied_code="",
    limited_models_need_channel=False,
    unserved_owner=None,
    charges_unlimited=False,
    recorded_with_redis=False,
)

# new-api before v0.8.4.0: another code base than one-api, so the list of changes is long.
NEW_API_2025_05 = replace(
    ONE_API_2025_02,
    name="new-api-2025-05",
    server="new-api before v0.8.4.0 (not recorded)",
    recorded=False,
    version="v0.8.3-sandbox",
    auth="legacy-header",  # New-Api-User required since v0.4.6.1 (2025-01-05)
    list_dialect="array",  # bare arrays, p from 0, size honoured
    search="substring",
    user_groups_route=True,
    one_api_fields=False,  # model_limits*, allow_ips, group, DeletedAt
    create_returns_token=False,  # create answers nothing: the client re-lists
    hard_delete=False,  # GORM soft delete: ids never come back
    status_fields=_NEW_API_2025_STATUS,
    user_fields=_NEW_API_2025_USER,
    global_limit=(180, 180.0),
    ip_cidr=False,  # allow_ips matches addresses literally
    charges_unlimited=True,
)

NEW_API_2025_10 = replace(
    NEW_API_2025_05,
    name="new-api-2025-10",
    server="new-api 5125606 (2025-10-25)",
    recorded=True,
    version="v0.9.0-sandbox+5125606",
    list_dialect="page",  # page objects, p from 1 (v0.8.4.0, 2025-06-12)
    batch_delete=True,  # POST /api/token/batch (v0.8.6.2, 2025-06-22)
)

NEW_API_2026_07 = replace(
    NEW_API_2025_10,
    name="new-api-2026-07",
    server="new-api 5a6c53d (2026-07-18)",
    version="v1.0.0-sandbox+5a6c53d",
    name_max_bytes=50,  # v0.10.0 (2025-12-04)
    cross_group_retry=True,  # v0.10.1 (2025-12-12)
    ip_cidr=True,  # v0.10.1 (2025-12-15)
    quota_checks=True,  # v0.10.5 (2025-12-29): 0 <= remain_quota <= 1e9 x QuotaPerUnit
    max_quota=1_000_000_000 * 500_000,
    search="exact",  # v0.10.8 (2026-02-06): exact or `%` patterns, paged, rate limited
    i18n=True,  # v0.10.8: English by default
    max_user_tokens=1000,  # v0.10.8: MaxUserTokens
    auth_version_header=True,  # v0.10.9 (2026-02-12)
    masked_keys=True,  # v0.11.4 (2026-03-08), with POST /:id/key; /batch/keys 2026-04-06
    reveal_routes=True,
    global_limit=(360, 180.0),  # 2026-06-10
    status_fields=tuple(_NEW_API_2026_07_STATUS),
    user_fields=tuple(_NEW_API_2026_USER),
    relay_reasons=False,  # the relay says only "Invalid token"
    ip_denied_code="access_denied",
    unserved_owner="advanced_custom",
)

NEW_API_2026_08 = replace(
    NEW_API_2026_07,
    name="new-api-2026-08",
    server="new-api fork 4eec0ce (2026-08-22), recorded with Redis on",
    version="v1.0.0-sandbox+4eec0ce",
    auth="bearer",  # 2026-07-20 (#6329): stateless tokens, coded 401s, New-Api-User ignored
    retry_after=True,  # 2026-07-21: 429 carries Retry-After
    auto_groups=True,  # 2026-08-01: the auto_groups field and GET /api/token/auto-groups
    max_quota=2147483647,  # 2026-08-10
    status_fields=tuple(_NEW_API_2026_08_STATUS),
    limited_models_need_channel=True,
    unserved_owner=None,
    recorded_with_redis=True,  # the recording's server ran Redis: no lazy status flips
)

# Read from source, not recorded (tests/conformance/README.md names the files).
NEW_API_2026_10 = replace(
    NEW_API_2026_08,
    name="new-api-2026-10",
    server="new-api v1.0.0-rc.41 and later (2026-09-30 on), read from source, not recorded",
    recorded=False,
    version="v1.0.0-rc.41-sandbox",
    access_tokens=True,  # nap_ tokens with scopes; the legacy token retires after 30 days
    audit_log=True,  # every token change and reveal in the user's audit log
    recorded_with_redis=False,  # not recorded: Redis is --redis, as on any profile
)

PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        ONE_API_2025_02,
        NEW_API_2025_05,
        NEW_API_2025_10,
        NEW_API_2026_07,
        NEW_API_2026_08,
        NEW_API_2026_10,
    )
}

# The deprecated switches, each pair mapped to the generation that had it.
_ALIASES: dict[tuple[str, str], str] = {
    ("bearer", "page"): "new-api-2026-08",
    ("legacy", "page"): "new-api-2026-07",
    ("legacy", "array"): "new-api-2025-05",
    ("bearer", "array"): "new-api-2025-05",  # no bearer-era server lists a bare array
}


def get(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        known = ", ".join(PROFILES)
        raise ValueError(f"unknown sandbox profile {name!r}; known: {known}") from None


def resolve(
    profile: str | Profile | None = None,
    *,
    auth: str | None = None,
    list_shape: str | None = None,
) -> Profile:
    """The profile named, or the one the deprecated ``auth``/``list_shape`` switches pick."""
    if auth is not None and auth not in ("bearer", "legacy"):
        raise ValueError(f"auth must be 'bearer' or 'legacy', not {auth!r}")
    if list_shape is not None and list_shape not in ("page", "array"):
        raise ValueError(f"list_shape must be 'page' or 'array', not {list_shape!r}")
    if profile is not None:
        if auth is not None or list_shape is not None:
            raise ValueError("give either profile= or the deprecated auth=/list_shape=, not both")
        return profile if isinstance(profile, Profile) else get(profile)
    if auth is None and list_shape is None:
        return PROFILES[DEFAULT]
    return PROFILES[_ALIASES[(auth or "bearer", list_shape or "page")]]
