"""Pacing: the sliding window, and a client that learns the server's limit from its first 429.

Unit tests on a fake clock (no real waits); tests/e2e/test_big_applies.py runs the same
story against the sandbox's real limiter.
"""

from __future__ import annotations

import math

import httpx
import pytest

from provisioner.newapi.ratelimit import (
    LEARN,
    SlidingWindowLimiter,
    generation_limit,
)
from provisioner.newapi.retry import RetryPolicy
from provisioner.observed import ServerInfo
from tests.newapi.fakes import FakeClock, FakeServer, make_client, ok, token

GENERATION = (180, 180.0)


def _limiter(clock: FakeClock, limit: int | None = None, window: float = 180.0, **kw: object):
    return SlidingWindowLimiter(limit, window, clock=clock, sleep=clock.sleep, **kw)  # type: ignore[arg-type]


def _requests(limiter: SlidingWindowLimiter, clock: FakeClock, n: int, step: float = 0.0) -> None:
    for _ in range(n):
        limiter.settle(limiter.acquire())
        clock.now += step


# ---------------------------------------------------------------- the limiter


def test_a_learning_limiter_records_and_never_waits() -> None:
    clock = FakeClock()
    limiter = _limiter(clock)
    _requests(limiter, clock, 5000)
    assert clock.sleeps == [] and limiter.learning


def test_the_first_429_teaches_what_the_window_holds_and_the_generations_window() -> None:
    clock = FakeClock()
    limiter = _limiter(clock)
    _requests(limiter, clock, 10, step=0.1)
    refused = limiter.acquire()
    limiter.settle(refused, counted=False)  # the server did not count it
    assert limiter.learn(GENERATION, None) == (10, 180.0)
    started = 1000.0
    assert limiter.wait_needed() == pytest.approx(started + 180 + limiter.margin - clock.now)
    limiter.settle(limiter.acquire())  # waits for the first one to leave the window
    assert clock.sleeps == [pytest.approx(started + 180 + limiter.margin - 1001.0)]


def test_retry_after_tells_the_window() -> None:
    # 10 requests from t=1000 to 1000.9, a 429 at 1001 saying 60 s: the oldest leaves in
    # 59.x s, rounded up to 60, so the window is 60 s (whole seconds on the server).
    clock = FakeClock()
    limiter = _limiter(clock)
    _requests(limiter, clock, 10, step=0.1)
    assert limiter.learn(GENERATION, 60.0) == (10, 61)  # 1001 + 60 - 1000, floored
    clock2 = FakeClock()
    limiter2 = _limiter(clock2)
    _requests(limiter2, clock2, 10, step=0.01)
    clock2.now += 0.5
    assert limiter2.learn(GENERATION, 60.0) == (10, 60)  # 60.6 -> 60


def test_requests_in_flight_when_the_limit_is_learned_count_once_answered() -> None:
    clock = FakeClock()
    limiter = _limiter(clock)
    _requests(limiter, clock, 6)
    accepted, refused = limiter.acquire(), limiter.acquire()  # still in flight
    assert limiter.learn(GENERATION, None) == (6, 180.0)
    limiter.settle(accepted)
    limiter.settle(refused, counted=False)
    assert limiter.await_early() == (7, 180.0)


def test_a_429_despite_the_pace_lowers_the_limit_and_nothing_counted_keeps_it() -> None:
    clock = FakeClock()
    limiter = _limiter(clock)
    _requests(limiter, clock, 8)
    limiter.learn(GENERATION, None)
    clock.now += 100
    assert limiter.learn(GENERATION, None) == (8, 180.0)  # still all in the window
    clock.now += 100  # all gone: another client used the window up; keep what we know
    assert limiter.learn(GENERATION, None) == (8, 180.0)


def test_nothing_in_the_window_takes_the_generations_limit() -> None:
    clock = FakeClock()
    limiter = _limiter(clock)
    assert limiter.learn((360, 180.0), None) == (360, 180.0)


def test_urgent_calls_may_use_the_reserve_that_bulk_calls_leave() -> None:
    clock = FakeClock()
    limiter = _limiter(clock, limit=40, window=10.0, reserve=2)
    _requests(limiter, clock, 38)
    assert limiter.wait_needed() > 0  # bulk calls leave two slots
    assert limiter.wait_needed(urgent=True) == 0
    limiter.settle(limiter.acquire(urgent=True))
    limiter.settle(limiter.acquire(urgent=True))
    assert limiter.wait_needed(urgent=True) > 0
    small = _limiter(clock, limit=5, window=10.0, reserve=2)
    _requests(small, clock, 5)  # a small limit keeps no reserve
    assert clock.sleeps == []


@pytest.mark.parametrize(
    ("fields", "limit"),
    [
        ({"oneapi_fields": True, "list_shape": "array"}, (480, 180.0)),
        ({"auto_groups": True, "keys_masked": True}, (360, 180.0)),
        ({"keys_masked": True}, (180, 180.0)),
        ({"cross_group_retry": False}, (180, 180.0)),
    ],
)
def test_generation_limits_follow_docs_servers(fields: dict[str, object], limit: object) -> None:
    assert generation_limit(ServerInfo(url="http://x", **fields)) == limit  # type: ignore[arg-type]
    assert generation_limit(None) == (180, 180.0)


# ---------------------------------------------------------------- the client


class Limited:
    """The server's global limiter in front of a FakeServer: a sliding window of accepted
    requests on the fake clock; 429s with or without Retry-After, not counted."""

    def __init__(
        self, server: FakeServer, clock: FakeClock, limit: int, window: float, retry_after: bool
    ) -> None:
        self.server, self.clock = server, clock
        self.limit, self.window, self.retry_after = limit, window, retry_after
        self.hits: list[float] = []
        self.refused: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        now = self.clock()
        self.hits = [t for t in self.hits if t > now - self.window]
        if len(self.hits) >= self.limit:
            self.refused.append(f"{request.method} {request.url.path}")
            wait = max(1, math.ceil(self.hits[0] + self.window - now))
            return httpx.Response(
                429, headers={"Retry-After": str(wait)} if self.retry_after else {}
            )
        self.hits.append(now)
        return self.server(request)


def _learning_client(retry_after: bool, **kw: object):  # type: ignore[no-untyped-def]
    clock = FakeClock()
    limited = Limited(FakeServer([token(1)]), clock, 10, 60.0, retry_after)
    notes: list[str] = []
    waits: list[tuple[float, str]] = []
    client = make_client(
        limited,
        clock=clock,
        rate_limit=LEARN,
        on_notice=notes.append,
        on_wait=lambda s, why: waits.append((s, why)),
        **kw,
    )
    return client, limited, clock, notes, waits


@pytest.mark.parametrize("retry_after", [True, False], ids=["retry-after", "no-retry-after"])
def test_not_told_the_client_goes_full_speed_learns_from_one_429_and_keeps_the_pace(
    retry_after: bool,
) -> None:
    # 2026-08 sends Retry-After; older servers do not, and their window is the
    # generation's (the knob rate_window says 60 s here, as PROVISIONER_RETRY can).
    client, limited, clock, notes, waits = _learning_client(
        retry_after, retry=RetryPolicy(rate_window=60.0)
    )
    client.probe()  # 3 requests
    for _ in range(27):  # 30 in all: three windows' worth
        assert client.user_groups()
    assert limited.refused == ["GET /api/user/self/groups"]  # one 429, then the pace held
    assert notes == ["the server limits requests: 10 per 60 s (learned from a 429); pacing to it"]
    assert sum(clock.sleeps) == pytest.approx(120, abs=2)  # two windows waited, not more
    assert all("learned from a 429" in why or "429" in why for _, why in waits)


def test_without_retry_after_the_generations_window_is_waited() -> None:
    client, limited, clock, notes, _ = _learning_client(False)
    client.probe()
    for _ in range(10):
        client.user_groups()
    assert limited.refused == ["GET /api/user/self/groups"]
    assert notes == ["the server limits requests: 10 per 180 s (learned from a 429); pacing to it"]
    assert clock.sleeps == [pytest.approx(180 + 0.05 + 0.9)]  # the window and its margin


def test_a_429_on_a_reveal_does_not_teach_the_limit() -> None:
    # Reveals have their own, stricter limiter on the server: their 429 may be its.
    client, limited, clock, notes, _ = _learning_client(True)
    client.probe()
    limited.server.on(
        "POST /api/token/batch/keys", httpx.Response(429, headers={"Retry-After": "7"})
    )
    assert client.reveal_keys([1])
    assert notes == [] and client.transport.learning
    assert clock.sleeps == [7.0]


def test_told_or_off_the_client_never_learns() -> None:
    for setting in [(100, 60.0), None]:
        clock = FakeClock()
        server = FakeServer()
        server.on("GET /api/user/self/groups", httpx.Response(429), ok({}))
        notes: list[str] = []
        client = make_client(server, clock=clock, rate_limit=setting, on_notice=notes.append)
        client.user_groups()
        assert notes == [] and clock.sleeps == [2.0]  # the 429 backs off as before


def test_a_create_refused_with_429_is_sent_again_once_it_never_committed() -> None:
    client, limited, _, notes, _ = _learning_client(True)
    client.probe()
    for _ in range(7):
        client.user_groups()
    client.create_token({"name": "job"})  # the 11th request: refused, then sent again
    assert limited.refused == ["POST /api/token/"]
    creates = [r for r in limited.server.requests if r.method == "POST"]
    assert len(creates) == 1  # the refused one never reached the server behind the limiter
    assert len(notes) == 1
