"""One apply at a time, and never a deploy blocked (docs/reconcile.md#one-apply-at-a-time).

Two applies of one account must never create the same tokens. The guard:

* a **file lock**, for two runs on this machine (any folder): every apply takes it;
* a **lock token** on the server, for runs anywhere, taken only by an apply whose
  plan creates tokens (duplicates come from concurrent creates; an apply that only
  updates, disables or deletes needs none, so a full account can always be cleaned
  up). Its record is :mod:`provisioner.lease`: created with no quota, then
  disabled; its ``expired_time`` is the end of a short **lease** (2 minutes) that a
  background thread renews every third of it; the lowest id among the live locks
  holds the account. Its create is never re-sent: after an ambiguous failure the
  token is looked for by its unique name.

While the lock is held, every write this client sends is checked right before it
leaves (:meth:`Lease.before_send`, after any pacing or rate-limit wait): once the
lease is lost (the token was removed by ``provisioner unlock --force`` or by another
apply after the lease ran out, or renewing failed past its end) no write goes out,
and apply exits 4 saying what happened. A lease that ran out while the server made
us wait is taken back only when no other apply holds a live lock by then.

A second apply waits up to ``--lock-timeout``, then exits 4 naming the holder. Every
message about the lock names ``provisioner unlock``, which shows and removes locks.
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import hashlib
import os
import secrets
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from provisioner.cli.session import Connection, Log
from provisioner.errors import ProvisionerError, RefusedError
from provisioner.exitcodes import ExitCode
from provisioner.humanize import human_span, plural
from provisioner.lease import (
    DEFAULT_LEASE,
    Holder,
    clock_text,
    describe_lock,
    expired_locks,
    holder_from,
    is_lock_token,
    live_locks,
    split_locks,
)
from provisioner.newapi.bodies import lock_body
from provisioner.newapi.errors import AmbiguousWriteError, NewApiError
from provisioner.newapi.transport import Call
from provisioner.observed import ObservedToken, TokenStatus
from provisioner.plan.server_checks import cap_words
from provisioner.spec.reserved import LOCK_PREFIX

#: the lease's length in seconds, for tests (docs/robustness.md#tuning-knob-provisioner_lock_lease)
LEASE_VARIABLE = "PROVISIONER_LOCK_LEASE"
POLL = 5.0  # seconds between looks while waiting for another apply
RELEASE_TRIES = 4  # removing a lock token: tries, 0.5 s apart and doubling
UNLOCK = "provisioner unlock"
# Routes that change nothing (a reveal reads a key): never held by the lease check.
_READS = frozenset({"POST /api/token/batch/keys", "POST /api/token/:id/key"})


class LockLostError(NewApiError):
    """The account's lock is no longer ours: no write may leave (exit 4)."""

    exit_code = ExitCode.REFUSED


def lease_seconds() -> float:
    """The lease's length: ``PROVISIONER_LOCK_LEASE`` seconds (3 to 3600), else 2 minutes."""
    from provisioner.cli.options import number, variable

    text = os.environ.get(LEASE_VARIABLE, "").strip()
    if not text:
        return float(DEFAULT_LEASE)
    return variable(LEASE_VARIABLE, number, text, low=3, high=3600, what="a number of seconds")


def this_holder() -> Holder:
    """This process as a lock holder: host, pid, user and the CI run (no secret)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = ""
    return holder_from(os.environ, host=socket.gethostname(), pid=os.getpid(), user=user)


# ---------------------------------------------------------------------------- this machine


def lock_file(url: str, user_id: int | None) -> Path:
    """The file lock of one account on this machine (``PROVISIONER_LOCK_DIR`` moves it)."""
    digest = hashlib.sha256(f"{url}|{user_id}".encode()).hexdigest()[:16]
    # PROVISIONER_LOCK_DIR: the tests play two machines with two folders.
    folder = Path(
        os.environ.get("PROVISIONER_LOCK_DIR") or Path(tempfile.gettempdir()) / "provisioner-locks"
    )
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder / f"{digest}.lock"


@contextlib.contextmanager
def machine_lock(
    conn: Connection,
    log: Log,
    *,
    timeout: float,
    holder: Holder,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[bool]:
    """Hold the account on this machine; yields True when another apply had it first."""
    path = lock_file(conn.url, conn.info.user_id)
    handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 (held for the whole apply)
    waited = False
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                handle.seek(0)
                other = handle.read().strip()[:300] or "another apply"
                if time.monotonic() >= deadline:
                    raise RefusedError(
                        f"another apply of this account is running on this machine ({other}); "
                        "wait for it to finish, or pass --lock-timeout 10m to wait. "
                        f"`{UNLOCK}` shows the account's lock"
                    ) from None
                if not waited:
                    log.info(
                        f"waiting for another apply on this machine to finish ({other}; "
                        f"`{UNLOCK}` shows the account's lock)"
                    )
                    waited = True
                sleep(min(1.0, max(0.0, deadline - time.monotonic())))
        handle.seek(0)
        handle.truncate()
        handle.write(f"{holder.describe()}, since {clock_text(int(time.time()))}")
        handle.flush()
        yield waited
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


# ---------------------------------------------------------------------------- the lease


class Lease:
    """A lock token this apply holds, renewed in the background while the apply runs."""

    def __init__(
        self,
        conn: Connection,
        log: Log,
        token: ObservedToken,
        lease_end: int,
        *,
        length: float,
        unsure: bool,
    ) -> None:
        self.conn = conn
        self.log = log
        self.token = token
        self.length = length
        self.unsure = unsure  # its create was ambiguous: a second token of its name may land
        self.lease_end = lease_end  # the server's clock
        self.lost: str | None = None
        self.gone = False  # its token is no longer on the server: nothing to release
        self._changed = threading.Condition()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._own = threading.local()
        self._thread: threading.Thread | None = None

    # -- what the rest of the apply sees --

    @property
    def margin(self) -> float:
        """A write may leave only while at least this much of the lease is left."""
        return self.length / 3

    def before_send(self, call: Call) -> None:
        """The transport's last check before a write leaves: raise if the lease is lost.

        A lease about to end (renewal late: the server or its rate limit made us wait)
        holds the write until the renewal thread has renewed it or given it up (it gives
        up a whole lease past the end, or when its calls fail for good).
        """
        if call.method == "GET" or call.route in _READS or getattr(self._own, "on", False):
            return
        with self._changed:
            while True:
                if self.lost is None and (self._thread is None or not self._thread.is_alive()):
                    self._lose("its lease is no longer renewed")
                if self.lost is not None:
                    raise LockLostError(
                        f"not sent: the account's lock was lost ({self.lost})",
                        method=call.method,
                        path=call.path,
                    )
                if self.conn.client.now() + self.margin <= self.lease_end:
                    return
                self._wake.set()
                self._changed.wait(timeout=0.25)

    @contextlib.contextmanager
    def own_calls(self) -> Iterator[None]:
        """The lock's own requests (renewal, release) are never held by its check, and may
        use the few slots of a rate limit that creates leave free (transport.urgent)."""
        previous = getattr(self._own, "on", False)
        self._own.on = True
        try:
            with self.conn.client.transport.urgent():
                yield
        finally:
            self._own.on = previous

    def start(self) -> None:
        self.conn.client.transport.before_send = self.before_send
        self._thread = threading.Thread(target=self._run, name="lock-lease", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            # a renewal still on the wire finds the token gone and says nothing (stopping)
            self._thread.join(timeout=min(self.length, 5.0))
        if self.conn.client.transport.before_send == self.before_send:
            self.conn.client.transport.before_send = None

    # -- renewing --

    def _run(self) -> None:
        self._own.on = True
        failures = 0
        while not self._stop.is_set():
            due = self.lease_end - 2 * self.length / 3 - self.conn.client.now()
            wait = max(0.2, due) if failures == 0 else min(self.length / 6, 0.5 * 2**failures)
            if self._wake.wait(timeout=wait):
                self._wake.clear()
            if self._stop.is_set() or self.lost is not None:
                return
            if failures == 0 and self.conn.client.now() < self.lease_end - 2 * self.length / 3:
                continue  # woken early, and the lease is still young
            try:
                self.renew()
                failures = 0
            except LockLostError as exc:
                self._lose(exc.message)
                return
            except NewApiError as exc:
                failures += 1
                self.log.debug(f"renewing the account's lock failed: {exc}")
                if self.conn.client.now() > self.lease_end + self.length:
                    self._lose(f"renewing its lease failed past its end ({exc})")
                    return
            except Exception as exc:  # a bug must not leave writes waiting for ever
                self._lose(f"renewing its lease failed ({type(exc).__name__})")
                return

    def renew(self) -> None:
        """Move the lease end a whole lease on; LockLostError when the lock is not ours."""
        from provisioner.plan.actions import FieldUpdates

        client = self.conn.client
        with self.own_calls():
            try:
                current = client.get_token(self.token.id)
            except NewApiError:
                if self._gone():
                    self.gone = True
                    raise LockLostError(
                        f"its token {self.token.name} (id {self.token.id}) was removed, by "
                        f"`{UNLOCK} --force` or by another apply after the lease had run out"
                    ) from None
                raise
            if current.name != self.token.name:
                raise LockLostError(
                    f"the lock token {self.token.name} (id {self.token.id}) was changed on the "
                    f"server (it is now {current.name!r})"
                )
            ended = self.lease_end
            sent_end = client.now() + int(self.length)
            # the lease moves on, and a lock made usable by hand is made a lock again (a
            # budget of what it used: nothing left)
            updates = FieldUpdates(
                expired_time=sent_end, unlimited_quota=False, budget=current.used_quota
            )
            stored = client.update(current, updates)
            now = client.now()
            if now > ended:
                # The lease ran out before this renewal landed: another apply may have
                # taken the account meanwhile. Ours again only if nobody holds it now.
                _, locks = split_locks(client.list_tokens())
                others = [t for t in live_locks(locks, now) if t.id != self.token.id]
                if others:
                    raise LockLostError(
                        f"its lease ran out at {clock_text(ended)} and another apply took the "
                        f"account's lock: {describe_lock(others[0], now)}"
                    )
                self.log.info(
                    f"the account's lock lease had run out ({human_span(now - ended)} ago, "
                    "while the server made us wait); renewed: no other apply took it "
                    f"(`{UNLOCK}` shows the account's locks)"
                )
        with self._changed:
            self.token = stored
            # what the server kept (others judge by it); what was sent if it shows nonsense
            self.lease_end = stored.expired_time if stored.expired_time > 0 else sent_end
            self._changed.notify_all()

    def _gone(self) -> bool:
        try:
            tokens = self.conn.client.list_tokens()
        except NewApiError:
            return False
        return all(t.id != self.token.id for t in tokens)

    def _lose(self, why: str) -> None:
        with self._changed:
            if self.lost is None:
                self.lost = why
                if not self._stop.is_set():
                    self.log.error(
                        f"the account's lock was lost: {why}; no further write is sent "
                        f"(`{UNLOCK}` shows who holds it)"
                    )
            self._changed.notify_all()

    def lost_message(self) -> str:
        """What happened, for the end of the apply (exit 4)."""
        return (
            f"the account's lock was lost: {self.lost}. This apply stopped before its next "
            "write. Another apply (or `provisioner unlock --force`) may be changing the "
            f"account; `{UNLOCK}` shows who holds it now. Run `provisioner plan` to see what "
            "is left, then apply again"
        )


# ---------------------------------------------------------------------------- taking it


def _busy(holder: ObservedToken, now: int) -> RefusedError:
    return RefusedError(
        f"another apply holds the account's lock: {describe_lock(holder, now)}. It renews "
        "its lease while it runs: wait for it with --lock-timeout 10m. If it died, its lease "
        f"ends by itself and the next apply takes over; `{UNLOCK} {holder.id}` shows it and "
        f"`{UNLOCK} {holder.id} --force` removes it now"
    )


def remove_tokens(conn: Connection, ids: Sequence[int]) -> str:
    """Delete lock tokens, retried (a server busy with another apply's writes answers
    errors such as SQLITE_BUSY); "" when they are gone, else the last error."""
    client = conn.client
    wanted = list(dict.fromkeys(ids))
    error = ""
    for attempt in range(RELEASE_TRIES):
        if attempt:
            time.sleep(0.5 * 2 ** (attempt - 1))
        try:
            if client.delete_tokens(wanted) == len(wanted):
                return ""
        except NewApiError as exc:
            error = str(exc)
            for token_id in wanted:  # the other route: DELETE /api/token/:id
                try:
                    client.delete_token(token_id)
                except NewApiError as single:
                    error = str(single)
        try:
            present = {t.id for t in client.list_tokens()}
        except NewApiError as exc:
            error = error or str(exc)
            continue
        wanted = [i for i in wanted if i in present]
        if not wanted:
            return ""
        error = error or "the server kept it"
    return error


def _find(conn: Connection, name: str, until: int | None) -> list[ObservedToken]:
    """Re-list until a token named ``name`` shows (or, with ``until``, that server time passes)."""
    delay = 0.5
    while True:
        try:
            conn.relist()
        except NewApiError:
            if until is None:
                raise
        else:
            ours = sorted(
                (t for t in [*conn.locks, *conn.inventory] if t.name == name), key=lambda t: t.id
            )
            if ours or until is None or conn.client.now() > until:
                return ours
        if until is not None and conn.client.now() > until:
            return []
        time.sleep(delay)
        delay = min(POLL, delay * 2)


def _create(
    conn: Connection, log: Log, name: str, holder: Holder, length: float
) -> tuple[ObservedToken, bool, int]:
    """Create the lock token once and find it: the token, whether its create was unsure,
    and the lease end it was sent with.

    A create is never re-sent blindly (docs/server-contract.md#creating-a-token): after a
    timeout the token is looked for until its lease would have ended (one that lands
    later is expired already, so harmless); after another ambiguous failure one re-list
    decides, and only a create it proves missing is sent again.
    """
    client = conn.client
    body = lock_body(name, client.now() + int(length), holder)
    problem = ""
    for _ in range(3):
        try:
            client.create_token(body)
        except AmbiguousWriteError as exc:
            problem = str(exc)
            ours = _find(conn, name, body["expired_time"] if exc.timed_out else None)
            if ours:
                return _only(conn, ours, log), True, body["expired_time"]
            if exc.timed_out:
                raise ProvisionerError(
                    f"could not take the account's lock: creating its token {name} got no "
                    f"answer in time ({exc.message}) and it has not appeared. If it lands "
                    f"later, its lease is over by then and the next apply removes it; try "
                    f"again (`{UNLOCK}` shows the account's locks)",
                    ExitCode.REFUSED,
                ) from None
            continue  # the re-list proves it never committed: sending it again is safe
        except NewApiError as exc:
            count = len(conn.inventory) + len(conn.locks)
            words = cap_words(exc.message, count)
            if words is not None:
                raise RefusedError(
                    "could not take the account's lock: it needs one free place on the "
                    f"account while apply creates tokens, and the account is full. {words} "
                    f"(`{UNLOCK}` shows locks left behind)"
                ) from None
            raise ProvisionerError(
                f"could not take the account's lock (a token named {name}): {exc} "
                f"(`{UNLOCK}` shows the account's locks)",
                exc.exit_code,
            ) from None
        ours = _find(conn, name, None)
        if ours:
            return _only(conn, ours, log), bool(problem), body["expired_time"]
        raise ProvisionerError(
            f"could not take the account's lock: its token {name} was created but is not "
            f"listed; try again (`{UNLOCK}` shows the account's locks)",
            ExitCode.REFUSED,
        )
    raise ProvisionerError(
        f"could not take the account's lock: creating its token {name} failed three times "
        f"without committing ({problem}); try again (`{UNLOCK}` shows the account's locks)",
        ExitCode.REFUSED,
    )


def _only(conn: Connection, ours: list[ObservedToken], log: Log) -> ObservedToken:
    """Our token (its name is ours alone); extra tokens of our name are removed."""
    mine, extra = ours[0], [t.id for t in ours[1:]]
    if extra:
        remove_tokens(conn, extra)
        conn.locks = [t for t in conn.locks if t.id not in extra]
    if not is_lock_token(mine):
        # Ours by its name, but another apply would not know it for a lock.
        log.info(
            f"warning: the server lists the lock token {mine.name} with other fields than "
            f"were sent (quota {mine.remain_quota}, expiry {mine.expired_time}): another "
            f"apply may not see this one's lock (`{UNLOCK}` shows the account's locks)"
        )
    return mine


def _take(
    conn: Connection,
    log: Log,
    *,
    holder: Holder,
    length: float,
    timeout: float,
    sleep: Callable[[float], None],
) -> Lease:
    client = conn.client
    deadline = time.monotonic() + timeout
    said = False
    tries = 0
    while True:
        now = client.now()
        live = live_locks(conn.locks, now)
        if not live:
            tries += 1
            name = LOCK_PREFIX + secrets.token_hex(4)  # 25 bytes: fits 30-byte names
            mine, unsure, sent_end = _create(conn, log, name, holder, length)
            now = client.now()
            live = live_locks(conn.locks, now)
            ends = mine.expired_time if is_lock_token(mine) else sent_end
            if ends >= now and not [t for t in live if t.id < mine.id]:
                return _hold(conn, log, mine, ends, length=length, unsure=unsure, now=now)
            _yield(conn, mine, name, unsure, live)
            live = [t for t in live if t.id != mine.id]
            if not live and tries < 3:
                continue  # our lease ended before we could look (a very slow create)
            if not live:
                raise ProvisionerError(
                    "could not take the account's lock: the server took longer than the "
                    f"lease ({human_span(int(length))}) to create its token; try again "
                    f"(`{UNLOCK}` shows the account's locks)",
                    ExitCode.REFUSED,
                )
        if time.monotonic() >= deadline:
            raise _busy(live[0], now)
        if not said:
            log.info(
                f"waiting for another apply: {describe_lock(live[0], now)} "
                f"(`{UNLOCK}` shows the account's locks)"
            )
            said = True
        sleep(min(POLL, max(0.0, deadline - time.monotonic())))
        conn.relist()


def _hold(
    conn: Connection,
    log: Log,
    mine: ObservedToken,
    lease_end: int,
    *,
    length: float,
    unsure: bool,
    now: int,
) -> Lease:
    """Ours: disable the token (never a usable key), remove expired locks, start renewing."""
    client = conn.client
    try:
        mine = client.set_status(mine.id, TokenStatus.DISABLED)
    except NewApiError as exc:
        error = remove_tokens(conn, [mine.id])
        left = f"; it could not be removed ({error}): `{UNLOCK} {mine.id}`" if error else ""
        raise ProvisionerError(
            f"could not take the account's lock: disabling its token {mine.name} failed "
            f"({exc}){left}",
            ExitCode.REFUSED,
        ) from None
    # Locks whose lease had ended when we won: applies that stopped without releasing.
    # Removed only now, from the listing we won with (one renewed since would have shown).
    dead = expired_locks(conn.locks, now)
    if dead:
        error = remove_tokens(conn, [t.id for t in dead])
        if error:
            log.debug(f"could not remove expired lock tokens: {error}")
        else:
            log.info(
                f"removed {plural(len(dead), 'lock token')} whose lease had "
                f"ended (applies that stopped without releasing; `{UNLOCK}` lists locks)"
            )
    conn.locks = [t for t in conn.locks if t not in dead]
    lease = Lease(conn, log, mine, lease_end, length=length, unsure=unsure)
    lease.start()
    return lease


def _yield(
    conn: Connection, mine: ObservedToken, name: str, unsure: bool, live: list[ObservedToken]
) -> None:
    """Remove our token after losing the race; a failure is the lock's situation (exit 4)."""
    ids = [mine.id] + ([t.id for t in conn.locks if t.name == name] if unsure else [])
    error = remove_tokens(conn, ids)
    conn.locks = [t for t in conn.locks if t.id not in ids]
    if not error:
        return
    others = [t for t in live if t.id != mine.id]
    situation = (
        _busy(others[0], conn.client.now()).message
        if others
        else "could not take the account's lock"
    )
    raise RefusedError(
        f"{situation}. This apply's own lock token {mine.name} (id {mine.id}) could not be "
        f"removed ({error}); its lease ends by itself at {clock_text(mine.expired_time)}, or "
        f"`{UNLOCK} {mine.id}` removes it now"
    )


def _release(conn: Connection, log: Log, lease: Lease) -> None:
    lease.stop()
    if lease.gone:
        return  # removed by someone else: no request goes out after the lease is lost
    with lease.own_calls():
        ids = [lease.token.id]
        if lease.unsure:
            with contextlib.suppress(NewApiError):
                conn.relist()
                ids += [t.id for t in conn.locks if t.name == lease.token.name]
        error = remove_tokens(conn, ids)
    if error:
        log.error(
            f"could not release the account's lock token {lease.token.name} (id "
            f"{lease.token.id}): {error}; its lease ends by itself at "
            f"{clock_text(lease.lease_end)}, or `{UNLOCK} {lease.token.id}` removes it now"
        )


@contextlib.contextmanager
def account_lock(
    conn: Connection,
    log: Log,
    *,
    timeout: float = 0.0,
    holder: Holder | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[Lease]:
    """Hold the account (the lock token) for one apply; ``conn.inventory`` is re-read once
    it is held. The caller holds :func:`machine_lock` already (:func:`apply_lock` takes both)."""
    length = lease_seconds()
    lease = _take(
        conn, log, holder=holder or this_holder(), length=length, timeout=timeout, sleep=sleep
    )
    try:
        yield lease  # conn.inventory was read with the lock held
    finally:
        _release(conn, log, lease)


@dataclass
class Held:
    """What :func:`apply_lock` holds: whether another run on this machine had the account
    first (``conn`` was re-read then), and the lease when the run creates tokens."""

    waited: bool
    lease: Lease | None = None


@contextlib.contextmanager
def apply_lock(
    conn: Connection,
    log: Log,
    *,
    timeout: float = 0.0,
    creates: bool | Callable[[], bool] = True,
    holder: Holder | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[Held]:
    """Hold the account for one run that writes (apply, rotate), both locks within one
    ``timeout``: the file lock of this machine always; then the lock token on the server
    when ``creates`` says the run creates tokens (asked once the file lock is held and
    ``conn`` re-read, so a plan made again after a wait can answer).
    """
    holder = holder or this_holder()
    deadline = time.monotonic() + timeout
    with machine_lock(conn, log, timeout=timeout, holder=holder, sleep=sleep) as waited:
        held = Held(waited)
        if waited:  # another run on this machine went first: see what it did
            conn.relist()
        if not (creates() if callable(creates) else creates):
            # Nothing to create, nothing to duplicate: the file lock is enough, so a
            # full account can always be cleaned up (docs/reconcile.md#one-apply-at-a-time).
            yield held
            return
        left = max(0.0, deadline - time.monotonic())
        with account_lock(conn, log, timeout=left, holder=holder, sleep=sleep) as lease:
            held.lease = lease
            yield held
