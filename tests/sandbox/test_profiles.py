"""What each generation does differently, as a client of the token API sees it."""

from __future__ import annotations

import re

import httpx
import pytest

from provisioner.sandbox import Sandbox
from provisioner.sandbox.profiles import PROFILES, RECORDED
from tests.sandbox.helpers import ONE_API_FIELD_ORDER, client_for

FULL_KEY = re.compile(r"^[0-9A-Za-z]{48}$")
BAD_SUBNET = "参数错误：无效的网段：failed to parse subnet: invalid CIDR address: "


@pytest.fixture
def one_api(make_sandbox) -> Sandbox:
    return make_sandbox(profile="one-api-2025-02", neighbour=False)


def names(response: httpx.Response) -> list[str]:
    data = response.json()["data"]
    items = data["items"] if isinstance(data, dict) else data
    return [t["name"] for t in items]


# -- one-api --


def test_one_api_create_returns_the_token_with_its_full_key(one_api: Sandbox) -> None:
    with client_for(one_api) as c:
        body = c.post("/api/token/", json={"name": "ci", "remain_quota": 7, "models": "gpt-4o"})
    assert list(body.json()) == ["data", "message", "success"]
    token = body.json()["data"]
    (row,) = one_api.rows()
    assert token["id"] == row["id"] and token["key"] == row["key"] and FULL_KEY.match(token["key"])
    assert list(token) == ONE_API_FIELD_ORDER
    assert (token["models"], token["subnet"], token["expired_time"]) == ("gpt-4o", "", -1)


def test_one_api_hard_delete_and_id_reuse(one_api: Sandbox) -> None:
    with client_for(one_api) as c:
        ids = [c.post("/api/token/", json={"name": f"t{i}"}).json()["data"]["id"] for i in range(3)]
        assert ids == [1, 2, 3]
        assert c.post("/api/token/batch", json={"ids": ids}).status_code == 404  # no batch delete
        assert c.delete("/api/token/3").json() == {"message": "", "success": True}
        assert c.post("/api/token/", json={"name": "again"}).json()["data"]["id"] == 3
        for token_id in (1, 2, 3):
            c.delete(f"/api/token/{token_id}")
        assert one_api.rows(include_deleted=True) == []  # the rows are gone
        assert c.post("/api/token/", json={"name": "first"}).json()["data"]["id"] == 1


def test_one_api_pages_are_ten_rows_from_p0_whatever_the_size(one_api: Sandbox) -> None:
    one_api.seed(23)
    with client_for(one_api) as c:
        first = names(c.get("/api/token/", params={"p": 0, "size": 100, "page_size": 5}))
        second = names(c.get("/api/token/", params={"p": 1, "size": 5}))
        third = names(c.get("/api/token/", params={"p": 2}))
        assert names(c.get("/api/token/", params={"p": 3})) == []
        assert names(c.get("/api/token/", params={"p": -4})) == first
    assert first == [f"seed-{i}" for i in range(23, 13, -1)]
    assert second == [f"seed-{i}" for i in range(13, 3, -1)]
    assert third == ["seed-3", "seed-2", "seed-1"]


def test_one_api_list_order_and_prefix_search(one_api: Sandbox) -> None:
    with client_for(one_api) as c:
        for name, quota in (("ci-a", 5), ("ci-b", 50), ("other-ci", 20)):
            c.post("/api/token/", json={"name": name, "remain_quota": quota})
        by_quota = names(c.get("/api/token/", params={"p": 0, "order": "remain_quota"}))
        assert by_quota == ["ci-b", "other-ci", "ci-a"]
        found = c.get("/api/token/search", params={"keyword": "ci", "p": 1})
        assert names(found) == ["ci-a", "ci-b"]  # a prefix, all of them, no paging


@pytest.mark.parametrize(
    ("subnet", "message"),
    [
        ("203.0.113.7", f"{BAD_SUBNET}203.0.113.7"),
        ("10.0.0.0/8,bad", f"{BAD_SUBNET}bad"),
        ("10.0.0.0/8, 192.168.0.0/16", None),
    ],
)
def test_one_api_subnet_must_be_cidr(one_api: Sandbox, subnet: str, message: str | None) -> None:
    with client_for(one_api) as c:
        body = c.post("/api/token/", json={"name": "ip", "subnet": subnet}).json()
    if message is None:
        assert body["success"] is True and body["data"]["subnet"] == subnet
    else:
        assert body == {"message": message, "success": False}


def test_one_api_checks_names_in_bytes_but_never_quotas(one_api: Sandbox) -> None:
    with client_for(one_api) as c:
        too_long = c.post("/api/token/", json={"name": "令牌" * 5 + "x"}).json()  # 31 bytes
        assert too_long == {"message": "参数错误：令牌名称过长", "success": False}
        negative = c.post("/api/token/", json={"name": "n", "remain_quota": -5}).json()
        assert negative["data"]["remain_quota"] == -5
        partial = c.put("/api/token/", json={"id": negative["data"]["id"], "name": "m"}).json()
    assert (partial["data"]["models"], partial["data"]["subnet"]) == (None, None)
    assert partial["data"]["expired_time"] == 0


def test_one_api_has_no_groups_routes(one_api: Sandbox) -> None:
    with client_for(one_api) as c:
        assert c.get("/api/user/self/groups").status_code == 404
        auto = c.get("/api/token/auto-groups")
        assert auto.json() == {
            "message": 'strconv.Atoi: parsing "auto-groups": invalid syntax',
            "success": False,
        }
        created = c.post("/api/token/", json={"name": "g", "group": "vip"}).json()["data"]
        assert "group" not in created


# -- new-api generations --


def test_2025_10_no_quota_checks_chinese_30_byte_names(make_sandbox) -> None:
    sb = make_sandbox(profile="new-api-2025-10")
    with client_for(sb, headers={"Accept-Language": "en"}) as c:
        assert c.post("/api/token/", json={"name": "n" * 31}).json() == {
            "message": "令牌名称过长",
            "success": False,
        }
        assert c.post("/api/token/", json={"remain_quota": -5}).json()["success"] is True
        assert c.post("/api/token/batch", json={"ids": []}).json()["message"] == "参数错误"
        search = c.get("/api/token/search", params={"keyword": "", "token": ""}).json()
        assert isinstance(search["data"], list) and len(search["data"]) == 1


def test_2026_07_limits_and_messages(make_sandbox) -> None:
    sb = make_sandbox(profile="new-api-2026-07")
    with client_for(sb) as c:
        assert c.post("/api/token/", json={"name": "n" * 50}).json()["success"] is True
        huge = c.post("/api/token/", json={"remain_quota": 500_000_000_000_001}).json()
        assert huge["message"] == "Quota value exceeds valid range, maximum is 500000000000000"
        assert c.post("/api/token/", json={"remain_quota": 2**40}).json()["success"] is True
        zh = c.post("/api/token/", json={"remain_quota": -1}, headers={"Accept-Language": "zh"})
        assert zh.json()["message"] == "额度值不能为负数"
        found = c.get("/api/token/search", params={"keyword": "n" * 50}).json()["data"]
        assert (found["total"], found["page"]) == (1, 1)  # exact match, a page object
    assert sb.app.max_user_tokens == 1000


@pytest.mark.parametrize(
    ("profile", "cap"),
    [("one-api-2025-02", None), ("new-api-2025-10", None), ("new-api-2026-07", 1000)],
)
def test_token_cap_per_generation_and_max_tokens(
    make_sandbox, profile: str, cap: int | None
) -> None:
    assert make_sandbox(profile=profile).app.max_user_tokens == cap
    capped = make_sandbox(profile=profile, max_user_tokens=2, db_path=":memory:")
    capped.seed(2)
    with client_for(capped) as c:
        refused = c.post("/api/token/", json={"name": "third"}).json()
    assert refused["success"] is False and refused["message"] == "已达到最大令牌数量限制 (2)"


def test_field_sets_per_generation(make_sandbox) -> None:
    tails = {
        "one-api-2025-02": ["used_quota", "models", "subnet"],
        "new-api-2025-05": ["used_quota", "group", "DeletedAt"],
        "new-api-2025-10": ["used_quota", "group", "DeletedAt"],
        "new-api-2026-07": ["group", "cross_group_retry", "DeletedAt"],
        "new-api-2026-08": ["cross_group_retry", "DeletedAt", "auto_groups"],
        "new-api-2026-10": ["cross_group_retry", "DeletedAt", "auto_groups"],
    }
    assert set(tails) == set(PROFILES) and set(RECORDED) < set(PROFILES)
    for name, tail in tails.items():
        sb = make_sandbox(profile=name, db_path=":memory:")
        (token_id,) = sb.seed(1)
        assert list(sb.app.view(sb.store.token(token_id)))[-3:] == tail
