"""Persistence, the clock, seeding and simulated relay traffic."""

from __future__ import annotations

from pathlib import Path

import httpx

from provisioner.sandbox import Sandbox
from tests.sandbox.helpers import client_for, create


def test_restart_keeps_credential_tokens_and_id_sequence(tmp_path) -> None:
    db = tmp_path / "persist.db"
    with Sandbox(db).start() as first:
        credential = first.credential
        with client_for(first) as c:
            kept = create(c, name="kept")
            gone = create(c, name="gone")
            c.delete(f"/api/token/{gone}")
        first.advance(3600)
        clock = first.now()
    with Sandbox(db).start() as second:
        assert second.credential == credential
        assert second.now() >= clock
        with client_for(second) as c:
            items = c.get("/api/token/").json()["data"]["items"]
            assert [t["name"] for t in items] == ["kept"]
            assert create(c, name="after") == gone + 1
        assert len([r for r in second.rows() if r["user_id"] == 2]) == 3  # seeded once
        assert kept in {r["id"] for r in second.rows()}


def test_seed_many_is_functional(sb: Sandbox, client: httpx.Client) -> None:
    ids = sb.seed(10_000)
    assert len(ids) == 10_000 and ids == sorted(ids)
    rows = [r for r in sb.rows() if r["user_id"] == 1]
    assert len({r["key"] for r in rows}) == 10_000
    assert {r["name"] for r in rows} >= {"seed-1", "seed-10000"}
    data = client.get("/api/token/", params={"size": 100}).json()["data"]
    assert data["total"] == 10_000 and data["items"][0]["id"] == ids[-1]
    assert sb.seed(2, prefix="more-") == [ids[-1] + 1, ids[-1] + 2]


def test_advance_moves_server_time(sb: Sandbox, client: httpx.Client) -> None:
    before = sb.now()
    sb.advance(86_400)
    assert sb.now() - before >= 86_400
    token_id = create(client, name="later")
    created = client.get(f"/api/token/{token_id}").json()["data"]["created_time"]
    assert created >= before + 86_400


def test_consume_and_lazy_exhaustion(sb: Sandbox, client: httpx.Client) -> None:
    token_id = create(client, name="q", remain_quota=100)
    key = next(r["key"] for r in sb.rows() if r["id"] == token_id)
    assert sb.relay_auth("sk-" + key) is True
    assert sb.consume(token_id, 60) is True
    row = next(r for r in sb.rows() if r["id"] == token_id)
    assert (row["remain_quota"], row["used_quota"], row["status"]) == (40, 60, 1)
    assert sb.consume(token_id, 50) is True  # goes negative, then status 4
    row = next(r for r in sb.rows() if r["id"] == token_id)
    assert (row["remain_quota"], row["used_quota"], row["status"]) == (-10, 110, 4)
    assert sb.consume(token_id, 1) is False
    assert sb.relay_auth(key) is False


def test_unlimited_goes_negative_and_stays_enabled(sb: Sandbox, client: httpx.Client) -> None:
    token_id = create(client, name="u", unlimited_quota=True)
    assert sb.consume(token_id, 500) is True
    row = next(r for r in sb.rows() if r["id"] == token_id)
    assert (row["remain_quota"], row["status"]) == (-500, 1)
    assert client.get("/api/user/self").json()["data"]["used_quota"] == 500


def test_relay_auth_lazy_expiry_and_key_forms(sb: Sandbox, client: httpx.Client) -> None:
    token_id = create(client, name="e", expired_time=sb.now() + 10, remain_quota=5)
    key = next(r["key"] for r in sb.rows() if r["id"] == token_id)
    for form in (key, "sk-" + key, f"Bearer sk-{key}", f"sk-{key}-3"):
        assert sb.relay_auth(form) is True
    assert sb.relay_auth("sk-" + "x" * 48) is False
    # the list still shows status 1 until relay auth runs (docs/server-contract.md#lazy-status)
    sb.advance(20)
    assert client.get(f"/api/token/{token_id}").json()["data"]["status"] == 1
    assert sb.relay_auth(key) is False
    assert client.get(f"/api/token/{token_id}").json()["data"]["status"] == 3


def test_disabled_and_deleted_keys_refused(sb: Sandbox, client: httpx.Client) -> None:
    disabled, deleted = sb.seed(2)
    keys = {r["id"]: r["key"] for r in sb.rows()}
    client.put("/api/token/", params={"status_only": "1"}, json={"id": disabled, "status": 2})
    client.delete(f"/api/token/{deleted}")
    assert sb.relay_auth(keys[disabled]) is False
    assert sb.relay_auth(keys[deleted]) is False
    assert sb.consume(disabled, 1) is False


def test_concurrent_creates_respect_the_cap(make_sandbox) -> None:
    from concurrent.futures import ThreadPoolExecutor

    sb: Sandbox = make_sandbox(max_user_tokens=10)

    def post(i: int) -> bool:
        with client_for(sb) as c:
            return bool(c.post("/api/token/", json={"name": f"c{i}"}).json()["success"])

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(post, range(25)))
    assert results.count(True) == 10
    assert len([r for r in sb.rows() if r["user_id"] == 1]) == 10


def test_chunked_request_body(sb: Sandbox, client: httpx.Client) -> None:
    def body():
        yield b'{"name": '
        yield b'"chunked"}'

    response = client.post("/api/token/", content=body())
    assert response.json() == {"success": True, "message": ""}
    assert [r["name"] for r in sb.rows() if r["user_id"] == 1] == ["chunked"]


def test_date_header_follows_the_sandbox_clock(sb: Sandbox, client: httpx.Client) -> None:
    from email.utils import parsedate_to_datetime

    sb.advance(10 * 86_400)
    served = parsedate_to_datetime(client.get("/api/status").headers["date"]).timestamp()
    assert abs(served - sb.now()) <= 2


def test_no_neighbour(make_sandbox) -> None:
    sb: Sandbox = make_sandbox(neighbour=False)
    assert sb.store.user(2) is None and sb.rows() == []
    assert sb.seed(1) == [1]


def test_a_database_from_before_profiles_gets_the_new_columns(tmp_path) -> None:
    import sqlite3

    db = tmp_path / "old.db"
    with Sandbox(db) as first:
        first.seed(1)
    conn = sqlite3.connect(db)
    conn.execute("ALTER TABLE tokens DROP COLUMN subnet")
    conn.execute("ALTER TABLE tokens DROP COLUMN models")
    conn.commit()
    conn.close()
    with Sandbox(db, profile="one-api-2025-02").start() as again:
        (row,) = [r for r in again.rows() if r["user_id"] == 1]
        assert (row["models"], row["subnet"]) == (None, None)
        with client_for(again) as c:
            items = c.get("/api/token/", params={"p": 0}).json()["data"]
        assert [(t["name"], t["subnet"]) for t in items] == [("seed-1", None)]


def test_two_sandboxes_opening_one_new_file_at_once_share_it(tmp_path: Path) -> None:
    # Two `--sandbox` runs side by side open .provisioner/sandbox.db together: neither
    # fails on SQLite's locks, and they agree on the one user and its credential.
    import threading

    from provisioner.sandbox import Sandbox

    path = tmp_path / "shared.db"
    made: list[Sandbox] = []
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            made.append(Sandbox(db_path=path))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        assert len({sb.credential for sb in made}) == 1
    finally:
        for sb in made:
            sb.stop()


def test_a_batch_insert_that_fails_leaves_nothing_and_the_store_usable(sb: Sandbox) -> None:
    """Inserts run in one transaction: a duplicate key in the middle rolls back the rows
    before it, and the next write starts a transaction of its own."""
    import sqlite3

    import pytest

    before = sb.rows(include_deleted=True)
    rows = [
        {"user_id": 1, "created_time": 1, "name": "first", "key": "k" * 48},
        {"user_id": 1, "created_time": 1, "name": "again", "key": "k" * 48},  # UNIQUE
    ]
    with pytest.raises(sqlite3.IntegrityError):
        sb.store.insert_tokens(rows)
    assert sb.rows(include_deleted=True) == before
    (token_id,) = sb.store.insert_tokens(rows[:1])
    assert sb.store.token(token_id)["name"] == "first"  # type: ignore[index]
