"""Unit tests of the client against single quirky responses (httpx.MockTransport)."""

from __future__ import annotations

import json

import httpx
import pytest

from provisioner.newapi.errors import (
    AmbiguousWriteError,
    AuthError,
    BusinessError,
    ConnectionFailedError,
    NotNewApiError,
    RateLimitedError,
    ServerError,
    UnreachableError,
    UnsupportedError,
)
from provisioner.secret import Secret
from tests.newapi.fakes import (
    CREDENTIAL,
    FULL_KEY,
    FakeClock,
    FakeServer,
    client_settings,
    fail,
    make_client,
    ok,
    open_and_list,
    token,
)

# ---------------------------------------------------------------- probe


def test_probe_learns_dialect_user_and_headers() -> None:
    server = FakeServer([token(1), token(2)])
    client = make_client(server)
    info = client.probe()
    assert info.version == "v0.12.0"
    assert info.list_shape == "page"
    assert info.keys_masked and info.reveal
    assert info.user_id == 1 and info.username == "root"
    assert client.probe() is info  # cached
    first, second = server.requests[0], server.requests[1]
    assert first.headers["Authorization"] == f"Bearer {CREDENTIAL}"
    assert "New-Api-User" not in first.headers
    assert first.headers["User-Agent"].startswith("provisioner/")
    assert first.headers["Accept"] == "application/json"
    assert second.url.path == "/api/user/self"
    third = server.requests[2]
    assert third.headers["New-Api-User"] == "1"  # learned from /api/user/self
    assert third.url.params["p"] == "1"
    assert not any(r.url.path == "/api/user/token" for r in server.requests)


def test_probe_html_page_is_not_newapi() -> None:
    server = FakeServer()
    server.on("GET /api/status", httpx.Response(200, text="<html><body>Welcome</body></html>"))
    with pytest.raises(NotNewApiError) as err:
        make_client(server).probe()
    assert "not the new-api API" in str(err.value)
    assert err.value.exit_code == 69


def test_probe_json_without_envelope_is_not_newapi() -> None:
    server = FakeServer()
    server.on("GET /api/status", httpx.Response(200, json={"status": "ok"}))
    with pytest.raises(NotNewApiError):
        make_client(server).probe()


def test_probe_404_status_is_not_newapi() -> None:
    server = FakeServer()
    server.on("GET /api/status", httpx.Response(404, text="Not Found"))
    with pytest.raises(NotNewApiError):
        make_client(server).probe()


def test_probe_connect_failure_is_unreachable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(UnreachableError) as err:
        make_client(refuse).probe()
    assert err.value.exit_code == 69


def test_probe_legacy_user_id_needed() -> None:
    server = FakeServer()
    server.on(
        "GET /api/user/self",
        fail("Unauthorized, New-Api-User header not provided", status=401),
    )
    with pytest.raises(AuthError) as err:
        make_client(server).probe()
    assert "NEWAPI_USER_ID" in str(err.value)
    assert err.value.exit_code == 77


def test_probe_wrong_configured_user_id() -> None:
    server = FakeServer()
    with pytest.raises(AuthError, match="NEWAPI_USER_ID"):
        make_client(server, user_id=7).probe()


def test_probe_array_dialect_and_unmasked_keys_mean_legacy() -> None:
    server = FakeServer([token(1, key=FULL_KEY)], list_shape="array")
    client = make_client(server, user_id=1)
    info = client.probe()
    assert info.list_shape == "array"
    assert not info.keys_masked and not info.reveal
    assert info.auth == "unknown"  # the user id was sent: header or bearer, either
    assert server.requests[0].headers["New-Api-User"] == "1"


def test_probe_auth_version_fingerprint() -> None:
    server = FakeServer()
    server.on(
        "GET /api/user/self",
        httpx.Response(
            200,
            json={"success": True, "message": "", "data": {"id": 1}},
            headers={"Auth-Version": "864b7076dbcd0a3c01b5520316720ebf"},
        ),
    )
    assert make_client(server).probe().fingerprint == "864b7076dbcd0a3c01b5520316720ebf"


def test_sk_credential_refused() -> None:
    from provisioner.newapi.client import NewApiClient

    with pytest.raises(AuthError, match="relay key"):
        NewApiClient("http://x.test", Secret("sk-" + FULL_KEY))


# ---------------------------------------------------------------- auth and envelopes


@pytest.mark.parametrize(
    "message",
    [
        "无权进行此操作，access token 无效",
        "Unauthorized, invalid access token",
        "无权进行此操作，未登录且未提供 access token",
    ],
)
def test_legacy_http_200_invalid_token_is_auth_error(message: str) -> None:
    server = FakeServer()
    server.on("GET /api/user/self", fail(message))
    with pytest.raises(AuthError) as err:
        make_client(server).probe()
    assert err.value.exit_code == 77
    assert CREDENTIAL not in str(err.value)


def test_401_with_code() -> None:
    server = FakeServer()
    server.on(
        "GET /api/user/self",
        fail("Unauthorized, invalid access token", status=401, code="AUTH_UNAUTHORIZED"),
    )
    with pytest.raises(AuthError) as err:
        make_client(server).probe()
    assert err.value.code == "AUTH_UNAUTHORIZED"
    assert err.value.status == 401
    assert "AUTH_UNAUTHORIZED" in str(err.value)


def test_403_is_auth_error() -> None:
    server = FakeServer()
    server.on("POST /api/token/", fail("forbidden", status=403, code="AUTH_INSUFFICIENT_PRIVILEGE"))
    client = make_client(server)
    with pytest.raises(AuthError) as err:
        client.create_token({"name": "x"})
    assert err.value.status == 403


def test_business_error_carries_server_message() -> None:
    server = FakeServer()
    server.on("POST /api/token/", fail("令牌名称过长"))
    with pytest.raises(BusinessError, match="令牌名称过长"):
        make_client(server).create_token({"name": "x" * 60})


def test_truncated_json_is_server_error_after_probe() -> None:
    server = FakeServer()
    server.on(
        "GET /api/token/5", httpx.Response(200, text='{"success": true, "data": {"id": 5, "na')
    )
    client = make_client(server)
    with pytest.raises(ServerError, match="not the new-api API") as err:
        client.get_token(5)
    assert '{"success": true' in str(err.value)


def test_proxy_error_page_is_server_error() -> None:
    server = FakeServer()
    html = "<html>\n<head><title>502 Bad Gateway</title></head>" + "x" * 500
    server.always("GET /api/token/5", lambda r: httpx.Response(502, text=html))
    clock = FakeClock()
    client = make_client(server, clock=clock)
    with pytest.raises(ServerError) as err:
        client.get_token(5)
    assert "502" in str(err.value)
    assert len(str(err.value)) < 250
    assert "\n" not in str(err.value)


def test_validation_error_becomes_server_error() -> None:
    server = FakeServer()
    server.on("GET /api/token/5", ok(token(5, remain_quota="lots")))
    with pytest.raises(ServerError, match="remain_quota"):
        make_client(server).get_token(5)


def test_negative_huge_and_unknown_fields_tolerated() -> None:
    record = token(5, remain_quota=-12000, used_quota=10**20, rpm_limit=60, concurrency=3)
    record["DeletedAt"] = None
    server = FakeServer([record])
    tokens = make_client(server).list_tokens()
    assert tokens[0].remain_quota == -12000
    assert tokens[0].used_quota == 10**20


# ---------------------------------------------------------------- redirects


def test_cross_origin_redirect_not_followed() -> None:
    seen_hosts: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen_hosts.append(request.url.host)
        if request.url.host == "evil.test":
            return ok({"version": "x"})
        return httpx.Response(302, headers={"Location": "https://evil.test/api/status"})

    with pytest.raises(NotNewApiError, match=r"evil\.test"):
        make_client(handler).probe()
    assert seen_hosts == ["newapi.test"]


def test_same_origin_redirect_followed_once() -> None:
    server = FakeServer()
    server.on(
        "DELETE /api/token/7",
        httpx.Response(307, headers={"Location": "/api/token/7/"}),
    )
    server.on("DELETE /api/token/7/", ok())
    client = make_client(server)
    client.delete_token(7)
    last = server.requests[-1]
    assert last.url.path == "/api/token/7/"
    assert last.headers["Authorization"] == f"Bearer {CREDENTIAL}"
    assert client.request_counts["DELETE /api/token/:id"] == 2


# ---------------------------------------------------------------- retries


def test_429_with_retry_after_waits_that_long() -> None:
    server = FakeServer()
    server.on(
        "GET /api/token/3",
        httpx.Response(429, headers={"Retry-After": "7"}),
        ok(token(3)),
    )
    clock = FakeClock()
    client = make_client(server, clock=clock)
    client.probe()
    assert client.get_token(3).id == 3
    assert clock.sleeps == [7.0]


def test_429_without_retry_after_pauses_and_doubles() -> None:
    # Servers before 2026-07-21 send no Retry-After: pause every request, 2 s then 4 s...
    server = FakeServer()
    server.on(
        "GET /api/token/3",
        httpx.Response(429),
        httpx.Response(429),
        ok(token(3)),
    )
    clock = FakeClock()
    waits: list[tuple[float, str]] = []
    client = make_client(server, clock=clock, on_wait=lambda s, why: waits.append((s, why)))
    client.probe()
    client.get_token(3)
    assert clock.sleeps == [2.0, 4.0]
    assert [w for w, _ in waits] == [2.0, 4.0] and "429" in waits[0][1]


def test_retry_after_beyond_the_retry_budget_is_waited_for() -> None:
    # Waiting for the rate limit is not failing: the retry budget bounds failures only.
    server = FakeServer()
    server.on("GET /api/token/3", httpx.Response(429, headers={"Retry-After": "600"}), ok(token(3)))
    clock = FakeClock()
    client = make_client(server, clock=clock, max_retry_time=60)
    client.probe()
    assert client.get_token(3).id == 3
    assert clock.sleeps == [600.0]
    assert client.request_counts["GET /api/token/:id"] == 2


def test_endless_429s_give_up_after_the_rate_limit_wait_bound() -> None:
    server = FakeServer()
    server.always("GET /api/token/3", lambda r: httpx.Response(429, headers={"Retry-After": "600"}))
    clock = FakeClock()
    client = make_client(server, clock=clock)
    client.probe()
    with pytest.raises(RateLimitedError) as err:
        client.get_token(3)
    assert "30 min" in str(err.value)
    assert sum(clock.sleeps) == 1800.0


def test_retry_after_http_date() -> None:
    import time as _time
    from email.utils import formatdate

    server = FakeServer()
    server.on(
        "GET /api/token/3",
        httpx.Response(429, headers={"Retry-After": formatdate(_time.time() + 300, usegmt=True)}),
        ok(token(3)),
    )
    clock = FakeClock()
    client = make_client(server, clock=clock)
    client.get_token(3)
    # the date is in whole seconds, and a loaded machine may take a while to get here
    assert 240.0 <= clock.sleeps[0] <= 300.0


@pytest.mark.parametrize("status", [502, 503, 504, 500])
def test_gateway_errors_retried_then_success(status: int) -> None:
    server = FakeServer()
    server.on("GET /api/token/3", httpx.Response(status), httpx.Response(status), ok(token(3)))
    clock = FakeClock()
    client = make_client(server, clock=clock)
    client.probe()
    assert client.get_token(3).id == 3
    assert client.request_counts["GET /api/token/:id"] == 3
    assert len(clock.sleeps) == 2


def test_retry_attempts_exhausted() -> None:
    server = FakeServer()
    server.always("GET /api/token/3", lambda r: httpx.Response(503))
    clock = FakeClock()
    client = make_client(server, clock=clock, max_attempts=4)
    client.probe()
    with pytest.raises(ServerError) as err:
        client.get_token(3)
    assert err.value.status == 503
    assert client.request_counts["GET /api/token/:id"] == 4


def test_retry_time_budget_exhausted() -> None:
    server = FakeServer()
    server.always("GET /api/token/3", lambda r: httpx.Response(503))
    clock = FakeClock()
    client = make_client(server, clock=clock, max_attempts=50, max_retry_time=5)
    client.probe()
    with pytest.raises(ServerError):
        client.get_token(3)
    assert 0 < sum(clock.sleeps) <= 5


def test_500_retried_fewer_times() -> None:
    server = FakeServer()
    server.always(
        "GET /api/token/3", lambda r: httpx.Response(500, json={"success": False, "message": "db"})
    )
    client = make_client(server, max_attempts=5)
    client.probe()
    with pytest.raises(ServerError, match="db"):
        client.get_token(3)
    assert client.request_counts["GET /api/token/:id"] == 3


def test_timeouts_retried_then_network_error() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    server = FakeServer()
    server.always("GET /api/token/3", slow)
    client = make_client(server, max_attempts=3)
    client.probe()
    with pytest.raises(ConnectionFailedError, match="timeout"):
        client.get_token(3)
    assert client.request_counts["GET /api/token/:id"] == 3


def test_put_dropped_connection_retried() -> None:
    def drop(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("Server disconnected", request=request)

    server = FakeServer()
    server.on("PUT /api/token/", drop, ok(token(3, name="new")))
    client = make_client(server)
    assert client.update_token({"id": 3, "name": "new"}).name == "new"
    assert client.request_counts["PUT /api/token/"] == 2


# ---------------------------------------------------------------- create is never re-sent


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.ReadError("reset"),
        httpx.WriteError("broken pipe"),
    ],
)
def test_create_not_resent_on_ambiguous_failure(failure: Exception) -> None:
    def boom(request: httpx.Request) -> httpx.Response:
        raise failure

    server = FakeServer()
    server.always("POST /api/token/", boom)
    client = make_client(server)
    with pytest.raises(AmbiguousWriteError, match="re-list"):
        client.create_token({"name": "ci"})
    assert client.request_counts["POST /api/token/"] == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_create_not_resent_on_5xx(status: int) -> None:
    server = FakeServer()
    server.always("POST /api/token/", lambda r: httpx.Response(status))
    client = make_client(server)
    with pytest.raises(AmbiguousWriteError):
        client.create_token({"name": "ci"})
    assert client.request_counts["POST /api/token/"] == 1


def test_create_retried_when_connection_never_opened() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    server = FakeServer()
    server.on("POST /api/token/", refuse, ok())
    client = make_client(server)
    client.create_token({"name": "ci", "key": "x", "status": 2})
    assert client.request_counts["POST /api/token/"] == 2
    sent = json.loads(server.requests[-1].content)
    assert sent == {"name": "ci"}


def test_create_retried_after_429() -> None:
    server = FakeServer()
    server.on("POST /api/token/", httpx.Response(429, headers={"Retry-After": "1"}), ok())
    client = make_client(server)
    client.create_token({"name": "ci"})
    assert client.request_counts["POST /api/token/"] == 2


# ---------------------------------------------------------------- paging


def test_page_objects_stop_at_total() -> None:
    server = FakeServer([token(i) for i in range(1, 251)])
    client = make_client(server)
    tokens = open_and_list(client)
    assert [t.id for t in tokens] == list(range(250, 0, -1))
    # probe page 1 is reused: pages 1, 2, 3 only
    assert client.request_counts["GET /api/token/"] == 3


def test_page_objects_exact_multiple_stop_at_total() -> None:
    server = FakeServer([token(i) for i in range(1, 201)])
    client = make_client(server)
    assert len(open_and_list(client)) == 200
    assert client.request_counts["GET /api/token/"] == 2


def test_page_objects_short_page_stops_without_total() -> None:
    tokens = [token(i) for i in range(1, 131)]

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path != "/api/token/":
            return FakeServer().default(request, f"{request.method} {request.url.path}")
        p = int(request.url.params["p"])
        rows = sorted(tokens, key=lambda t: -t["id"])[(p - 1) * 100 : p * 100]
        return ok({"page": p, "page_size": 100, "items": rows})

    client = make_client(handler)
    assert len(open_and_list(client)) == 130
    assert client.request_counts["GET /api/token/"] == 2


def test_page_dialect_never_starts_at_p0() -> None:
    server = FakeServer([token(i) for i in range(1, 151)])
    client = make_client(server)
    open_and_list(client)
    pages = [r.url.params["p"] for r in server.requests if r.url.path == "/api/token/"]
    assert pages == ["1", "2"]


def test_bare_arrays_start_at_p0_and_stop_at_empty_page() -> None:
    server = FakeServer([token(i, key=f"{i:048d}") for i in range(1, 231)], list_shape="array")
    client = make_client(server, user_id=1)
    tokens = open_and_list(client)
    assert len(tokens) == 230
    pages = [r.url.params["p"] for r in server.requests if r.url.path == "/api/token/"]
    assert pages == ["1", "0", "1", "2", "3"]  # probe p=1, re-read p=0, then on to empty


def test_one_api_fixed_ten_row_pages() -> None:
    server = FakeServer(
        [token(i, key=f"{i:048d}") for i in range(1, 36)], list_shape="array", fixed_page_size=10
    )
    client = make_client(server, user_id=1)
    tokens = client.list_tokens()
    assert len(tokens) == 35  # a short-page rule would have stopped after 10
    assert all("*" in t.key for t in tokens)


def test_user_id_filtering() -> None:
    server = FakeServer([token(1), token(2, user_id=9), token(3, user_id=0), token(4)])
    tokens = make_client(server).list_tokens()
    assert sorted(t.id for t in tokens) == [1, 3, 4]


def test_legacy_full_keys_kept_private_and_reveal_needs_no_request() -> None:
    server = FakeServer([token(1, key=FULL_KEY)], list_shape="page")
    client = make_client(server, user_id=1)
    tokens = client.list_tokens()
    assert FULL_KEY not in tokens[0].key and "*" in tokens[0].key
    assert FULL_KEY not in repr(tokens) and FULL_KEY not in tokens[0].model_dump_json()
    before = client.request_count
    keys = client.reveal_keys([1, 99])
    assert keys == {1: Secret(FULL_KEY)}
    assert client.request_count == before


# ---------------------------------------------------------------- reveal and delete fallbacks


def test_batch_reveal_chunks_of_100() -> None:
    server = FakeServer([token(1)])
    client = make_client(server)
    keys = client.reveal_keys(range(1, 251))
    assert len(keys) == 250
    assert client.request_counts["POST /api/token/batch/keys"] == 3
    assert all(isinstance(v, Secret) for v in keys.values())


def test_reveal_404_falls_back_to_single_route() -> None:
    server = FakeServer([token(1), token(2)])
    server.always(
        "POST /api/token/batch/keys",
        lambda r: httpx.Response(
            404,
            json={
                "error": {
                    "message": "Invalid URL (POST /api/token/batch/keys)",
                    "type": "invalid_request_error",
                    "param": "",
                    "code": "",
                }
            },
        ),
    )
    server.on("POST /api/token/1/key", ok({"key": FULL_KEY}))
    server.on("POST /api/token/2/key", fail("record not found"))
    client = make_client(server)
    keys = client.reveal_keys([1, 2])
    assert keys == {1: Secret(FULL_KEY)}


def test_reveal_missing_everywhere_is_unsupported() -> None:
    server = FakeServer([token(1)])
    client = make_client(server)
    server.on("POST /api/token/batch/keys", httpx.Response(404, json={"error": {"message": "x"}}))
    with pytest.raises(UnsupportedError) as err:
        client.reveal_keys([1])
    assert err.value.exit_code == 69


def test_batch_delete_falls_back_on_404() -> None:
    server = FakeServer()
    server.on("DELETE /api/token/1", ok())
    server.on("DELETE /api/token/2", fail("record not found"))
    server.on("DELETE /api/token/3", ok())
    client = make_client(server)
    assert client.delete_tokens([1, 2, 3]) == 2
    assert client.info is not None and not client.info.batch_delete


def test_batch_delete_count() -> None:
    server = FakeServer()
    server.on("POST /api/token/batch", ok(2))
    client = make_client(server)
    assert client.delete_tokens([1, 2, 999]) == 2
    assert json.loads(server.requests[-1].content) == {"ids": [1, 2, 999]}
    assert client.delete_tokens([]) == 0


def test_update_strips_key_and_status_and_set_status_uses_status_only() -> None:
    server = FakeServer()
    server.always("PUT /api/token/", lambda r: ok(token(3, status=2)))
    client = make_client(server)
    client.update_token({"id": 3, "name": "n", "key": "abcd**********wxyz", "status": 1})
    body = json.loads(server.requests[-1].content)
    assert body == {"id": 3, "name": "n"}
    client.set_status(3, 2)
    last = server.requests[-1]
    assert last.url.params["status_only"] == "true"
    assert json.loads(last.content) == {"id": 3, "status": 2}
    assert client.request_counts["PUT /api/token/"] == 2


def test_groups_and_auto_groups() -> None:
    server = FakeServer()
    client = make_client(server)
    groups = client.user_groups()
    assert groups["auto"]["ratio"] == "自动"
    assert client.auto_groups() is None  # 404
    server.on(
        "GET /api/token/auto-groups", fail('strconv.Atoi: parsing "auto-groups": invalid syntax')
    )
    assert client.auto_groups() is None
    server.always(
        "GET /api/token/auto-groups", lambda r: ok({"groups": ["vip", "default"], "max_count": 5})
    )
    assert make_client(server).auto_groups() == ["vip", "default"]


# ---------------------------------------------------------------- counting, pacing, secrecy


def test_request_counts_and_callback() -> None:
    calls: list[tuple[str, str, int]] = []
    server = FakeServer([token(1)])
    client = make_client(server, on_request=lambda m, r, s, t: calls.append((m, r, s)))
    open_and_list(client)
    assert client.request_counts == {
        "GET /api/status": 1,
        "GET /api/user/self": 1,
        "GET /api/token/": 1,
    }
    assert client.request_count == 3
    assert calls[0] == ("GET", "GET /api/status", 200)


def test_pacing_spaces_requests_beyond_the_window() -> None:
    server = FakeServer([token(1)])
    clock = FakeClock()
    client = make_client(server, clock=clock, rate_limit=(5, 10.0))
    client.probe()  # 3 requests
    client.user_groups()
    client.user_groups()
    assert clock.sleeps == []  # a burst of 5 goes straight through
    client.user_groups()
    assert clock.sleeps == [pytest.approx(10.1)]  # the window, and a margin for the server's stamp


def test_pacing_waits_for_the_reveal_window_and_says_so() -> None:
    server = FakeServer()
    clock = FakeClock()
    waits: list[tuple[float, str]] = []
    client = make_client(
        server,
        clock=clock,
        rate_limit=(1000, 10.0),
        critical_rate_limit=(2, 1200.0),
        on_wait=lambda s, why: waits.append((s, why)),
    )
    client.reveal_keys([1])
    client.reveal_keys([2])
    assert clock.sleeps == []
    client.reveal_keys([3])  # waits for the window instead of failing
    assert clock.sleeps == [pytest.approx(1206.05)]  # 20 min, and a margin
    assert waits == [(pytest.approx(1206.05), "the rate limit for key reveals (2 per 20 min)")]


def test_429_pauses_the_limiter() -> None:
    server = FakeServer()
    server.on(
        "GET /api/user/self/groups", httpx.Response(429, headers={"Retry-After": "3"}), ok({})
    )
    clock = FakeClock()
    client = make_client(server, clock=clock, rate_limit=(100, 10.0))
    client.user_groups()
    assert clock.sleeps == [3.0]


def test_no_secret_in_any_error_message() -> None:
    leaky = f'{{"success": false, "message": "bad token {CREDENTIAL} key {FULL_KEY}"}}'
    server = FakeServer()
    server.on("GET /api/token/3", httpx.Response(200, text=leaky))
    server.on("GET /api/token/4", httpx.Response(200, text="oops " + CREDENTIAL + FULL_KEY))
    client = make_client(server)
    for token_id in (3, 4):
        with pytest.raises(Exception) as err:
            client.get_token(token_id)
        text = str(err.value) + repr(err.value)
        assert CREDENTIAL not in text
        assert FULL_KEY not in text
    assert CREDENTIAL not in repr(client.__dict__)


@pytest.mark.parametrize("concurrency", [1, 4])
def test_listing_same_result_sequential_or_concurrent(concurrency: int) -> None:
    server = FakeServer([token(i) for i in range(1, 1001)])
    client = make_client(server, concurrency=concurrency)
    assert [t.id for t in open_and_list(client)] == list(range(1000, 0, -1))
    assert client.request_counts["GET /api/token/"] == 10


def test_tokens_created_while_listing_are_not_lost_or_doubled() -> None:
    server = FakeServer([token(i) for i in range(1, 201)])
    client = make_client(server, concurrency=1)
    client.probe()  # page 1 seen: 200..101
    server.tokens = sorted([token(i) for i in range(1, 202)], key=lambda t: -t["id"])
    ids = [t.id for t in client.list_tokens()]
    assert len(ids) == len(set(ids))
    assert set(ids) >= set(range(1, 201))


def test_base_url_with_path_prefix() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return FakeServer().default(
            request, f"{request.method} {request.url.path.removeprefix('/gw')}"
        )

    from provisioner.newapi.client import NewApiClient

    client = NewApiClient(
        "http://newapi.test/gw/",
        Secret(CREDENTIAL),
        settings=client_settings(http=httpx.MockTransport(handler)),
    )
    client.probe()
    assert seen[:2] == ["/gw/api/status", "/gw/api/user/self"]


def test_url_with_api_suffix_is_explained() -> None:
    server = FakeServer()
    server.on("GET /api/status", httpx.Response(404, text="404 page not found"))
    with pytest.raises(NotNewApiError, match="without /api"):
        make_client(server).probe()


def test_redirect_without_query_keeps_status_only() -> None:
    server = FakeServer()
    server.on("PUT /api/token/", httpx.Response(307, headers={"Location": "/api/token/x/"}))
    server.on("PUT /api/token/x/", lambda r: ok(token(3, status=2)))
    client = make_client(server)
    client.set_status(3, 2)
    assert server.requests[-1].url.params["status_only"] == "true"
