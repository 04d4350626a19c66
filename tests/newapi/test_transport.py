"""The transport's per-request shortcuts keep their meaning; reveals after the first batch
go a few at a time (a far server answers them in one round trip)."""

from __future__ import annotations

import json
import threading
from email.utils import formatdate

import httpx

from provisioner.secret import Secret
from tests.newapi.fakes import FakeServer, make_client, ok


def _keys_for(request: httpx.Request) -> httpx.Response:
    ids = json.loads(request.content)["ids"]
    return ok({"keys": {str(i): f"key{i:06d}" + "k" * 38 for i in ids}})


def test_batch_reveals_after_the_first_go_together_and_each_key_stays_its_own() -> None:
    server = FakeServer()
    together = threading.Barrier(3, timeout=10)  # chunks 2, 3 and 4 must be in flight at once
    calls: list[int] = []

    def reveal(request: httpx.Request) -> httpx.Response:
        calls.append(len(json.loads(request.content)["ids"]))
        if len(calls) > 1:
            together.wait()  # raises if the three never meet: they were sent one by one
        return _keys_for(request)

    server.always("POST /api/token/batch/keys", reveal)
    client = make_client(server)
    keys = client.reveal_keys(range(1, 351))
    assert sorted(calls) == [50, 100, 100, 100] and calls[0] == 100
    assert keys == {i: Secret(f"key{i:06d}" + "k" * 38) for i in range(1, 351)}


def test_a_server_without_batch_reveal_is_asked_one_batch_only() -> None:
    server = FakeServer()
    server.always("POST /api/token/batch/keys", lambda r: httpx.Response(404, json={}))
    for i in range(1, 151):
        server.on(f"POST /api/token/{i}/key", ok({"key": f"key{i:06d}" + "k" * 38}))
    client = make_client(server)
    keys = client.reveal_keys(range(1, 151))  # two batches' worth
    assert client.request_counts["POST /api/token/batch/keys"] == 1
    assert client.request_counts["POST /api/token/:id/key"] == 150
    assert keys == {i: Secret(f"key{i:06d}" + "k" * 38) for i in range(1, 151)}


def test_the_servers_clock_follows_its_date_header() -> None:
    server = FakeServer()
    dates = iter(
        [formatdate(2_000_000_000, usegmt=True)] * 2 + [formatdate(2_000_000_100, usegmt=True)]
    )

    def status(request: httpx.Request) -> httpx.Response:
        response = ok({"version": "v0.12.0"})
        response.headers["Date"] = next(dates)
        return response

    server.always("GET /api/status", status)
    client = make_client(server)
    for expected in (2_000_000_000, 2_000_000_000, 2_000_000_100):
        client.transport.send(client_call())
        assert abs(client.now() - expected) <= 1


def client_call():  # type: ignore[no-untyped-def]
    from provisioner.newapi.transport import Call

    return Call("GET", "GET /api/status", "/api/status")


def test_urgent_calls_pass_the_bulk_ones_waiting_for_the_window() -> None:
    # The account lock renews its lease inside transport.urgent(): two slots of the limit
    # are kept for it, so a renewal is not queued behind a window of creates.
    from tests.newapi.fakes import FakeClock

    clock = FakeClock()
    client = make_client(FakeServer(), clock=clock, rate_limit=(40, 60.0))
    client.probe()
    while client.request_count < 38:
        client.user_groups()
    assert clock.sleeps == []
    with client.transport.urgent():
        client.user_groups()
        client.user_groups()
    assert clock.sleeps == []  # the reserve
    client.user_groups()
    assert len(clock.sleeps) == 1  # bulk calls wait for the window
