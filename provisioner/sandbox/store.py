"""SQLite state of the sandbox: users and tokens (docs/server-contract.md#token-record), and
for the generation with scoped access tokens, those tokens (their SHA-256 only) and the
users' audit log (provisioner/sandbox/access.py).

One connection guarded by a re-entrant lock; callers that need several
statements to be atomic hold :attr:`Store.lock` themselves.

A file is used only when it is a sandbox's database (or empty, or new): one that is
not SQLite, another program's SQLite file, or a sandbox database of a newer schema is
refused with :class:`SandboxStateError` before anything is written to it
(docs/sandbox.md#the-state-file).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shlex
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from provisioner.exitcodes import ExitCode

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
CREATE TABLE IF NOT EXISTS access_tokens (   -- model/user_access_token.go
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,       -- SHA-256 of the nap_ value: never the value
    token_hint TEXT NOT NULL,
    scopes TEXT NOT NULL,                  -- JSON array
    expires_at INTEGER NOT NULL DEFAULT 0, -- 0: never
    last_used_at INTEGER NOT NULL DEFAULT 0,
    last_used_ip TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_logs (      -- model/audit_log.go
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL,
    user_id INTEGER NOT NULL,
    username TEXT NOT NULL,
    actor_role INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    category TEXT NOT NULL,
    action TEXT NOT NULL,
    token_ref TEXT NOT NULL,
    auth_method TEXT NOT NULL,
    ip TEXT NOT NULL,
    user_agent TEXT NOT NULL,
    method TEXT NOT NULL,
    route TEXT NOT NULL,
    status INTEGER NOT NULL,
    success INTEGER NOT NULL,
    request_id TEXT NOT NULL,
    content TEXT NOT NULL,
    other TEXT NOT NULL                    -- JSON object
);
CREATE INDEX IF NOT EXISTS audit_user ON audit_logs (user_id, created_at);
"""
# Columns added after the first release: a database made before gets them on open.
_LATER_COLUMNS = {"models": "TEXT", "subnet": "TEXT"}
#: written into the file's header (PRAGMA application_id): "prov"
APPLICATION_ID = 0x70726F76
#: the schema this code writes (PRAGMA user_version); a file with a higher one is refused.
#: 2 added access_tokens and audit_logs (made in an older file when it is opened).
SCHEMA_VERSION = 2
#: each table of a sandbox database and the columns this code reads from it
_TABLES = {
    "meta": {"name", "value"},
    "users": {"id", "username", "display_name", "role", "status", "group", "quota", "used_quota"},
    "tokens": {*TOKEN_COLUMNS, "auto_groups", "deleted_at"},
    "access_tokens": {"id", "user_id", "name", "token_hash", "scopes", "expires_at"},
    "audit_logs": {"id", "user_id", "created_at", "category", "action", "other"},
}
AUDIT_COLUMNS = (
    "id",
    "event_id",
    "user_id",
    "username",
    "actor_role",
    "created_at",
    "category",
    "action",
    "token_ref",
    "auth_method",
    "ip",
    "user_agent",
    "method",
    "route",
    "status",
    "success",
    "request_id",
    "content",
    "other",
)
_SQLITE_TABLES = {"sqlite_sequence", "sqlite_stat1", "sqlite_stat4"}


class SandboxStateError(Exception):
    """The sandbox's state file cannot be used; the message says why and how to start fresh.

    The sandbox's own (it imports nothing of the tool's errors): ``provisioner sandbox``
    and ``--sandbox`` turn it into an error of the tool with this exit code.
    """

    exit_code = ExitCode.ERROR


def _remove(path: str) -> str:
    """The command that removes the database file and SQLite's files next to it."""
    return "rm -f " + " ".join(shlex.quote(path + suffix) for suffix in ("", "-wal", "-shm"))


def _fresh_start(path: str) -> str:
    return f"To start a fresh sandbox, remove it: {_remove(path)}"


def _check_database(conn: sqlite3.Connection, path: str) -> None:
    """Refuse a file that is not an empty, current or older sandbox database.

    Reading the header and the table list is the first thing done with a file: nothing
    is written to one that is refused. A file holding only some of the sandbox's tables is
    one being set up by another process right now (two ``--sandbox`` runs side by side).
    """
    tables = {
        str(row[0]) for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
    } - _SQLITE_TABLES
    application_id = int(conn.execute("PRAGMA application_id").fetchone()[0])
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    foreign = sorted(tables - set(_TABLES))
    if application_id == APPLICATION_ID and version > SCHEMA_VERSION:
        foreign = []  # a newer sandbox's tables: the version check below says so
    if application_id not in (0, APPLICATION_ID) or foreign:
        what = f"tables: {', '.join(foreign)}" if foreign else f"application id {application_id}"
        raise SandboxStateError(
            f"{path} is an SQLite database of another program ({what}), not a sandbox's; "
            "it was left untouched. Give the sandbox another file (provisioner sandbox "
            f"--db FILE), or move this one away: mv {shlex.quote(path)} "
            f"{shlex.quote(path + '.bak')}"
        )
    if version > SCHEMA_VERSION:
        raise SandboxStateError(
            f"{path} was written by a newer provisioner (sandbox schema {version}; this "
            f"version reads up to {SCHEMA_VERSION}); it was left untouched. Upgrade "
            f"provisioner, or remove it to start a fresh sandbox: {_remove(path)}"
        )
    for table in sorted(tables):
        present = {str(row[1]) for row in conn.execute(f'PRAGMA table_info("{table}")')}
        missing = sorted(_TABLES[table] - present)
        if missing:
            raise SandboxStateError(
                f"{path} is not a sandbox database: its table {table} has no "
                f"{', '.join(missing)}; it was left untouched. {_fresh_start(path)}"
            )


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


def random_text(length: int) -> str:
    """``length`` characters of [0-9A-Za-z] from the OS CSPRNG (keys, ``nap_`` tokens)."""
    chars: list[str] = []
    while len(chars) < length:
        for byte in secrets.token_bytes(64):
            if byte < 248:  # 248 = 4 * 62: no modulo bias
                chars.append(KEY_ALPHABET[byte % 62])
                if len(chars) == length:
                    break
    return "".join(chars)


def generate_key() -> str:
    """A token's key: 48 characters of [0-9A-Za-z], as new-api makes them."""
    return random_text(KEY_LENGTH)


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
        self.lock = threading.RLock()
        if self.path != ":memory:":
            self._prepare_file()
        try:
            # Two processes may open one file at once (two `--sandbox` runs side by side):
            # they wait for each other's locks instead of failing.
            self.conn = sqlite3.connect(
                self.path, check_same_thread=False, isolation_level=None, timeout=30.0
            )
        except sqlite3.Error as exc:
            raise SandboxStateError(
                f"cannot open the sandbox's database {self.path}: {exc}"
            ) from None
        try:
            self._open()
        except sqlite3.DatabaseError as exc:
            self.conn.close()
            if "locked" in str(exc) or "readonly" in str(exc) or "read-only" in str(exc):
                raise SandboxStateError(
                    f"cannot use the sandbox's database {self.path}: {exc}"
                ) from None
            raise SandboxStateError(
                f"{self.path} is not a sandbox database ({exc}); it was left untouched. "
                + _fresh_start(self.path)
            ) from None
        except SandboxStateError:
            self.conn.close()
            raise
        except OSError as exc:  # the chmod of a file owned by another user
            self.conn.close()
            raise SandboxStateError(
                f"cannot make {self.path} readable by its owner only: {exc.strerror or exc}"
            ) from None

    def _prepare_file(self) -> None:
        """Create a missing file (and its folder) owner-only: it holds full keys and the
        credential. An existing file is not touched until it is known to be a sandbox's."""
        path = Path(self.path)
        folder = path.parent
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        except FileExistsError:
            raise SandboxStateError(
                f"cannot use {self.path} as the sandbox's database: {folder} is a file, "
                "not a folder"
            ) from None
        except OSError as exc:
            raise SandboxStateError(
                f"cannot make the folder {folder} for the sandbox's database: {exc.strerror or exc}"
            ) from None
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            pass
        except OSError as exc:
            raise SandboxStateError(
                f"cannot use {self.path} as the sandbox's database: {exc.strerror or exc}"
            ) from None
        if not path.is_file():
            raise SandboxStateError(
                f"cannot use {self.path} as the sandbox's database: it is not a regular file"
            )

    def _open(self) -> None:
        self.conn.row_factory = sqlite3.Row
        with self.lock:
            if self.path != ":memory:":
                _retry_locked(lambda: _check_database(self.conn, self.path))
                os.chmod(self.path, 0o600)  # made by an older version, or by hand
                _retry_locked(lambda: self.conn.execute("PRAGMA journal_mode=WAL"))
            self.conn.execute("PRAGMA synchronous=NORMAL")
            _retry_locked(lambda: self.conn.executescript(SCHEMA))
            present = {row["name"] for row in self.conn.execute("PRAGMA table_info(tokens)")}
            for column, kind in _LATER_COLUMNS.items():
                if column not in present:
                    self.conn.execute(f"ALTER TABLE tokens ADD COLUMN {column} {kind}")
            if int(self.conn.execute("PRAGMA user_version").fetchone()[0]) < SCHEMA_VERSION:
                self.conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                self.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        with self.lock:
            self.conn.close()

    # -- meta --

    def _one(self, sql: str, params: Sequence[Any]) -> sqlite3.Row | None:
        """The first row ``sql`` finds, or None."""
        with self.lock:
            row: sqlite3.Row | None = self.conn.execute(sql, params).fetchone()
        return row

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction under the store's lock: ``BEGIN IMMEDIATE``, then ``COMMIT``,
        or ``ROLLBACK`` and the error again."""
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise

    def _paged(
        self, base: str, params: Sequence[Any], order: str, offset: int, limit: int
    ) -> tuple[list[sqlite3.Row], int]:
        """The rows of one page of ``SELECT * {base}`` in ``order`` (``limit`` -1: all), and
        how many rows there are in all."""
        with self.lock:
            total = int(self.conn.execute(f"SELECT COUNT(*) {base}", params).fetchone()[0])
            rows = self.conn.execute(
                f"SELECT * {base} ORDER BY {order} LIMIT ? OFFSET ?",
                (*params, limit, max(offset, 0)),
            ).fetchall()
        return rows, total

    def get_meta(self, name: str) -> str | None:
        row = self._one("SELECT value FROM meta WHERE name=?", (name,))
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
        row = self._one("SELECT * FROM users WHERE id=?", (user_id,))
        return None if row is None else dict(row)

    def user_by_access_token(self, access_token: str) -> dict[str, Any] | None:
        row = self._one("SELECT * FROM users WHERE access_token=?", (access_token,))
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
        with self._transaction() as conn:
            before = conn.execute("SELECT COALESCE(MAX(id), 0) FROM tokens").fetchone()[0]
            values: list[tuple[Any, ...]] = list(params)
            if reuse_ids:
                values = [(before + n, *row) for n, row in enumerate(params, start=1)]
                columns, marks = "id, " + columns, "?, " + marks
            conn.executemany(f"INSERT INTO tokens ({columns}) VALUES ({marks})", values)
            ids = [
                row[0]
                for row in conn.execute("SELECT id FROM tokens WHERE id > ? ORDER BY id", (before,))
            ]
        return ids

    def token(self, token_id: int, user_id: int | None = None) -> dict[str, Any] | None:
        """A visible (not soft-deleted) token, optionally owned by ``user_id``."""
        sql = "SELECT * FROM tokens WHERE id=? AND deleted_at IS NULL"
        params: list[Any] = [token_id]
        if user_id is not None:
            sql += " AND user_id=?"
            params.append(user_id)
        row = self._one(sql, params)
        return None if row is None else _row_to_token(row)

    def token_by_key(self, key: str) -> dict[str, Any] | None:
        row = self._one("SELECT * FROM tokens WHERE key=? AND deleted_at IS NULL", (key,))
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
        rows, total = self._paged(base, (user_id, *params), order, offset, limit)
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
        deleted = 0
        with self._transaction() as conn:
            for chunk_start in range(0, len(token_ids), 500):
                chunk = list(token_ids[chunk_start : chunk_start + 500])
                marks = ",".join("?" * len(chunk))
                cursor = conn.execute(
                    f"UPDATE tokens SET deleted_at=? WHERE user_id=? AND deleted_at IS NULL "
                    f"AND id IN ({marks})",
                    (now, user_id, *chunk),
                )
                deleted += cursor.rowcount
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

    # -- scoped access tokens (access.py) --

    def insert_access_token(
        self,
        user_id: int,
        name: str,
        token_hash: str,
        token_hint: str,
        scopes: Sequence[str],
        expires_at: int,
        created_at: int,
        *,
        keep: int,
    ) -> int:
        """Store a token (its hash only); the user's oldest go first beyond ``keep``."""
        with self._transaction() as conn:
            ids = [
                int(row[0])
                for row in conn.execute(
                    "SELECT id FROM access_tokens WHERE user_id=? ORDER BY id", (user_id,)
                )
            ]
            for old in ids[: max(0, len(ids) - keep + 1)]:
                conn.execute("DELETE FROM access_tokens WHERE id=?", (old,))
            cursor = conn.execute(
                "INSERT INTO access_tokens (user_id, name, token_hash, token_hint, scopes, "
                "expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    user_id,
                    name,
                    token_hash,
                    token_hint,
                    json.dumps(list(scopes)),
                    expires_at,
                    created_at,
                ),
            )
        return int(cursor.lastrowid or 0)

    def access_token_by_hash(self, token_hash: str) -> dict[str, Any] | None:
        row = self._one("SELECT * FROM access_tokens WHERE token_hash=?", (token_hash,))
        if row is None:
            return None
        token = dict(row)
        token["scopes"] = json.loads(token["scopes"] or "[]")
        return token

    def access_tokens(self, user_id: int | None = None) -> list[dict[str, Any]]:
        """Every stored access token (hashes, never values), oldest first."""
        sql, params = "SELECT * FROM access_tokens", []
        if user_id is not None:
            sql, params = sql + " WHERE user_id=?", [user_id]
        with self.lock:
            rows = self.conn.execute(sql + " ORDER BY id", params).fetchall()
        return [{**dict(r), "scopes": json.loads(r["scopes"] or "[]")} for r in rows]

    def touch_access_token(self, token_id: int, ip: str, now: int, interval: int) -> None:
        """Record the last use, at most once per ``interval`` seconds."""
        with self.lock:
            self.conn.execute(
                "UPDATE access_tokens SET last_used_at=?, last_used_ip=? "
                "WHERE id=? AND last_used_at < ?",
                (now, ip[:64], token_id, now - interval),
            )

    # -- the audit log --

    def add_audit(self, entry: dict[str, Any]) -> None:
        columns = [c for c in AUDIT_COLUMNS if c != "id"]
        values = [
            json.dumps(entry["other"], separators=(",", ":"))
            if c == "other"
            else int(entry[c])
            if c == "success"
            else entry[c]
            for c in columns
        ]
        with self.lock:
            self.conn.execute(
                f"INSERT INTO audit_logs ({', '.join(columns)}) "
                f"VALUES ({', '.join('?' * len(columns))})",
                values,
            )

    def audit(
        self,
        user_id: int,
        where: Sequence[tuple[str, Any]] = (),
        *,
        offset: int = 0,
        limit: int = -1,
    ) -> tuple[list[dict[str, Any]], int]:
        """A user's audit entries, newest first, with the total; ``where`` is
        (``column op ?``, value) pairs, or (clause, None) for a clause without a value."""
        clauses = " ".join(f"AND {clause}" for clause, _ in where)
        params = [value for _, value in where if value is not None]
        base = f"FROM audit_logs WHERE user_id=? {clauses}"
        order = "created_at DESC, event_id DESC"
        rows, total = self._paged(base, (user_id, *params), order, offset, limit)
        entries = []
        for row in rows:
            entry = {c: row[c] for c in AUDIT_COLUMNS}
            entry["success"] = bool(entry["success"])
            entry["other"] = json.loads(entry["other"] or "{}")
            entries.append(entry)
        return entries, total
