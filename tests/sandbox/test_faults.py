"""Fault injection over real HTTP: statuses, counts, fractions, drops, latency."""

from __future__ import annotations

import httpx
import pytest

from provisioner.sandbox import Fault, FaultSpecError, Sandbox, parse_fault
from tests.sandbox.helpers import client_for


def mine(sb: Sandbox) -> list[str]:
    return [r["name"] for r in sb.rows() if r["user_id"] == 1]


def test_status_times_then_recovers(sb: Sandbox, client: httpx.Client) -> None:
    sb.inject("POST /api/token/", status=500, times=2)
    codes = [client.post("/api/token/", json={"name": f"t{i}"}).status_code for i in range(3)]
    assert codes == [500, 500, 200]
    assert mine(sb) == ["t2"]  # a faulted request is not executed
    assert client.get("/api/token/").status_code == 200  # other routes untouched


def test_502_is_an_nginx_page_and_503_html(sb: Sandbox, client: httpx.Client) -> None:
    sb.inject("GET /api/token/", status=502, times=1)
    sb.inject("GET /api/token/", status=503, times=1)
    bad_gateway = client.get("/api/token/")
    assert bad_gateway.status_code == 502 and "nginx" in bad_gateway.text
    assert bad_gateway.headers["content-type"].startswith("text/html")
    unavailable = client.get("/api/token/")
    assert unavailable.status_code == 503 and "<html>" in unavailable.text


def test_429_with_and_without_retry_after(sb: Sandbox, client: httpx.Client) -> None:
    sb.inject("*", status=429, times=1, retry_after=7)
    sb.inject("*", status=429, times=1)
    first = client.get("/api/status")
    assert (first.status_code, first.content, first.headers["retry-after"]) == (429, b"", "7")
    second = client.get("/api/status")
    assert second.status_code == 429 and "retry-after" not in second.headers
    assert client.get("/api/status").status_code == 200


def test_id_pattern_and_literal_paths(sb: Sandbox, client: httpx.Client) -> None:
    ids = sb.seed(2)
    sb.inject("DELETE /api/token/:id", status=503)
    assert client.delete(f"/api/token/{ids[0]}").status_code == 503
    sb.clear_faults()
    sb.inject(f"GET /api/token/{ids[1]}", status=500)
    assert client.get(f"/api/token/{ids[1]}").status_code == 500
    assert client.get(f"/api/token/{ids[0]}").status_code == 200
    assert client.get("/api/token/search").status_code == 200


def test_fraction_is_seeded_and_reproducible(make_sandbox, tmp_path) -> None:
    outcomes = []
    for run in range(2):
        sb = make_sandbox(db_path=tmp_path / f"f{run}.db", fault_seed=42)
        sb.inject("GET /api/status", status=503, fraction=0.3)
        with httpx.Client(verify=False, base_url=sb.url) as c:
            outcomes.append([c.get("/api/status").status_code for _ in range(60)])
    assert outcomes[0] == outcomes[1]
    failures = outcomes[0].count(503)
    assert 6 <= failures <= 35 and set(outcomes[0]) == {200, 503}


def test_drop_before_does_not_execute(sb: Sandbox, client: httpx.Client) -> None:
    sb.inject("POST /api/token/", drop="before", times=1)
    with pytest.raises(httpx.TransportError):
        client.post("/api/token/", json={"name": "lost"})
    assert mine(sb) == []
    assert client.post("/api/token/", json={"name": "kept"}).json()["success"] is True
    assert mine(sb) == ["kept"]
    assert ("POST", "/api/token/", 0) in sb.requests


def test_drop_after_commits(sb: Sandbox, client: httpx.Client) -> None:
    sb.inject("POST /api/token/", drop="after", times=1)
    with pytest.raises(httpx.TransportError):
        client.post("/api/token/", json={"name": "ghost"})
    assert mine(sb) == ["ghost"]  # the write happened; the answer never came


def test_drop_after_put(sb: Sandbox, client: httpx.Client) -> None:
    (token_id,) = sb.seed(1)
    sb.inject("PUT /api/token/", drop="after")
    with pytest.raises(httpx.TransportError):
        client.put("/api/token/", params={"status_only": "1"}, json={"id": token_id, "status": 2})
    assert next(r["status"] for r in sb.rows() if r["id"] == token_id) == 2


def test_latency_times_out_short_client(sb: Sandbox) -> None:
    sb.inject("GET /api/token/", latency=0.5, times=1)
    with client_for(sb, timeout=0.1) as c, pytest.raises(httpx.TimeoutException):
        c.get("/api/token/")
    with client_for(sb, timeout=2) as c:
        assert c.get("/api/token/").status_code == 200


def test_global_latency(make_sandbox) -> None:
    import time

    sb = make_sandbox(latency=0.2)
    start = time.monotonic()
    assert httpx.get(sb.url + "/api/status", verify=False).status_code == 200
    assert time.monotonic() - start >= 0.2


def test_requests_log(sb: Sandbox, client: httpx.Client) -> None:
    client.get("/api/token/", params={"p": 2})
    client.get("/api/nope")
    client.get("/api/token")
    assert sb.requests == [
        ("GET", "/api/token/?p=2", 200),
        ("GET", "/api/nope", 404),
        ("GET", "/api/token", 301),
    ]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("POST /api/token/=500x2", Fault("POST /api/token/", status=500, times=2)),
        ("GET /api/token/=503@0.1", Fault("GET /api/token/", status=503, fraction=0.1)),
        ("PUT /api/token/=drop-after", Fault("PUT /api/token/", drop="after")),
        ("post /api/token/=drop-beforex1", Fault("POST /api/token/", drop="before", times=1)),
        ("*=latency:0.5", Fault("*", latency=0.5)),
        (
            "POST /api/token/:id/key=429:30",
            Fault("POST /api/token/:id/key", status=429, retry_after=30),
        ),
        (
            "DELETE /api/token/:id=502x3@0.5",
            Fault("DELETE /api/token/:id", status=502, times=3, fraction=0.5),
        ),
    ],
)
def test_parse_fault(spec: str, expected: Fault) -> None:
    assert parse_fault(spec) == expected


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "POST /api/token/",
        "=500",
        "POST /api/token/=404",
        "FETCH /x=500",
        "POST api/token=500",
        "*=latency",
        "*=500@2",
        "*=drop",
    ],
)
def test_parse_fault_rejects(spec: str) -> None:
    with pytest.raises(FaultSpecError):
        parse_fault(spec)
