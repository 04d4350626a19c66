"""The token routes over real HTTP (docs/server-contract.md; the default profile)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from provisioner.sandbox import Sandbox
from tests.sandbox.helpers import FIELD_ORDER, client_for, create

MASKED = re.compile(r"^[0-9A-Za-z]{4}\*{10}[0-9A-Za-z]{4}$")


def test_create_answers_without_data_and_applies_gorm_defaults(
    sb: Sandbox, client: httpx.Client
) -> None:
    response = client.post(
        "/api/token/",
        json={
            "name": "ci",
            "expired_time": 0,
            "status": 2,
            "key": "x",
            "user_id": 2,
            "remain_quota": 100,
        },
    )
    assert response.status_code == 200
    assert response.json() == {"success": True, "message": ""}
    (row,) = [r for r in sb.rows() if r["name"] == "ci"]
    assert row["status"] == 1
    assert row["expired_time"] == -1
    assert row["allow_ips"] == ""
    assert row["user_id"] == 1
    assert re.fullmatch(r"[0-9A-Za-z]{48}", row["key"])
    assert row["created_time"] == row["accessed_time"] == pytest.approx(sb.now(), abs=2)


def test_token_json_has_contract_field_order_and_masked_key(
    sb: Sandbox, client: httpx.Client
) -> None:
    token_id = create(client, name="ordered")
    body = client.get(f"/api/token/{token_id}").json()
    assert body["success"] is True and body["message"] == ""
    token = body["data"]
    assert list(token) == FIELD_ORDER
    assert token["DeletedAt"] is None and token["auto_groups"] is None
    assert MASKED.match(token["key"])
    full = next(r["key"] for r in sb.rows() if r["id"] == token_id)
    assert token["key"] == full[:4] + "*" * 10 + full[-4:]


def test_list_page_object_newest_first(sb: Sandbox, client: httpx.Client) -> None:
    ids = sb.seed(25)
    data = client.get("/api/token/", params={"p": 1, "size": 10}).json()["data"]
    assert (data["page"], data["page_size"], data["total"]) == (1, 10, 25)
    assert [t["id"] for t in data["items"]] == sorted(ids, reverse=True)[:10]
    page3 = client.get("/api/token/", params={"p": 3, "size": 10}).json()["data"]
    assert [t["id"] for t in page3["items"]] == sorted(ids, reverse=True)[20:]
    assert all(MASKED.match(t["key"]) for t in data["items"])


@pytest.mark.parametrize(
    ("query", "page", "size", "count"),
    [
        ({}, 1, 10, 10),
        ({"p": "0"}, 1, 10, 10),
        ({"p": "abc"}, 1, 10, 10),
        ({"p": "-1", "size": "5"}, -1, 5, 5),  # negative offset ignored: page 1 rows
        ({"page_size": "3", "ps": "4", "size": "5"}, 1, 3, 3),
        ({"page_size": "0", "ps": "4", "size": "5"}, 1, 4, 4),
        ({"page_size": "x", "size": "7"}, 1, 7, 7),
        ({"size": "500"}, 1, 100, 100),
        ({"size": "-1"}, 1, -1, 150),  # negative size: no LIMIT at all
        ({"page": "3", "size": "5"}, 1, 5, 5),  # the page number is only p
    ],
)
def test_list_paging_dialect(
    sb: Sandbox, client: httpx.Client, query: dict[str, str], page: int, size: int, count: int
) -> None:
    sb.seed(150)
    data = client.get("/api/token/", params=query).json()["data"]
    assert data["page"] == page
    assert data["page_size"] == size
    assert data["total"] == 150
    assert len(data["items"]) == count
    if page <= 1:
        assert data["items"][0]["name"] == "seed-150"


def test_list_array_shape_is_zero_based_with_full_keys(make_sandbox) -> None:
    sb = make_sandbox(list_shape="array")
    assert sb.profile.name == "new-api-2025-05"
    sb.seed(15)
    with client_for(sb) as c:
        first = c.get("/api/token/", params={"p": 0, "size": 10}).json()["data"]
        second = c.get("/api/token/", params={"p": 1, "size": 10}).json()["data"]
        third = c.get("/api/token/", params={"p": 2, "size": 10}).json()["data"]
        default = c.get("/api/token/").json()["data"]
    assert isinstance(first, list) and len(first) == 10 and len(second) == 5 and third == []
    assert len(default) == 10
    assert first[0]["name"] == "seed-15"
    keys = {r["id"]: r["key"] for r in sb.rows()}
    assert all(t["key"] == keys[t["id"]] for t in first + second)


def test_search_exact_wildcard_and_paging(sb: Sandbox, client: httpx.Client) -> None:
    for name in ("ci-bot", "ci-bot-2", "CI-BOT", "other"):
        client.post("/api/token/", json={"name": name})
    names = lambda params: [  # noqa: E731
        t["name"] for t in client.get("/api/token/search", params=params).json()["data"]["items"]
    ]
    assert names({"keyword": "ci-bot"}) == ["ci-bot"]
    assert sorted(names({"keyword": "ci-bot%"})) == ["CI-BOT", "ci-bot", "ci-bot-2"]
    assert names({"keyword": "%bot-2"}) == ["ci-bot-2"]
    assert names({"keyword": "ci_bot%"}) == []  # _ is escaped, not a wildcard
    page = client.get("/api/token/search", params={"keyword": "%bot%", "p": 2, "size": 2}).json()[
        "data"
    ]
    assert (page["page"], page["page_size"], page["total"], len(page["items"])) == (2, 2, 3, 1)
    assert sorted(names({})) == ["CI-BOT", "ci-bot", "ci-bot-2", "other"]


def test_search_by_key_strips_sk_prefix(sb: Sandbox, client: httpx.Client) -> None:
    token_id = create(client, name="findme")
    key = next(r["key"] for r in sb.rows() if r["id"] == token_id)
    for value in (key, "sk-" + key, key[:6] + "%"):
        items = client.get("/api/token/search", params={"token": value}).json()["data"]["items"]
        assert [t["id"] for t in items] == [token_id]
        assert MASKED.match(items[0]["key"])


@pytest.mark.parametrize(
    ("keyword", "message"),
    [
        ("a%%b", "搜索模式中不允许包含连续的 % 通配符"),
        ("%a%b%", "搜索模式中最多允许包含 2 个 % 通配符"),
        ("a%", "使用模糊搜索时，关键词长度至少为 2 个字符"),
    ],
)
def test_search_pattern_errors(client: httpx.Client, keyword: str, message: str) -> None:
    response = client.get("/api/token/search", params={"keyword": keyword})
    assert response.status_code == 200
    assert response.json() == {"success": False, "message": message}


def test_search_wildcard_refused_above_max_user_tokens(make_sandbox) -> None:
    sb = make_sandbox(max_user_tokens=5)
    sb.seed(6)
    with httpx.Client(verify=False, base_url=sb.url, headers={"Authorization": sb.credential}) as c:
        refused = c.get("/api/token/search", params={"keyword": "seed%"}).json()
        exact = c.get("/api/token/search", params={"keyword": "seed-1"}).json()
    assert refused == {
        "success": False,
        "message": "令牌数量超过上限，仅允许精确搜索，请勿使用 % 通配符",
    }
    assert exact["data"]["total"] == 1


def test_get_errors(client: httpx.Client) -> None:
    assert client.get("/api/token/abc").json() == {
        "success": False,
        "message": 'strconv.Atoi: parsing "abc": invalid syntax',
    }
    assert client.get("/api/token/0").json() == {"success": False, "message": "id 或 userId 为空！"}
    assert client.get("/api/token/99999").json() == {
        "success": False,
        "message": "record not found",
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "EOF"),
        (
            b'{"name": 5}',
            "json: cannot unmarshal number into Go struct field Token.name of type string",
        ),
        (
            b'{"remain_quota": "5"}',
            "json: cannot unmarshal string into Go struct field Token.remain_quota of type int",
        ),
        ('{"name": "' + "a" * 51 + '"}', "Token name is too long"),
        ('{"name": "' + "令" * 17 + '"}', "Token name is too long"),  # 51 bytes
        (b'{"remain_quota": -1}', "Quota value cannot be negative"),
        (b'{"remain_quota": 2147483648}', "Quota value exceeds valid range, maximum is 2147483647"),
        (
            b'{"group": "auto", "auto_groups": ["a","b","c","d","e","f"]}',
            "A token can select at most 5 Auto groups",
        ),
        (b'{"group": "auto", "auto_groups": ["vip","vip"]}', "Auto group vip is duplicated"),
        (
            b'{"group": "auto", "auto_groups": ["svip"]}',
            "Auto group svip is unavailable or unauthorized",
        ),
    ],
)
def test_create_checks(sb: Sandbox, client: httpx.Client, body: bytes | str, message: str) -> None:
    response = client.post(
        "/api/token/", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200
    assert response.json() == {"success": False, "message": message}
    assert [r for r in sb.rows() if r["user_id"] == 1] == []


def test_create_limits_boundaries_pass(sb: Sandbox, client: httpx.Client) -> None:
    ok = {"success": True, "message": ""}
    assert client.post("/api/token/", json={"name": "a" * 50}).json() == ok
    assert client.post("/api/token/", json={"remain_quota": 2147483647}).json() == ok
    unlimited = {"unlimited_quota": True, "remain_quota": -5, "name": "u"}
    assert client.post("/api/token/", json=unlimited).json() == ok
    assert any(r["remain_quota"] == -5 for r in sb.rows())


def test_create_chinese_messages(client: httpx.Client) -> None:
    response = client.post(
        "/api/token/", json={"remain_quota": -1}, headers={"Accept-Language": "zh-CN,zh;q=0.9"}
    )
    assert response.json()["message"] == "额度值不能为负数"


def test_lang_zh_default(make_sandbox) -> None:
    sb = make_sandbox(lang="zh")
    with httpx.Client(verify=False, base_url=sb.url, headers={"Authorization": sb.credential}) as c:
        assert c.post("/api/token/", json={"remain_quota": 3_000_000_000}).json()["message"] == (
            "额度值超出有效范围，最大值为 2147483647"
        )
        english = c.post(
            "/api/token/", json={"remain_quota": -1}, headers={"Accept-Language": "en-US"}
        ).json()
    assert english["message"] == "Quota value cannot be negative"


def test_max_user_tokens_cap(make_sandbox) -> None:
    sb = make_sandbox(max_user_tokens=3)
    sb.seed(3)
    with httpx.Client(verify=False, base_url=sb.url, headers={"Authorization": sb.credential}) as c:
        assert c.post("/api/token/", json={"name": "x"}).json() == {
            "success": False,
            "message": "已达到最大令牌数量限制 (3)",
        }
        c.delete(f"/api/token/{sb.rows()[-1]['id']}")
        assert c.post("/api/token/", json={"name": "x"}).json()["success"] is True


def test_create_auto_group_rules(sb: Sandbox, client: httpx.Client) -> None:
    create(
        client, name="auto", group="auto", auto_groups=["vip", "default"], cross_group_retry=True
    )
    create(client, name="plain", group="vip", auto_groups=["vip"], cross_group_retry=True)
    create(client, name="inherit", group="auto", auto_groups=[])
    rows = {r["name"]: r for r in sb.rows()}
    assert rows["auto"]["auto_groups"] == ["vip", "default"]
    assert rows["auto"]["cross_group_retry"] is True
    assert rows["plain"]["auto_groups"] is None and rows["plain"]["cross_group_retry"] is False
    assert rows["inherit"]["auto_groups"] is None


def test_put_full_replacement(sb: Sandbox, client: httpx.Client) -> None:
    token_id = create(
        client,
        name="full",
        remain_quota=500,
        allow_ips="10.0.0.1",
        model_limits="gpt-4o",
        model_limits_enabled=True,
        group="vip",
    )
    response = client.put("/api/token/", json={"id": token_id, "name": "renamed", "status": 2})
    body = response.json()
    assert body["success"] is True
    data = body["data"]
    assert list(data) == FIELD_ORDER and MASKED.match(data["key"])
    assert data["name"] == "renamed"
    assert data["status"] == 1  # full mode never changes status
    assert data["expired_time"] == 0  # omitted -> zero value, not -1
    assert data["remain_quota"] == 0
    assert data["allow_ips"] is None  # omitted -> null
    assert data["model_limits"] == "" and data["model_limits_enabled"] is False
    assert data["group"] == ""
    assert client.get(f"/api/token/{token_id}").json()["data"] == data


def test_put_status_only_any_value(sb: Sandbox, client: httpx.Client) -> None:
    token_id = create(client, name="s", remain_quota=10)
    for flag, status in (("true", 2), ("false", 99), ("1", 0)):
        data = client.put(
            "/api/token/", params={"status_only": flag}, json={"id": token_id, "status": status}
        ).json()["data"]
        assert data["status"] == status
        assert data["name"] == "s" and data["remain_quota"] == 10


def test_put_checks_and_not_found(sb: Sandbox, client: httpx.Client) -> None:
    token_id = create(client, name="p")
    other_id = next(r["id"] for r in sb.rows() if r["user_id"] == 2)
    cases = [
        ({"name": "x"}, "id 或 userId 为空！"),
        ({"id": other_id, "name": "x"}, "record not found"),
        ({"id": token_id, "remain_quota": -1}, "Quota value cannot be negative"),
        ({"id": 0, "remain_quota": -1}, "Quota value cannot be negative"),  # quota check first
        ({"id": token_id, "name": "n" * 51}, "Token name is too long"),
        (
            {"id": token_id, "group": "auto", "auto_groups": ["nope"]},
            "Auto group nope is unavailable or unauthorized",
        ),
    ]
    for body, message in cases:
        assert client.put("/api/token/", json=body).json() == {"success": False, "message": message}
    status_only = client.put(
        "/api/token/", params={"status_only": "1"}, json={"id": token_id, "remain_quota": -1}
    ).json()
    assert status_only["message"] == "Quota value cannot be negative"


def test_put_reenable_guard_both_modes(sb: Sandbox, client: httpx.Client) -> None:
    expired = create(client, name="exp", expired_time=sb.now() + 60, remain_quota=10)
    exhausted = create(client, name="exh", remain_quota=5)
    sb.advance(120)
    assert sb.consume(expired, 1) is False
    assert sb.consume(exhausted, 5) is True
    statuses = {r["name"]: r["status"] for r in sb.rows()}
    assert statuses["exp"] == 3 and statuses["exh"] == 4
    for params in ({"status_only": "true"}, {}):
        r = client.put(
            "/api/token/",
            params=params,
            json={"id": expired, "status": 1, "name": "exp", "expired_time": -1},
        ).json()
        assert r["message"].startswith("Token has expired and cannot be enabled")
        r = client.put(
            "/api/token/",
            params=params,
            json={"id": exhausted, "status": 1, "name": "exh", "remain_quota": 10},
        ).json()
        assert r["message"].startswith("Token quota is exhausted and cannot be enabled")
    # sticky statuses: fixing the expiry does not re-enable; then status_only works
    fixed = client.put(
        "/api/token/", json={"id": expired, "name": "exp", "expired_time": -1, "remain_quota": 10}
    ).json()["data"]
    assert fixed["status"] == 3 and fixed["expired_time"] == -1
    enabled = client.put(
        "/api/token/", params={"status_only": "true"}, json={"id": expired, "status": 1}
    ).json()
    assert enabled["success"] is True and enabled["data"]["status"] == 1


def test_put_auto_groups_kept_cleared_or_set(sb: Sandbox, client: httpx.Client) -> None:
    token_id = create(client, name="a", group="auto", auto_groups=["vip"])
    base = {"id": token_id, "name": "a", "expired_time": -1, "group": "auto"}
    assert client.put("/api/token/", json=base).json()["data"]["auto_groups"] == ["vip"]
    data = client.put("/api/token/", json={**base, "auto_groups": ["default", "vip"]}).json()
    assert data["data"]["auto_groups"] == ["default", "vip"]
    assert (
        client.put("/api/token/", json={**base, "auto_groups": None}).json()["data"]["auto_groups"]
        is None
    )
    client.put("/api/token/", json={**base, "auto_groups": ["vip"], "cross_group_retry": True})
    data = client.put("/api/token/", json={**base, "group": "vip", "cross_group_retry": True})
    assert data.json()["data"]["auto_groups"] is None
    assert data.json()["data"]["cross_group_retry"] is False


def test_delete_soft_and_ids_never_reused(sb: Sandbox, client: httpx.Client) -> None:
    token_id = create(client, name="d")
    assert client.delete(f"/api/token/{token_id}").json() == {"success": True, "message": ""}
    assert client.delete(f"/api/token/{token_id}").json() == {
        "success": False,
        "message": "record not found",
    }
    assert client.get(f"/api/token/{token_id}").json()["message"] == "record not found"
    assert client.delete("/api/token/abc").json()["message"] == "id 或 userId 为空！"
    assert [r["id"] for r in sb.rows(include_deleted=True) if r["id"] == token_id]
    assert sb.rows(include_deleted=True)[-1]["deleted_at"] is not None
    assert create(client, name="d2") == token_id + 1
    assert client.get("/api/token/").json()["data"]["total"] == 1


def test_batch_delete_counts_owned_only(sb: Sandbox, client: httpx.Client) -> None:
    mine = sb.seed(3)
    other = next(r["id"] for r in sb.rows() if r["user_id"] == 2)
    body = client.post("/api/token/batch", json={"ids": [mine[0], mine[1], other, 999]}).json()
    assert body == {"success": True, "message": "", "data": 2}
    assert client.post("/api/token/batch", json={"ids": [mine[0]]}).json()["data"] == 0
    for bad in ({"ids": []}, {}, {"ids": ["x"]}):
        assert client.post("/api/token/batch", json=bad).json() == {
            "success": False,
            "message": "Invalid parameters",
        }
    assert any(r["id"] == other for r in sb.rows())


def test_reveal_single_and_batch(sb: Sandbox, client: httpx.Client) -> None:
    ids = sb.seed(3)
    keys = {r["id"]: r["key"] for r in sb.rows()}
    other = next(r["id"] for r in sb.rows() if r["user_id"] == 2)
    assert client.post(f"/api/token/{ids[0]}/key").json() == {
        "success": True,
        "message": "",
        "data": {"key": keys[ids[0]]},
    }
    assert client.post(f"/api/token/{other}/key").json()["message"] == "record not found"
    client.delete(f"/api/token/{ids[2]}")
    body = client.post("/api/token/batch/keys", json={"ids": [*ids, other, 12345]}).json()
    assert body == {
        "success": True,
        "message": "",
        "data": {"keys": {str(ids[0]): keys[ids[0]], str(ids[1]): keys[ids[1]]}},
    }
    too_many = client.post("/api/token/batch/keys", json={"ids": list(range(1, 102))}).json()
    assert too_many == {
        "success": False,
        "message": "Too many items in batch request, maximum is 100",
    }
    assert client.post("/api/token/batch/keys", json={"ids": []}).json()["message"] == (
        "Invalid parameters"
    )


def test_ownership_isolation(sb: Sandbox, client: httpx.Client) -> None:
    other_ids = [r["id"] for r in sb.rows() if r["user_id"] == 2]
    assert len(other_ids) >= 3
    assert client.get("/api/token/").json()["data"]["total"] == 0
    for token_id in other_ids:
        assert client.get(f"/api/token/{token_id}").json()["message"] == "record not found"
        assert client.delete(f"/api/token/{token_id}").json()["message"] == "record not found"
        assert client.put("/api/token/", json={"id": token_id}).json()["success"] is False
    assert (
        client.get("/api/token/search", params={"keyword": "neighbour-1"}).json()["data"]["total"]
        == 0
    )
    assert len([r for r in sb.rows() if r["user_id"] == 2]) == len(other_ids)


def test_side_routes(sb: Sandbox, client: httpx.Client) -> None:
    status = httpx.get(sb.url + "/api/status", verify=False).json()  # no auth needed
    assert status["success"] is True
    data = status["data"]
    assert data["quota_per_unit"] == 500000 and data["setup"] is True
    assert data["version"] == sb.profile.version and data["quota_display_type"] == "USD"
    assert sorted(data) == sorted(sb.profile.status_fields)
    assert data["usd_exchange_rate"] == 7.3 and data["default_use_auto_group"] is False
    user = client.get("/api/user/self").json()["data"]
    assert (user["id"], user["username"], user["role"], user["group"]) == (
        1,
        "sandbox",
        100,
        "default",
    )
    groups = client.get("/api/user/self/groups").json()["data"]
    assert isinstance(groups["vip"]["ratio"], float)
    assert set(groups) == {"default", "vip"}  # as recorded: no auto unless --auto-group
    assert "gpt-4o-mini" in client.get("/api/user/models").json()["data"]
    assert client.get("/api/token/auto-groups").json() == {
        "success": True,
        "message": "",
        "data": {"groups": ["default", "vip"], "max_count": 5},
    }


def test_unknown_routes_and_trailing_slash_redirects(client: httpx.Client) -> None:
    missing = client.post("/api/token/7/key/extra")
    assert missing.status_code == 404
    assert missing.json() == {
        "error": {
            "message": "Invalid URL (POST /api/token/7/key/extra)",
            "type": "invalid_request_error",
            "param": "",
            "code": "",
        }
    }
    assert client.get("/api/user/token").status_code == 404
    assert client.put("/api/token/7").status_code == 404
    get = client.get("/api/token", params={"p": 2})
    assert (get.status_code, get.headers["location"]) == (301, "/api/token/?p=2")
    post = client.post("/api/token", json={})
    assert (post.status_code, post.headers["location"]) == (307, "/api/token/")
    delete = client.delete("/api/token/7/")
    assert (delete.status_code, delete.headers["location"]) == (307, "/api/token/7")
    assert client.get("/api/token/7/").status_code == 301


def test_redirect_followed_by_client(sb: Sandbox, client: httpx.Client) -> None:
    response = client.post("/api/token", json={"name": "via-redirect"}, follow_redirects=True)
    assert response.json() == {"success": True, "message": ""}
    assert [r["name"] for r in sb.rows() if r["user_id"] == 1] == ["via-redirect"]


def test_keep_alive_connection_reused(sb: Sandbox, client: httpx.Client) -> None:
    for _ in range(5):
        response = client.get("/api/token/")
        assert response.http_version == "HTTP/1.1"
        assert int(response.headers["content-length"]) == len(response.content)
    assert [s for _, _, s in sb.requests] == [200] * 5


def test_the_auto_group_is_offered_only_when_asked_for(tmp_path: Path) -> None:
    for auto_group, groups in ((False, {"default", "vip"}), (True, {"auto", "default", "vip"})):
        with Sandbox(db_path=str(tmp_path / f"{auto_group}.db"), auto_group=auto_group) as sb:
            headers = {"Authorization": f"Bearer {sb.credential}"}
            answer = httpx.get(sb.url + "/api/user/self/groups", headers=headers).json()
            assert set(answer["data"]) == groups
            if auto_group:
                assert answer["data"]["auto"]["ratio"] == "自动"  # a string, as the servers send


def test_the_relay_refuses_a_key_whose_group_the_user_does_not_have(tmp_path: Path) -> None:
    with Sandbox(db_path=str(tmp_path / "s.db")) as sb:
        (auto_id, vip_id) = sb.seed(2)
        sb.store.update_token(auto_id, {"group": "auto"})
        sb.store.update_token(vip_id, {"group": "vip"})
        keys = {r["id"]: r["key"] for r in sb.rows()}
        refused = httpx.get(
            sb.url + "/v1/models", headers={"Authorization": f"Bearer sk-{keys[auto_id]}"}
        )
        assert refused.status_code == 403 and "无权访问 auto 分组" in refused.text
        assert sb.relay_auth(keys[vip_id]) and not sb.relay_auth(keys[auto_id])
