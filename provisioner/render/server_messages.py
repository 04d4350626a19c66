"""The server's known messages in Chinese, and what each means in English. Pure.

Servers before v0.10.8, one-api, and some texts in every version answer in
Chinese only (docs/server-contract.md#messages-and-language; the relay's
refusals in docs/server-contract.md#refusals). A person who reads English
gets the meaning beside the server's own words, which stay as the server wrote
them (a person may search for them); a message not in this table is shown as
it is. Messages already in English are left alone.

One home: the client (newapi/envelope.py) and the key tests (keys/verdict.py)
both call :func:`with_meaning`; the table's rows come from the recordings in
tests/conformance/recordings and the server contract.
"""

from __future__ import annotations

import json
import re

__all__ = ["KNOWN", "meaning", "quoted", "with_meaning"]

# (the server's words as a pattern, the meaning; {1}, {2} are the pattern's groups).
# Longer texts first: 参数错误：令牌名称过长 holds 令牌名称过长.
KNOWN: tuple[tuple[str, str], ...] = (
    # token routes (docs/server-contract.md#messages-and-language)
    (r"参数错误：令牌名称过长", "invalid parameter: the token name is too long"),
    (r"令牌名称过长", "the token name is too long"),
    (r"额度值不能为负数", "the quota cannot be negative"),
    (r"额度值超出有效范围，最大值为 ?(\d+)", "the quota is out of range; the maximum is {1}"),
    (r"生成令牌失败", "the server failed to generate the token"),
    (
        r"令牌已过期，无法启用",
        "the token has expired and cannot be enabled: change its expiry (or make it never "
        "expire) first",
    ),
    (
        r"令牌可用额度已用尽，无法启用",
        "the token's quota is used up and it cannot be enabled: raise its remaining quota "
        "(or make it unlimited) first",
    ),
    (r"每个令牌最多可选择 ?(\d+) ?个 ?Auto ?分组", "a token can select at most {1} auto groups"),
    (r"Auto ?分组 ?(\S+?) ?重复", "auto group {1} is listed twice"),
    (r"Auto ?分组 ?(\S+?) ?不可用或无权访问", "auto group {1} is unavailable or not yours"),
    (r"批量请求数量过多，最多 ?(\d+) ?条", "too many items in one batch request; at most {1}"),
    (
        r"已达到最大令牌数量限制 ?[(（](\d+)[)）]",
        "the account has its maximum number of tokens ({1})",
    ),
    (r"id 或 userId 为空", "id or userId is empty"),
    (r"无效的网段", "invalid network (CIDR) in the IP list"),
    (r"无效的参数", "invalid parameters"),
    (r"数据库出错，请联系管理员", "database error; contact the server's administrator"),
    # search (docs/server-contract.md#search)
    (r"搜索模式中不允许包含连续的 ?% ?通配符", "the search pattern may not hold two % in a row"),
    (r"搜索模式中最多允许包含 ?(\d+) ?个 ?% ?通配符", "the search pattern may hold at most {1} %"),
    (
        r"使用模糊搜索时，关键词长度至少为 ?(\d+) ?个字符",
        "a fuzzy search needs a keyword of at least {1} characters",
    ),
    (
        r"令牌数量超过上限，仅允许精确搜索",
        "too many tokens for a fuzzy search: only exact names are searched",
    ),
    # authentication (docs/server-contract.md#auth-failures)
    (
        r"无权进行此操作，未登录且未提供 ?access token",
        "not allowed: not logged in and no access token given",
    ),
    (r"无权进行此操作，access token ?无效", "not allowed: the access token is invalid"),
    (r"无权进行此操作，未提供 ?New-Api-User", "not allowed: no New-Api-User header was sent"),
    (
        r"无权进行此操作，New-Api-User ?格式错误",
        "not allowed: the New-Api-User header is malformed",
    ),
    (
        r"无权进行此操作，New-Api-User ?与登录用户不匹配",
        "not allowed: New-Api-User is not the id of the credential's user",
    ),
    (r"无权进行此操作，权限不足", "not allowed: the user's role is too low"),
    (r"无权进行此操作", "not allowed"),
    (r"用户已被封禁", "the user is banned"),
    # the relay (docs/server-contract.md#refusals)
    (
        r"该令牌只能在指定网段使用：(\S+?)，当前 ?ip：(\S+)",
        "this key works only from {1}; this call came from {2}",
    ),
    (r"您的 ?IP ?不在令牌允许访问的列表中", "your IP is not in the key's allowed list"),
    (r"该令牌状态不可用", "this key's token is not enabled"),
    (r"该令牌已过期", "this key's token has expired"),
    (r"该令牌额度已用尽", "this key's token has used up its quota"),
    (r"无效的令牌", "invalid key"),
    (r"未提供令牌", "no key was given"),
    (
        r"当前分组 ?(\S+?) ?下对于模型 ?(\S+?) ?无可用渠道",
        "no channel serves model {2} in group {1}",
    ),
    (r"分组 ?(\S+?) ?下模型 ?(\S+?) ?无可用渠道", "no channel serves model {2} in group {1}"),
    (r"无权访问 ?(\S+?) ?分组", "the user may not use group {1}"),
)

_COMPILED = tuple((re.compile(pattern), words) for pattern, words in KNOWN)
_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def meaning(message: str) -> str | None:
    """What a known server message means in English; None when it is not in the table
    (or holds no Chinese: an English message needs no meaning beside it)."""
    if not _HAN.search(message):
        return None
    for pattern, words in _COMPILED:
        found = pattern.search(message)
        if found:
            return words.format(None, *found.groups())
    return None


def with_meaning(message: str) -> str:
    """``message`` followed by its English meaning when it is a known Chinese one:
    ``令牌名称过长 (in English: the token name is too long)``; else ``message`` as it is."""
    words = meaning(message)
    return f"{message} (in English: {words})" if words else message


def quoted(message: str) -> str:
    """``message`` in double quotes (escaped as JSON escapes it), then its English meaning
    when it is a known Chinese one: ``"令牌名称过长" (in English: the token name is too long)``."""
    words = meaning(message)
    return json.dumps(message, ensure_ascii=False) + (f" (in English: {words})" if words else "")
