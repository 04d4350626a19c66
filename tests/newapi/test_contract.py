"""Contract tests: the client against the real sandbox over HTTP on loopback.

Every route in both auth generations and both list shapes, and each injected
fault (docs/server-contract.md#rate-limits, docs/server-contract.md#pitfalls; issue 2 "Must show").
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from provisioner.newapi.client import NewApiClient
from provisioner.newapi.errors import (
    AmbiguousWriteError,
    AuthError,
    BusinessError,
    ConnectionFailedError,
    NotNewApiError,
    RateLimitedError,
    UnreachableError,
)
from provisioner.newapi.transport import Call
from provisioner.sandbox import Sandbox
from provisioner.secret import Secret
from tests.newapi.fakes import client_settings

DIALECTS = [("bearer", "page"), ("bearer", "array"), ("legacy", "page"), ("legacy", "array")]


class Sleeps:
    """A sleep that is recorded, not slept (the tests stay fast), and the clock it moves."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self.now = 1000.0

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


@pytest.fixture(params=DIALECTS, ids=[f"{a}-{s}" for a, s in DIALECTS])
def sandbox(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Sandbox]:
    auth, shape = request.param
    sb = Sandbox(db_path=tmp_path / "s.db", auth=auth, list_shape=shape).start(port=0)
    try:
        yield sb
    finally:
        sb.stop()


@pytest.fixture
def bearer(tmp_path: Path) -> Iterator[Sandbox]:
    sb = Sandbox(db_path=tmp_path / "s.db", auth="bearer", list_shape="page").start(port=0)
    try:
        yield sb
    finally:
        sb.stop()


def connect(sb: Sandbox, **kwargs: object) -> NewApiClient:
    kwargs.setdefault("sleep", Sleeps())
    user_id = kwargs.pop("user_id", sb.user_id)
    settings = client_settings(**kwargs)  # type: ignore[arg-type]
    return NewApiClient(sb.url, Secret(sb.credential), user_id, settings=settings)  # type: ignore[arg-type]


def live_rows(sb: Sandbox) -> list[dict[str, object]]:
    return [r for r in sb.rows() if r["user_id"] == sb.user_id]


# ------------------------------------------------------------------ every route, every dialect


def test_every_route(sandbox: Sandbox) -> None:
    sandbox.seed(230)
    with connect(sandbox) as client:
        info, first = client.open()
        assert info.user_id == sandbox.user_id
        assert info.quota_per_unit == 500000
        assert info.version
        listed = client.list_tokens(first)
        assert len(listed) == 230
        assert [t.id for t in listed] == sorted((t.id for t in listed), reverse=True)
        assert all("*" in t.key for t in listed)
        assert client.request_counts["GET /api/token/"] == (3 if info.list_shape == "page" else 5)

        client.create_token({"name": "ci-bot", "unlimited_quota": True, "expired_time": -1})
        created = [t for t in client.list_tokens() if t.name == "ci-bot"]
        assert len(created) == 1
        token = created[0]
        assert token.status == 1 and token.expired_time == -1

        keys = client.reveal_keys([token.id, 999_999])
        assert list(keys) == [token.id]
        secret = keys[token.id]
        assert isinstance(secret, Secret) and len(secret.reveal()) == 48
        stored = next(r for r in sandbox.rows() if r["id"] == token.id)
        assert stored["key"] == secret.reveal()

        assert client.get_token(token.id).name == "ci-bot"
        body = {**token.write_fields(), "name": "ci-bot-2", "remain_quota": 5000}
        updated = client.update_token({**body, "key": "abcd**********wxyz", "status": 2})
        assert updated.name == "ci-bot-2" and updated.status == 1
        assert client.set_status(token.id, 2).status == 2

        groups = client.user_groups()
        assert "default" in groups
        auto = client.auto_groups()
        assert auto is None or isinstance(auto, list)

        with pytest.raises(BusinessError):
            client.create_token({"name": "x" * 51})
        with pytest.raises(BusinessError, match="record not found"):
            client.get_token(999_999)

        client.delete_token(token.id)
        first_two = [t.id for t in listed[:2]]
        assert client.delete_tokens([*first_two, 999_999]) == 2
        remaining = {t.id for t in client.list_tokens()}
        assert token.id not in remaining and not remaining & set(first_two)
        assert len(live_rows(sandbox)) == 228
        assert "GET /api/user/token" not in client.request_counts
        assert not any(path.startswith("/api/user/token") for _, path, _ in sandbox.requests)


def test_wrong_credential_is_auth_error(sandbox: Sandbox) -> None:
    client = NewApiClient(
        sandbox.url,
        Secret("not-the-credential-0123456789"),
        sandbox.user_id,
        settings=client_settings(),
    )
    with client, pytest.raises(AuthError) as err:
        client.probe()
    assert err.value.exit_code == 77
    assert "not-the-credential" not in str(err.value)


def test_user_id_requirement(tmp_path: Path) -> None:
    for auth in ("legacy", "bearer"):
        sb = Sandbox(db_path=tmp_path / f"{auth}.db", auth=auth).start(port=0)
        try:
            with connect(sb, user_id=None) as client:
                if auth == "legacy":
                    with pytest.raises(AuthError, match="NEWAPI_USER_ID"):
                        client.probe()
                else:
                    assert client.probe().user_id == sb.user_id  # learned from /api/user/self
                    assert client.probe().auth == "bearer"
        finally:
            sb.stop()


def test_not_a_newapi_server_and_unreachable(bearer: Sandbox) -> None:
    client = NewApiClient(bearer.url + "/v1", Secret(bearer.credential), settings=client_settings())
    with client, pytest.raises(NotNewApiError):
        client.probe()
    bearer_url = bearer.url
    bearer.stop()
    client = NewApiClient(bearer_url, Secret("x" * 32), settings=client_settings(sleep=Sleeps()))
    with client, pytest.raises(UnreachableError):
        client.probe()


def test_trailing_slash_redirect_followed_same_origin(bearer: Sandbox) -> None:
    [token_id] = bearer.seed(1)
    with connect(bearer) as client:
        client.probe()
        # The UI's form (docs/server-contract.md#routes): the server answers 307 to /api/token/:id.
        client._call(Call("DELETE", "DELETE /api/token/:id", f"/api/token/{token_id}/"))
    assert live_rows(bearer) == []


# ------------------------------------------------------------------ faults


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_status_faults_on_reads_are_retried(bearer: Sandbox, status: int) -> None:
    bearer.seed(120)
    sleeps = Sleeps()
    with connect(bearer, sleep=sleeps, clock=sleeps.clock) as client:
        client.probe()
        bearer.inject(route="GET /api/token/", status=status, times=2, retry_after=1)
        assert len(client.list_tokens()) == 120
        assert (
            client.request_counts["GET /api/token/"] == 1 + 2 + 2
        )  # the probe's page, 2 refused, pages 1 and 2
        assert len(sleeps.waits) == 2
        if status == 429:
            assert sleeps.waits == [1.0, 1.0]


def test_status_fault_beyond_attempts_is_mapped(bearer: Sandbox) -> None:
    with connect(bearer, max_attempts=3) as client:
        client.probe()
        bearer.inject(route="GET /api/token/:id", status=503, times=10)
        with pytest.raises(Exception) as err:
            client.get_token(1)
        assert type(err.value).__name__ == "ServerError"
        assert client.request_counts["GET /api/token/:id"] == 3


def test_retry_after_beyond_the_retry_budget_is_waited_for(bearer: Sandbox) -> None:
    sleeps = Sleeps()
    with connect(bearer, sleep=sleeps, clock=sleeps.clock, max_retry_time=30) as client:
        client.probe()
        bearer.inject(route="GET /api/user/self/groups", status=429, times=5, retry_after=120)
        assert "default" in (client.user_groups() or {})
        assert sleeps.waits == [120.0] * 5


def test_drop_before_on_put_is_retried(bearer: Sandbox) -> None:
    [token_id] = bearer.seed(1)
    with connect(bearer) as client:
        token = client.get_token(token_id)
        bearer.inject(route="PUT /api/token/", drop="before", times=1)
        updated = client.update_token({**token.write_fields(), "name": "renamed"})
        assert updated.name == "renamed"
        assert client.request_counts["PUT /api/token/"] == 2
    assert live_rows(bearer)[0]["name"] == "renamed"


def test_drop_after_on_create_is_ambiguous_and_not_resent(bearer: Sandbox) -> None:
    with connect(bearer) as client:
        client.probe()
        bearer.inject(route="POST /api/token/", drop="after", times=1)
        with pytest.raises(AmbiguousWriteError, match="re-list"):
            client.create_token({"name": "once", "unlimited_quota": True})
        assert client.request_counts["POST /api/token/"] == 1
        # The create did commit: exactly one token, which a re-list finds.
        assert [t.name for t in client.list_tokens()] == ["once"]
    assert [r["name"] for r in live_rows(bearer)] == ["once"]
    posts = [r for r in bearer.requests if r[0] == "POST" and r[1] == "/api/token/"]
    assert len(posts) == 1


def test_drop_before_on_create_is_ambiguous_and_nothing_created(bearer: Sandbox) -> None:
    with connect(bearer) as client:
        client.probe()
        bearer.inject(route="POST /api/token/", drop="before", times=1)
        with pytest.raises(AmbiguousWriteError):
            client.create_token({"name": "maybe"})
        assert client.list_tokens() == []


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_on_create_is_ambiguous(bearer: Sandbox, status: int) -> None:
    with connect(bearer) as client:
        client.probe()
        bearer.inject(route="POST /api/token/", status=status, times=1)
        with pytest.raises(AmbiguousWriteError):
            client.create_token({"name": "x"})
        assert client.request_counts["POST /api/token/"] == 1


def test_429_on_create_is_retried_once_created(bearer: Sandbox) -> None:
    with connect(bearer) as client:
        client.probe()
        bearer.inject(route="POST /api/token/", status=429, times=1, retry_after=1)
        client.create_token({"name": "paced", "unlimited_quota": True})
        assert client.request_counts["POST /api/token/"] == 2
    assert [r["name"] for r in live_rows(bearer)] == ["paced"]


def test_latency_beyond_timeout_is_network_error(bearer: Sandbox) -> None:
    with connect(bearer, timeout=0.2, max_attempts=2) as client:
        client.probe()
        bearer.inject(route="GET /api/token/:id", latency=0.6, times=2)
        with pytest.raises(ConnectionFailedError, match="timeout"):
            client.get_token(1)
        assert client.request_counts["GET /api/token/:id"] == 2


def test_reveal_faults_are_retried(bearer: Sandbox) -> None:
    ids = bearer.seed(3)
    with connect(bearer) as client:
        client.probe()
        bearer.inject(route="POST /api/token/batch/keys", status=502, times=1)
        assert set(client.reveal_keys(ids)) == set(ids)
        assert client.request_counts["POST /api/token/batch/keys"] == 2


def test_server_rate_limit_429_honoured(tmp_path: Path) -> None:
    sb = Sandbox(
        db_path=tmp_path / "rl.db", rate_limits=True, limits={"critical": (2, 1200.0)}
    ).start(port=0)
    try:
        ids = sb.seed(2)
        with connect(sb, max_retry_time=5) as client:
            client.reveal_keys(ids[:1])
            client.reveal_keys(ids[1:])
            with pytest.raises(RateLimitedError) as err:
                client.reveal_keys(ids)
            assert err.value.retry_after is not None and err.value.retry_after > 5
    finally:
        sb.stop()
