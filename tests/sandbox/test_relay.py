"""The relay side per generation: key refusals, lazy status flips, models, chat spending."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from provisioner.sandbox import Sandbox
from provisioner.sandbox.api import MODELS
from provisioner.sandbox.relay import QUOTA_PER_TOKEN
from tests.sandbox.helpers import client_for

RID = re.compile(r"^(?P<text>.*) \(request id: [0-9A-Za-z]{16,}\)$")
INVALID = (401, "Invalid token", "")
EXHAUSTED_2025_10 = "该令牌额度已用尽 !token.UnlimitedQuota && token.RemainQuota = 0"
REFUSALS: dict[str, dict[str, tuple[int, str, str]]] = {
    "one-api-2025-02": {
        "off": (401, "该令牌状态不可用", ""),
        "past": (401, "该令牌已过期", ""),
        "empty": (401, "该令牌额度已用尽", ""),
        "ip": (403, "该令牌只能在指定网段使用：203.0.113.7/32，当前 ip：127.0.0.1", ""),
        "unknown": (401, "无效的令牌", ""),
        "none": (401, "未提供令牌", ""),
    },
    "new-api-2025-10": {
        "off": (401, "该令牌状态不可用", ""),
        "past": (401, "该令牌已过期", ""),
        "empty": (
            401,
            "[sk-{head}***{tail}] 该令牌额度已用尽 !token.UnlimitedQuota && token.RemainQuota = 0",
            "",
        ),
        "ip": (403, "您的 IP 不在令牌允许访问的列表中", ""),
        "unknown": (401, "无效的令牌", ""),
        "none": (401, "未提供令牌", ""),
    },
    "new-api-2026-07": {
        **dict.fromkeys(("off", "past", "empty", "unknown", "none"), INVALID),
        "ip": (403, "您的 IP 不在令牌允许访问的列表中", "access_denied"),
    },
    "new-api-2026-08": {
        **dict.fromkeys(("off", "past", "empty", "unknown", "none"), INVALID),
        "ip": (403, "您的 IP 不在令牌允许访问的列表中", "access_denied"),
    },
}


def add_keys(sb: Sandbox) -> dict[str, dict[str, Any]]:
    """One key of each kind, written straight into the store (profile-agnostic)."""
    now = sb.now()
    kinds = {
        "ok": {"unlimited_quota": True},
        "off": {"unlimited_quota": True, "status": 2},
        "past": {"unlimited_quota": True, "expired_time": now - 3600},
        "empty": {"remain_quota": 0},
        "ip": {"unlimited_quota": True, "allow_ips": "203.0.113.7", "subnet": "203.0.113.7/32"},
        "limited": {
            "unlimited_quota": True,
            "model_limits_enabled": True,
            "model_limits": "gpt-4o,sora-2",
            "models": "gpt-4o,sora-2",
        },
        "spender": {"remain_quota": 10_000},
    }
    ids = sb.store.insert_tokens(
        [{"user_id": 1, "name": k, "created_time": now, **v} for k, v in kinds.items()],
        reuse_ids=sb.profile.hard_delete,
    )
    rows = {r["id"]: r for r in sb.rows()}
    return {kind: rows[i] for kind, i in zip(kinds, ids, strict=True)}


def relay(sb: Sandbox, key: str | None, path: str = "/v1/models", **kw: Any) -> httpx.Response:
    headers = {} if key is None else {"Authorization": f"Bearer sk-{key}"}
    method = "POST" if "chat" in path else "GET"
    return httpx.request(method, sb.url + path, headers=headers, timeout=5, **kw)


def chat(sb: Sandbox, key: str, model: str = "gpt-4o-mini", **body: Any) -> httpx.Response:
    payload = {"model": model, "messages": [{"role": "user", "content": "hello there"}], **body}
    return relay(sb, key, "/v1/chat/completions", json=payload)


def refusal(response: httpx.Response) -> tuple[int, str, str]:
    error = response.json()["error"]
    match = RID.match(error["message"])
    assert match, error["message"]
    return response.status_code, match["text"], error.get("code", "")


@pytest.mark.parametrize("profile", list(REFUSALS))
def test_refusals_and_lazy_flips(make_sandbox, profile: str) -> None:
    sb = make_sandbox(profile=profile, neighbour=False)
    keys = add_keys(sb)
    expected = REFUSALS[profile]
    for kind in ("off", "past", "empty", "ip"):
        key = keys[kind]["key"]
        status, text, code = expected[kind]
        text = text.format(head=key[:3], tail=key[-3:])
        assert refusal(relay(sb, key)) == (status, text, code), kind
    assert refusal(relay(sb, "Q" * 48)) == expected["unknown"]
    assert refusal(relay(sb, None)) == expected["none"]
    error = relay(sb, None).json()["error"]
    family_type = "one_api_error" if profile.startswith("one-api") else "new_api_error"
    assert error["type"] == family_type and list(error) == sorted(error)
    statuses = {r["name"]: r["status"] for r in sb.rows()}
    assert (statuses["past"], statuses["empty"], statuses["off"], statuses["ok"]) == (3, 4, 2, 1)


def test_second_call_names_the_flipped_status(make_sandbox) -> None:
    one_api = make_sandbox(profile="one-api-2025-02", neighbour=False)
    keys = add_keys(one_api)
    relay(one_api, keys["empty"]["key"])
    marked = refusal(relay(one_api, keys["empty"]["key"]))
    assert marked == (401, f"令牌 empty（#{keys['empty']['id']}）额度已用尽", "")
    new_api = make_sandbox(profile="new-api-2025-10", db_path=":memory:")
    keys = add_keys(new_api)
    key = keys["empty"]["key"]
    relay(new_api, key)
    text = f"该令牌额度已用尽 TokenStatusExhausted[sk-{key[:3]}***{key[-3:]}]"
    assert refusal(relay(new_api, key)) == (401, text, "")


def test_with_redis_nothing_is_flipped(make_sandbox) -> None:
    sb = make_sandbox(profile="new-api-2026-08", redis=True)
    keys = add_keys(sb)
    for kind in ("past", "empty"):
        assert relay(sb, keys[kind]["key"]).status_code == 401
    assert {r["name"]: r["status"] for r in sb.rows() if r["user_id"] == 1}["past"] == 1
    assert sb.relay_auth(keys["empty"]["key"]) is False
    assert next(r for r in sb.rows() if r["name"] == "empty")["status"] == 1


def test_models_listed_from_channels_and_limits(make_sandbox) -> None:
    newest = make_sandbox(profile="new-api-2026-08")
    keys = add_keys(newest)
    listed = relay(newest, keys["ok"]["key"]).json()
    assert list(listed) == ["data", "object", "success"]
    assert [m["id"] for m in listed["data"]] == list(MODELS)
    first = listed["data"][0]
    assert first == {
        "id": "gpt-4o-mini",
        "object": "model",
        "created": 1626777600,
        "owned_by": "openai",
        "supported_endpoint_types": ["openai"],
    }
    limited = relay(newest, keys["limited"]["key"]).json()["data"]
    assert [m["id"] for m in limited] == ["gpt-4o"]  # sora-2: no channel serves it
    older = make_sandbox(profile="new-api-2025-10", db_path=":memory:")
    limited = relay(older, add_keys(older)["limited"]["key"]).json()["data"]
    assert [(m["id"], m["owned_by"]) for m in limited] == [
        ("gpt-4o", "openai"),
        ("sora-2", "custom"),
    ]


def test_one_api_model_objects(make_sandbox) -> None:
    sb = make_sandbox(profile="one-api-2025-02", channels=())
    keys = add_keys(sb)
    assert relay(sb, keys["ok"]["key"]).json() == {"data": [], "object": "list"}
    gpt, sora = relay(sb, keys["limited"]["key"]).json()["data"]
    assert list(gpt) == ["id", "object", "created", "owned_by", "permission", "root", "parent"]
    assert gpt["owned_by"] == "openai" and gpt["permission"][0]["organization"] == "*"
    assert (sora["owned_by"], sora["permission"]) == ("custom", None)


def test_chat_spends_quota_until_the_key_is_exhausted(make_sandbox) -> None:
    sb = make_sandbox(profile="new-api-2026-07")
    spender = add_keys(sb)["spender"]
    user_before = sb.store.user(1)
    assert user_before is not None
    sb.advance(600)
    answer = chat(sb, spender["key"], max_tokens=5)
    assert answer.status_code == 200
    body = answer.json()
    usage = body["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["completion_tokens"] == 5 and body["choices"][0]["finish_reason"] == "length"
    assert body["object"] == "chat.completion" and body["model"] == "gpt-4o-mini"
    spent = usage["total_tokens"] * QUOTA_PER_TOKEN
    row = next(r for r in sb.rows() if r["id"] == spender["id"])
    assert (row["remain_quota"], row["used_quota"]) == (10_000 - spent, spent)
    assert row["accessed_time"] >= spender["accessed_time"] + 600
    user = sb.store.user(1)
    assert user is not None and user["used_quota"] == user_before["used_quota"] + spent
    statuses = []
    for _ in range(12):
        response = chat(sb, spender["key"])
        statuses.append(response.status_code)
        if response.status_code != 200:
            break
    assert statuses[-1] == 401 and set(statuses[:-1]) == {200}
    assert refusal(response) == INVALID
    row = next(r for r in sb.rows() if r["id"] == spender["id"])
    assert row["remain_quota"] <= 0 and row["status"] == 4


def test_one_api_does_not_charge_unlimited_tokens(make_sandbox) -> None:
    sb = make_sandbox(profile="one-api-2025-02")
    ok = add_keys(sb)["ok"]
    assert chat(sb, ok["key"]).status_code == 200
    row = next(r for r in sb.rows() if r["id"] == ok["id"])
    assert (row["remain_quota"], row["used_quota"]) == (0, 0)
    user = sb.store.user(1)
    assert user is not None and user["used_quota"] > 0
    newest = make_sandbox(profile="new-api-2026-08", db_path=":memory:")
    ok = add_keys(newest)["ok"]
    assert chat(newest, ok["key"]).status_code == 200
    assert next(r for r in newest.rows() if r["id"] == ok["id"])["remain_quota"] < 0


@pytest.mark.parametrize(
    ("profile", "text", "code"),
    [
        ("one-api-2025-02", "当前分组 default 下对于模型 gpt-4o-mini 无可用渠道", ""),
        (
            "new-api-2025-10",
            "分组 default 下模型 gpt-4o-mini 无可用渠道（distributor）",
            "model_not_found",
        ),
        (
            "new-api-2026-08",
            "No available channel for model gpt-4o-mini under group default (distributor)",
            "model_not_found",
        ),
    ],
)
def test_chat_without_a_channel(make_sandbox, profile: str, text: str, code: str) -> None:
    sb = make_sandbox(profile=profile, channels=())
    assert refusal(chat(sb, add_keys(sb)["ok"]["key"])) == (503, text, code)


def test_chat_outside_the_model_limits(make_sandbox) -> None:
    sb = make_sandbox(profile="new-api-2026-08")
    limited = add_keys(sb)["limited"]["key"]
    assert refusal(chat(sb, limited)) == (403, "该令牌无权访问模型 gpt-4o-mini", "")
    assert chat(sb, limited, model="gpt-4o").status_code == 200
    one_api = make_sandbox(profile="one-api-2025-02", db_path=":memory:")
    assert refusal(chat(one_api, add_keys(one_api)["limited"]["key"])) == (
        403,
        "该令牌无权使用模型：gpt-4o-mini",
        "",
    )


@pytest.mark.parametrize(
    ("allow_ips", "allowed"),
    [
        ("127.0.0.1", True),
        ("10.0.0.0/8\n127.0.0.0/8", True),
        ("10.0.0.0/8", False),
        ("10.0.0.1,\n10.0.0.2", False),  # a trailing comma is dropped
        ("10.0.0.1,10.0.0.2", True),  # one broken entry, skipped: no restriction at all
        ("not-an-address", True),  # nothing valid: no restriction
    ],
)
def test_allow_ips_newline_separated_with_cidr(make_sandbox, allow_ips: str, allowed: bool) -> None:
    sb = make_sandbox()
    (token_id,) = sb.store.insert_tokens(
        [{"user_id": 1, "name": "ip", "created_time": sb.now(), "unlimited_quota": True}]
    )
    sb.store.update_token(token_id, {"allow_ips": allow_ips})
    key = sb.rows()[-1]["key"]
    assert (relay(sb, key).status_code == 200) is allowed
    assert sb.relay_auth(key) is allowed
    assert sb.consume(token_id, 10) is allowed


def test_before_cidr_an_entry_is_an_address(make_sandbox) -> None:
    sb = make_sandbox(profile="new-api-2025-10")
    (token_id,) = sb.store.insert_tokens(
        [{"user_id": 1, "name": "ip", "created_time": sb.now(), "unlimited_quota": True}]
    )
    key = sb.rows()[-1]["key"]
    sb.store.update_token(token_id, {"allow_ips": "127.0.0.0/8\n10.0.0.1"})
    assert relay(sb, key).status_code == 403  # the block is skipped, the address stays
    sb.store.update_token(token_id, {"allow_ips": "127.0.0.0/8"})
    assert relay(sb, key).status_code == 200  # nothing valid left: no restriction


def test_consume_and_relay_auth_share_the_relay_checks(make_sandbox) -> None:
    sb = make_sandbox(profile="new-api-2025-10")
    keys = add_keys(sb)
    assert sb.consume(keys["off"]["id"], 1) is False
    assert sb.consume(keys["ip"]["id"], 1) is False
    assert sb.relay_auth("sk-" + keys["ip"]["key"], client_ip="203.0.113.7") is True
    assert sb.consume(keys["ip"]["id"], 5, client_ip="203.0.113.7") is True
    assert sb.relay_auth(f"Bearer sk-{keys['ok']['key']}-7") is True
    with client_for(sb) as c:
        listed = c.get("/api/token/", params={"p": 1, "size": 100}).json()["data"]["items"]
    assert {t["name"]: t["used_quota"] for t in listed}["ip"] == 5
