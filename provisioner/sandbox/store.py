"""SQLite state of the sandbox: users and tokens (docs/server-contract.md#token-record).

One connection guarded by a re-entrant lock; callers that need several
statements to be atomic hold :attr:`Store.lock` themselves.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

KEY_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
KEY_LENGTH = 48

# Order as new-api emits it (docs/server-contract.md#token-record); DeletedAt and
# auto_groups follow.
TOKEN_COLUMNS = (
    "id",
    "user_id",
    "key",
    "status",
    "name",
    "created_time",
    "accessed_time",
    "expired_time",
    "remain_quota",
    "unlimited_quota",
    "model_limits_enabled",
    "model_limits",
    "allow_ips",
    "used_quota",
    "group",
    "cross_group_retry",
)
_BOOL_COLUMNS = {"unlimited_quota", "model_limits_enabled", "cross_group_retry"}

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL,
    display_name TEXT NOT NULL,
    role INTEGER NOT NULL,
    status INTEGER NOT NULL,
    "group" TEXT NOT NULL,
    quota INTEGER NOT NULL,
    used_quota INTEGER NOT NULL,
    access_token TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- AUTOINCREMENT: new-api never reuses ids
    user_id INTEGER NOT NULL,
    key TEXT NOT NULL UNIQUE,              -- unique across soft-deleted rows too
    status INTEGER NOT NULL DEFAULT 1,
    name TEXT NOT NULL DEFAULT '',
    created_time INTEGER NOT NULL,
    accessed_time INTEGER NOT NULL,
    expired_time INTEGER NOT NULL DEFAULT -1,
    remain_quota INTEGER NOT NULL DEFAULT 0,
    unlimited_quota INTEGER NOT NULL DEFAULT 0,
    model_limits_enabled INTEGER NOT NULL DEFAULT 0,
    model_limits TEXT NOT NULL DEFAULT '',
    allow_ips TEXT DEFAULT '',
    used_quota INTEGER NOT NULL DEFAULT 0,
    "group" TEXT NOT NULL DEFAULT '',
    cross_group_retry INTEGER NOT NULL DEFAULT 0,
    auto_groups TEXT,                      -- JSON array or NULL
    deleted_at INTEGER,                    -- soft delete (GORM DeletedAt)
    models TEXT,                           -- one-api's model list (nullable)
    subnet TEXT                            -- one-api's comma-separated CIDR list (nullable)
);
CREATE INDEX IF NOT EXISTS tokens_user ON tokens (user_id, deleted_at, id);
"""
# Columns added after the first release: a database made before gets them on open.
_LATER_COLUMNS = {"models": "TEXT", "subnet": "TEXT"}
ORDERS = {"id DESC", "id", "remain_quota DESC, id DESC", "used_quota DESC, id DESC"}


def _retry_locked(step: Any, attempts: int = 50) -> Any:
    """Run a statement SQLite answers "database is locked" to while another process sets
    the file up (the journal mode switch does not wait on the busy timeout)."""
    for attempt in range(attempts):
        try:
            return step()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.05)
    return None  # pragma: no cover - the loop returns or raises


def generate_key() -> str:
    """48 characters of [0-9A-Za-z] from the OS CSPRNG."""
    chars: list[str] = []
    while len(chars) < KEY_LENGTH:
        for byte in secrets.token_bytes(64):
            if byte < 248:  # 248 = 4 * 62: no modulo bias
                chars.append(KEY_ALPHABET[byte % 62])
                if len(chars) == KEY_LENGTH:
                    break
    return "".join(chars)


def generate_access_token() -> str:
    """A system access token: base64 of 24 random bytes, 32 characters."""
    return base64.b64encode(secrets.token_bytes(24)).decode("ascii")


def _row_to_token(row: sqlite3.Row) -> dict[str, Any]:
    token: dict[str, Any] = {}
    for column in TOKEN_COLUMNS:
        value = row[column]
        token[column] = bool(value) if column in _BOOL_COLUMNS else value
    token["auto_groups"] = json.loads(row["auto_groups"]) if row["auto_groups"] else None
    token["deleted_at"] = row["deleted_at"]
    token["models"] = row["models"]
    token["subnet"] = row["subnet"]
    return token


class Store:
    def __init__(self, db_path: str | Path) -> None:
        self.path = str(db_path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            # The database holds full keys and the credential: owner-only, like a key file.
            Path(self.path).touch(mode=0o600, exist_ok=True)
            os.chmod(self.path, 0o600)
        self.lock = threading.RLock()
        # Two processes may open one file at once (two `--sandbox` runs side by side):
        # they wait for each other's locks instead of failing.
        self.conn = sqlite3.connect(
            self.path, check_same_thread=False, isolation_level=None, timeout=30.0
        )
        self.conn.row_factory = sqlite3.Row
        with self.lock:
            if self.path != ":memory:":
                _retry_locked(lambda: self.conn.execute("PRAGMA journal_mode=WAL"))
            self.conn.execute("PRAGMA synchronous=NORMAL")
            _retry_locked(lambda: self.conn.executescript(SCHEMA))
            present = {row["name"] for row in self.conn.execute("PRAGMA table_info(tokens)")}
            for column, kind in _LATER_COLUMNS.items():
                if column not in present:
                    self.conn.execute(f"ALTER TABLE tokens ADD COLUMN {column} {kind}")

    def close(self) -> None:
        with self.lock:
            self.conn.close()

    # -- meta --

    def get_meta(self, name: str) -> str | None:
        with self.lock:
            row = self.conn.execute("SELECT value FROM meta WHERE name=?", (name,)).fetchone()
        return None if row is None else str(row["value"])

    def set_meta(self, name: str, value: str) -> None:
        with self.lock:
            self.conn.execute(
                "INSERT INTO meta (name, value) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET value=excluded.value",
                (name, value),
            )

    # -- users --

    def user(self, user_id: int) -> dict[str, Any] | None:
        with self.lock:
            row = self.conn.execute("SELECT * FROM users WHERE id=?", (user_id,)).fetchone()
        return None if row is None else dict(row)

    def user_by_access_token(self, access_token: str) -> dict[str, Any] | None:
        with self.lock:
            row = self.conn.execute(
                "SELECT * FROM users WHERE access_token=?", (access_token,)
            ).fetchone()
        return None if row is None else dict(row)

    def add_user(self, user_id: int, username: str, group: str, quota: int) -> None:
        with self.lock:
            self.conn.execute(  # OR IGNORE: another process may have made this user first
                'INSERT OR IGNORE INTO users (id, username, display_name, role, status, "group", '
                "quota, used_quota, access_token) VALUES (?, ?, ?, ?, 1, ?, ?, 0, ?)",
                (
                    user_id,
                    username,
                    username.title(),
                    100 if user_id == 1 else 1,
                    group,
                    quota,
                    generate_access_token(),
                ),
            )

    def charge_user(self, user_id: int, quota: int) -> None:
        with self.lock:
            self.conn.execute(
                "UPDATE users SET quota = quota - ?, used_quota = used_quota + ? WHERE id=?",
                (quota, quota, user_id),
            )

    # -- tokens --

    def insert_tokens(
        self, rows: Iterable[dict[str, Any]], *, reuse_ids: bool = False
    ) -> list[int]:
        """Insert tokens in one transaction; returns their ids in insertion order.

        ``reuse_ids`` numbers them from the highest id present plus one, as a table
        without AUTOINCREMENT does (one-api), so ids of deleted rows come back.
        """
        params = [
            (
                r["user_id"],
                r.get("key") or generate_key(),
                r.get("status", 1),
                r.get("name", ""),
                r["created_time"],
                r.get("accessed_time", r["created_time"]),
                r.get("expired_time", -1),
                r.get("remain_quota", 0),
                int(r.get("unlimited_quota", False)),
                int(r.get("model_limits_enabled", False)),
                r.get("model_limits", ""),
                r.get("allow_ips", ""),
                r.get("used_quota", 0),
                r.get("group", ""),
                int(r.get("cross_group_retry", False)),
                None if r.get("auto_groups") is None else json.dumps(r["auto_groups"]),
                r.get("models"),
                r.get("subnet", ""),  # one-api's GORM default
            )
            for r in rows
        ]
        if not params:
            return []
        columns = (
            "user_id, key, status, name, created_time, accessed_time, expired_time, remain_quota, "
            'unlimited_quota, model_limits_enabled, model_limits, allow_ips, used_quota, "group", '
            "cross_group_retry, auto_groups, models, subnet"
        )
        marks = ", ".join("?" * 18)
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                before = self.conn.execute("SELECT COALESCE(MAX(id), 0) FROM tokens").fetchone()[0]
                if reuse_ids:
                    params = [(before + n, *row) for n, row in enumerate(params, start=1)]
                    columns, marks = "id, " + columns, "?, " + marks
                self.conn.executemany(f"INSERT INTO tokens ({columns}) VALUES ({marks})", params)
                ids = [
                    row[0]
                    for row in self.conn.execute(
                        "SELECT id FROM tokens WHERE id > ? ORDER BY id", (before,)
                    )
                ]
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
        return ids

    def token(self, token_id: int, user_id: int | None = None) -> dict[str, Any] | None:
        """A visible (not soft-deleted) token, optionally owned by ``user_id``."""
        sql = "SELECT * FROM tokens WHERE id=? AND deleted_at IS NULL"
        params: list[Any] = [token_id]
        if user_id is not None:
            sql += " AND user_id=?"
            params.append(user_id)
        with self.lock:
            row = self.conn.execute(sql, params).fetchone()
        return None if row is None else _row_to_token(row)

    def token_by_key(self, key: str) -> dict[str, Any] | None:
        with self.lock:
            row = self.conn.execute(
                "SELECT * FROM tokens WHERE key=? AND deleted_at IS NULL", (key,)
            ).fetchone()
        return None if row is None else _row_to_token(row)

    def count_tokens(self, user_id: int) -> int:
        with self.lock:
            return int(
                self.conn.execute(
                    "SELECT COUNT(*) FROM tokens WHERE user_id=? AND deleted_at IS NULL", (user_id,)
                ).fetchone()[0]
            )

    def query_tokens(
        self,
        user_id: int,
        where: str = "",
        params: Sequence[Any] = (),
        offset: int = 0,
        limit: int = -1,
        order: str = "id DESC",
    ) -> tuple[list[dict[str, Any]], int]:
        """Visible tokens of a user, newest first unless ``order`` says, with the total."""
        if order not in ORDERS:
            raise ValueError(f"unsupported order {order!r}")
        base = "FROM tokens WHERE user_id=? AND deleted_at IS NULL" + (
            f" AND {where}" if where else ""
        )
        with self.lock:
            total = int(
                self.conn.execute(f"SELECT COUNT(*) {base}", (user_id, *params)).fetchone()[0]
            )
            rows = self.conn.execute(
                f"SELECT * {base} ORDER BY {order} LIMIT ? OFFSET ?",
                (user_id, *params, limit, max(offset, 0)),
            ).fetchall()
        return [_row_to_token(r) for r in rows], total

    def update_token(self, token_id: int, fields: dict[str, Any]) -> None:
        if not fields:
            return
        assignments = []
        values: list[Any] = []
        for name, value in fields.items():
            column = '"group"' if name == "group" else name
            if name == "auto_groups":
                value = None if value is None else json.dumps(value)
            elif name in _BOOL_COLUMNS:
                value = int(bool(value))
            assignments.append(f"{column}=?")
            values.append(value)
        with self.lock:
            self.conn.execute(
                f"UPDATE tokens SET {', '.join(assignments)} WHERE id=?", (*values, token_id)
            )

    def soft_delete(self, token_ids: Sequence[int], user_id: int, now: int) -> int:
        """Soft-delete the visible tokens among ``token_ids`` owned by ``user_id``."""
        if not token_ids:
            return 0
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                deleted = 0
                for chunk_start in range(0, len(token_ids), 500):
                    chunk = list(token_ids[chunk_start : chunk_start + 500])
                    marks = ",".join("?" * len(chunk))
                    cursor = self.conn.execute(
                        f"UPDATE tokens SET deleted_at=? WHERE user_id=? AND deleted_at IS NULL "
                        f"AND id IN ({marks})",
                        (now, user_id, *chunk),
                    )
                    deleted += cursor.rowcount
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
        return deleted

    def hard_delete(self, token_ids: Sequence[int], user_id: int) -> int:
        """Remove the rows among ``token_ids`` owned by ``user_id`` (one-api deletes)."""
        if not token_ids:
            return 0
        marks = ",".join("?" * len(token_ids))
        with self.lock:
            cursor = self.conn.execute(
                f"DELETE FROM tokens WHERE user_id=? AND deleted_at IS NULL AND id IN ({marks})",
                (user_id, *token_ids),
            )
        return int(cursor.rowcount)

    def set_user_status(self, user_id: int, status: int) -> None:
        with self.lock:
            self.conn.execute("UPDATE users SET status=? WHERE id=?", (status, user_id))

    def keys_for(self, token_ids: Sequence[int], user_id: int) -> dict[int, str]:
        if not token_ids:
            return {}
        marks = ",".join("?" * len(token_ids))
        with self.lock:
            rows = self.conn.execute(
                f"SELECT id, key FROM tokens WHERE user_id=? AND deleted_at IS NULL "
                f"AND id IN ({marks}) ORDER BY id",
                (user_id, *token_ids),
            ).fetchall()
        return {int(r["id"]): str(r["key"]) for r in rows}

    def all_rows(self, include_deleted: bool = False) -> list[dict[str, Any]]:
        sql = "SELECT * FROM tokens"
        if not include_deleted:
            sql += " WHERE deleted_at IS NULL"
        with self.lock:
            rows = self.conn.execute(sql + " ORDER BY id").fetchall()
        return [_row_to_token(r) for r in rows]
