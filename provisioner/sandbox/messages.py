"""Server messages in English and Chinese (docs/server-contract.md#messages-and-language).

Some messages are hard-coded Chinese in every upstream version; those are
plain constants, not entries of :data:`MESSAGES`.
"""

from __future__ import annotations

from typing import Literal

Lang = Literal["en", "zh"]

MESSAGES: dict[str, tuple[str, str]] = {
    # key: (en, zh)
    "token.name_too_long": ("Token name is too long", "令牌名称过长"),
    "token.quota_negative": ("Quota value cannot be negative", "额度值不能为负数"),
    "token.quota_exceed_max": (
        "Quota value exceeds valid range, maximum is {max}",
        "额度值超出有效范围，最大值为 {max}",
    ),
    "token.generate_failed": ("Failed to generate token", "生成令牌失败"),
    "token.expired_cannot_enable": (
        "Token has expired and cannot be enabled. Please modify the expiration time "
        "or set it to never expire",
        "令牌已过期，无法启用，请先修改令牌过期时间，或者设置为永不过期",
    ),
    "token.exhausted_cannot_enable": (
        "Token quota is exhausted and cannot be enabled. Please modify the remaining quota "
        "or set it to unlimited",
        "令牌可用额度已用尽，无法启用，请先修改令牌剩余额度，或者设置为无限额度",
    ),
    "token.auto_groups_too_many": (
        "A token can select at most {max} Auto groups",
        "每个令牌最多可选择 {max} 个 Auto 分组",
    ),
    "token.auto_groups_duplicate": (
        "Auto group {group} is duplicated",
        "Auto 分组 {group} 重复",
    ),
    "token.auto_groups_invalid": (
        "Auto group {group} is unavailable or unauthorized",
        "Auto 分组 {group} 不可用或无权访问",
    ),
    "common.invalid_params": ("Invalid parameters", "无效的参数"),
    "common.batch_too_many": (
        "Too many items in batch request, maximum is {max}",
        "批量请求数量过多，最多 {max} 条",
    ),
    "auth.not_logged_in": (
        "Unauthorized, not logged in and no access token provided",
        "无权进行此操作，未登录且未提供 access token",
    ),
    "auth.access_token_invalid": (
        "Unauthorized, invalid access token",
        "无权进行此操作，access token 无效",
    ),
    "auth.user_id_not_provided": (
        "Unauthorized, New-Api-User header not provided",
        "无权进行此操作，未提供 New-Api-User",
    ),
    "auth.user_id_format_error": (
        "Unauthorized, New-Api-User header format error",
        "无权进行此操作，New-Api-User 格式错误",
    ),
    "auth.user_id_mismatch": (
        "Unauthorized, New-Api-User does not match logged in user",
        "无权进行此操作，New-Api-User 与登录用户不匹配",
    ),
    "auth.user_banned": ("User has been banned", "用户已被封禁"),
    # v1.0.0-rc.41 and later (i18n keys MsgAuthAccessTokenExpired, ...LegacyTokenRetired,
    # ...AccessTokenScope, ...InsufficientPrivilege): their wording was not found in the
    # source read; these are the sandbox's, and clients decide on the `code`, not the text
    "auth.access_token_expired": ("Access token has expired", "访问令牌已过期"),
    "auth.legacy_token_retired": (
        "Legacy access token has been retired, please create a new access token",
        "旧版访问令牌已停用，请创建新的访问令牌",
    ),
    "auth.access_token_scope": (
        "Access token does not have the {scope} permission",
        "访问令牌缺少 {scope} 权限",
    ),
    "auth.insufficient_privilege": (
        "Unauthorized, insufficient privileges",
        "无权进行此操作，权限不足",
    ),
    # relay (/v1), servers with i18n messages
    "relay.invalid_token": ("Invalid token", "无效的令牌"),
    "relay.no_channel": (
        "No available channel for model {model} under group {group} (distributor)",
        "分组 {group} 下模型 {model} 无可用渠道（distributor）",
    ),
}

# Hard-coded Chinese in every version (docs/server-contract.md#messages-and-language).
ID_EMPTY = "id 或 userId 为空！"
RECORD_NOT_FOUND = "record not found"  # GORM, verbatim English
SEARCH_CONSECUTIVE_PERCENT = "搜索模式中不允许包含连续的 % 通配符"
SEARCH_TOO_MANY_PERCENT = "搜索模式中最多允许包含 2 个 % 通配符"
SEARCH_TOO_SHORT = "使用模糊搜索时，关键词长度至少为 2 个字符"
SEARCH_TOO_MANY_TOKENS = "令牌数量超过上限，仅允许精确搜索，请勿使用 % 通配符"


# middleware/auth.go accessTokenSessionRequiredMsg: English in every language
SESSION_REQUIRED = "a dashboard login session is required"
# controller/audit.go GetAuditLogs (ApiErrorMsg: HTTP 200, English in every language)
AUDIT_BAD_PAGE = "Invalid audit pagination"
AUDIT_BAD_FILTERS = "Invalid audit filters"
AUDIT_BAD_TIME = "Invalid audit time range"
AUDIT_BAD_RESULT = "Invalid audit result"


# Older generations, Chinese only (recording steps "create name 31 bytes", "batch delete").
ONE_API_PARAM_ERROR = "参数错误：{reason}"
ONE_API_BAD_SUBNET = "无效的网段：failed to parse subnet: invalid CIDR address: {subnet}"
INVALID_PARAMS_BEFORE_I18N = "参数错误"

# The relay side (/v1) before i18n; one-api and new-api word some of them differently.
RELAY_NO_KEY = "未提供令牌"
RELAY_UNKNOWN_KEY = "无效的令牌"
RELAY_DISABLED = "该令牌状态不可用"
RELAY_EXPIRED = "该令牌已过期"
RELAY_EXHAUSTED = "该令牌额度已用尽"  # one-api, the call that finds it
RELAY_EXHAUSTED_MARKED_ONE_API = "令牌 {name}（#{id}）额度已用尽"
RELAY_EXHAUSTED_NEW_API = (
    "[sk-{head}***{tail}] 该令牌额度已用尽 !token.UnlimitedQuota && token.RemainQuota = {remain}"
)
RELAY_EXHAUSTED_MARKED_NEW_API = "该令牌额度已用尽 TokenStatusExhausted[sk-{head}***{tail}]"
RELAY_IP_DENIED_ONE_API = "该令牌只能在指定网段使用：{subnet}，当前 ip：{ip}"
RELAY_IP_DENIED = "您的 IP 不在令牌允许访问的列表中"  # Chinese in every new-api recording
RELAY_NO_CHANNEL_ONE_API = "当前分组 {group} 下对于模型 {model} 无可用渠道"
RELAY_MODEL_DENIED_ONE_API = "该令牌无权使用模型：{model}"
RELAY_MODEL_DENIED = "该令牌无权访问模型 {model}"
RELAY_USER_BANNED = "用户已被封禁"
RELAY_GROUP_DENIED = "无权访问 {group} 分组"  # Chinese in every language


def max_tokens_reached(limit: int) -> str:
    return f"已达到最大令牌数量限制 ({limit})"


def message(key: str, lang: Lang, **values: object) -> str:
    en, zh = MESSAGES[key]
    return (zh if lang == "zh" else en).format(**values)


def pick_lang(accept_language: str | None, default: Lang) -> Lang:
    """The first tag of Accept-Language decides (zh* -> zh, en* -> en), else the default."""
    if accept_language:
        first = accept_language.split(",")[0].split(";")[0].strip().lower()
        if first.startswith("zh"):
            return "zh"
        if first.startswith("en"):
            return "en"
    return default
