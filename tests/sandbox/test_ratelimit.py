"""Rate limits with tiny, configurable limits and the sandbox clock; defaults per generation."""

from __future__ import annotations

import httpx
import pytest

from provisioner.sandbox import Sandbox
from tests.sandbox.helpers import client_for


def test_off_by_default(sb: Sandbox, client: httpx.Client) -> None:
    assert all(client.get("/api/status").status_code == 200 for _ in range(30))


def test_global_sliding_window_rejected_not_counted(make_sandbox) -> None:
    sb: Sandbox = make_sandbox(rate_limits=True, limits={"global": (3, 100)})
    with client_for(sb) as c:
        assert [c.get("/api/token/").status_code for _ in range(3)] == [200] * 3
        rejected = c.get("/api/status")
        assert rejected.status_code == 429 and rejected.content == b""
        assert 99 <= int(rejected.headers["retry-after"]) <= 100
        assert c.get("/api/nope").status_code == 404  # unrouted: not limited
        sb.advance(50)
        again = c.get("/api/token/")  # still blocked; the rejections did not count
        assert again.status_code == 429 and 49 <= int(again.headers["retry-after"]) <= 50
        sb.advance(51)
        assert [c.get("/api/token/").status_code for _ in range(4)] == [200, 200, 200, 429]


def test_search_limit_per_user(make_sandbox) -> None:
    sb: Sandbox = make_sandbox(rate_limits=True, limits={"search": (2, 60)})
    other = sb.store.user(2)
    assert other is not None
    with client_for(sb) as c, client_for(sb, headers={"Authorization": other["access_token"]}) as o:
        codes = [c.get("/api/token/search", params={"keyword": "x"}).status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        assert c.get("/api/token/").status_code == 200  # only search is limited
        assert o.get("/api/token/search").status_code == 200  # another user's budget
        sb.advance(61)
        assert c.get("/api/token/search").status_code == 200


def test_critical_limit_shared_by_reveal_routes(make_sandbox) -> None:
    sb: Sandbox = make_sandbox(rate_limits=True, limits={"critical": (3, 1200)})
    ids = sb.seed(2)
    with client_for(sb) as c:
        assert c.post(f"/api/token/{ids[0]}/key").status_code == 200
        assert c.post("/api/token/batch/keys", json={"ids": ids}).status_code == 200
        assert c.post(f"/api/token/{ids[1]}/key").status_code == 200
        blocked = c.post("/api/token/batch/keys", json={"ids": ids})
        assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 1000
        assert c.get(f"/api/token/{ids[0]}").status_code == 200


@pytest.mark.parametrize(
    ("profile", "global_limit", "search"),
    [
        ("one-api-2025-02", (480, 180), False),
        ("new-api-2025-10", (180, 180), False),
        ("new-api-2026-07", (360, 180), True),
        ("new-api-2026-08", (360, 180), True),
    ],
)
def test_default_limits_per_generation(
    make_sandbox, profile: str, global_limit: tuple[int, int], search: bool
) -> None:
    limiters = make_sandbox(profile=profile, rate_limits=True).app.limiters
    assert (limiters["global"].limit, limiters["global"].window) == global_limit
    assert (limiters["critical"].limit, limiters["critical"].window) == (20, 1200)
    assert ("search" in limiters) is search
    if search:
        assert (limiters["search"].limit, limiters["search"].window) == (10, 60)


@pytest.mark.parametrize(
    ("profile", "sends"), [("new-api-2026-07", False), ("new-api-2026-08", True)]
)
def test_retry_after_only_from_2026_07_21(make_sandbox, profile: str, sends: bool) -> None:
    sb: Sandbox = make_sandbox(profile=profile, rate_limits=True, limits={"global": (2, 60)})
    with client_for(sb) as c:
        assert [c.get("/api/status").status_code for _ in range(2)] == [200, 200]
        refused = c.get("/api/token/")
    assert refused.status_code == 429 and refused.content == b""
    assert ("retry-after" in refused.headers) is sends


def test_search_is_not_limited_before_2026(make_sandbox) -> None:
    sb: Sandbox = make_sandbox(profile="new-api-2025-10", rate_limits=True)
    with client_for(sb) as c:
        assert {c.get("/api/token/search").status_code for _ in range(12)} == {200}


def test_relay_routes_are_not_under_the_api_limit(make_sandbox) -> None:
    sb: Sandbox = make_sandbox(rate_limits=True, limits={"global": (1, 60)})
    (token_id,) = sb.seed(1)
    key = next(r["key"] for r in sb.rows() if r["id"] == token_id)
    with client_for(sb) as c:
        assert c.get("/api/status").status_code == 200
        assert c.get("/api/status").status_code == 429
    relay = httpx.Client(base_url=sb.url, headers={"Authorization": f"Bearer sk-{key}"})
    with relay:
        assert {relay.get("/v1/models").status_code for _ in range(3)} == {200}
