"""One apply at a time (docs/reconcile.md#one-apply-at-a-time).

Two applies of one account must never interleave: they would both create the
same tokens. The guard has two parts:

* a file lock, for two runs on this machine (any folder);
* a lock token on the server, for runs anywhere: apply creates a token named
  ``provisioner.lock.<random>``, lists, and holds the lock when its token has
  the lowest id among the fresh lock tokens. A lock token older than
  :data:`STALE_AFTER` belongs to a run that died: it is ignored and removed.
  The token can never be used as a key (expired, no quota), and the lock is
  released in a ``finally``.

A second apply waits up to ``--lock-timeout``, then exits 4 naming the holder.
``plan`` takes no lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from provisioner.cli.session import Connection, Log
from provisioner.errors import ProvisionerError, RefusedError
from provisioner.humanize import human_span
from provisioner.newapi.errors import AmbiguousWriteError, NewApiError
from provisioner.observed import Token
from provisioner.plan.ownership import LOCK_PREFIX

STALE_AFTER = 2 * 3600  # a lock token older than this belongs to a run that died
POLL = 5.0  # seconds between looks while waiting for another apply


def _lock_file(url: str, user_id: int | None) -> Path:
    digest = hashlib.sha256(f"{url}|{user_id}".encode()).hexdigest()[:16]
    # PROVISIONER_LOCK_DIR: the tests play two machines with two folders.
    folder = Path(
        os.environ.get("PROVISIONER_LOCK_DIR") or Path(tempfile.gettempdir()) / "provisioner-locks"
    )
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder / f"{digest}.lock"


@contextlib.contextmanager
def _machine_lock(
    url: str, user_id: int | None, timeout: float, log: Log, sleep: Callable[[float], None]
) -> Iterator[None]:
    path = _lock_file(url, user_id)
    handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 (held for the whole apply)
    try:
        deadline = time.monotonic() + timeout
        said = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "another apply"
                if time.monotonic() >= deadline:
                    raise RefusedError(
                        f"another apply of this account is running on this machine ({holder}); "
                        "wait for it to finish, or pass --lock-timeout 10m to wait"
                    ) from None
                if not said:
                    log.info(f"waiting for another apply on this machine to finish ({holder})")
                    said = True
                sleep(min(1.0, max(0.0, deadline - time.monotonic())))
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}, started {time.strftime('%H:%M:%S')}")
        handle.flush()
        yield
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def _fresh(locks: list[Token], now: int) -> list[Token]:
    return sorted((t for t in locks if now - t.created_time < STALE_AFTER), key=lambda t: t.id)


def _release(conn: Connection, name: str, mine: Token, *, unsure: bool) -> None:
    """Delete the lock token; after an unsure create, every token of its name (a create
    that timed out may have landed late)."""
    ids = [mine.id]
    if unsure:
        try:
            conn.relist()
            ids = [t.id for t in conn.locks if t.name == name] or ids
        except NewApiError:
            pass
    try:
        conn.client.delete_tokens(ids)
    except NewApiError:
        for token_id in ids:  # the other route: DELETE /api/token/:id
            conn.client.delete_token(token_id)


def _create_lock_token(conn: Connection, name: str, now: int) -> tuple[list[Token], bool]:
    """Create the lock token and find it; a create that may not have landed is checked.

    Returns the tokens of that name, and whether a create was unsure (it may land later).
    """
    problem = ""
    for _ in range(3):
        try:
            conn.client.create_token(
                {
                    "name": name,
                    # never usable as a key: expired and without quota
                    "expired_time": now - 60,
                    "remain_quota": 0,
                    "unlimited_quota": False,
                }
            )
        except AmbiguousWriteError as exc:
            problem = str(exc)  # it may have landed: the list tells
        except NewApiError as exc:
            raise ProvisionerError(
                f"could not take the account's lock (a token named {name}): {exc}",
                exc.exit_code,
            ) from None
        conn.relist()
        ours = sorted((t for t in conn.locks if t.name == name), key=lambda t: t.id)
        if ours:
            return ours, bool(problem)
    raise ProvisionerError(
        f"could not take the account's lock: the token {name} did not appear after it was "
        f"created ({problem or 'no error'}); try again"
    )


@contextlib.contextmanager
def account_lock(
    conn: Connection,
    log: Log,
    *,
    timeout: float = 0.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[None]:
    """Hold the account for one apply; ``conn.inventory`` is re-read once it is held."""
    client = conn.client
    with _machine_lock(conn.url, conn.info.user_id, timeout, log, sleep):
        deadline = time.monotonic() + timeout
        said = False
        mine: Token | None = None
        unsure = False
        name = LOCK_PREFIX + secrets.token_hex(4)  # 25 bytes: fits the 30-byte name limit
        try:
            while True:
                now = client.now()
                ours, unsure = _create_lock_token(conn, name, now)
                mine = ours[0]
                fresh = _fresh(conn.locks, now)
                holder = fresh[0] if fresh else mine
                if holder.id == mine.id:
                    stale = [t.id for t in conn.locks if t.id != mine.id and t not in fresh]
                    if stale:
                        client.delete_tokens(stale)
                        log.info(f"removed {len(stale)} stale lock token(s) of applies that died")
                    break
                client.delete_tokens([mine.id])
                mine = None
                age = human_span(max(0, now - holder.created_time))
                if time.monotonic() >= deadline:
                    raise RefusedError(
                        f"another apply holds the account's lock: token {holder.name} "
                        f"(id {holder.id}), taken {age} ago. Wait for it to finish, or pass "
                        f"--lock-timeout 10m to wait; a lock older than "
                        f"{human_span(STALE_AFTER)} is stale and is taken over"
                    )
                if not said:
                    log.info(f"waiting for another apply (lock {holder.name}, taken {age} ago)")
                    said = True
                sleep(min(POLL, max(0.0, deadline - time.monotonic())))
            yield  # conn.inventory was read with the lock held
        finally:
            if mine is not None:
                try:
                    _release(conn, name, mine, unsure=unsure)
                except NewApiError as exc:
                    log.error(
                        f"could not release the account's lock token {mine.name} (id {mine.id}): "
                        f"{exc}; it goes stale after {human_span(STALE_AFTER)}, or delete it with "
                        f"`provisioner delete {mine.id}`"
                    )
