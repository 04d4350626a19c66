"""``provisioner unlock [ID] [--force] [--yes]``: who holds the account's lock, and removing it.

Like ``terraform force-unlock`` (docs/commands.md#unlock). It lists the lock
tokens of applies (docs/reconcile.md#one-apply-at-a-time) with their holder
(host, process, CI run), since when and until when their lease runs. A lock
whose lease has ended belongs to an apply that stopped without releasing it: it
is removed (the next apply would remove it too). A live lock is refused without
``--force`` and an ID, and explained; with them it is removed after confirmation,
and the apply holding it, if it is still running, stops before its next write
(its next renewal finds the token gone). The file lock of applies on this
machine is shown, never removed: the system releases it when its process ends.
"""

from __future__ import annotations

import contextlib
import fcntl
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from provisioner.cli.options import UnlockOptions
from provisioner.cli.session import Connection, Log, confirm, connect, spec_for_url
from provisioner.errors import ProvisionerError, UsageError
from provisioner.exitcodes import ExitCode
from provisioner.humanize import plural

if TYPE_CHECKING:
    from provisioner.observed import ObservedToken


def this_machine(conn: Connection) -> str | None:
    """Who holds the file lock of this account on this machine now, or None."""
    from provisioner.cli.lock import lock_file

    path = lock_file(conn.url, conn.info.user_id)
    if not path.exists():
        return None
    with open(path, encoding="utf-8", errors="replace") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return handle.read().strip()[:300] or "an apply"
        with contextlib.suppress(OSError):
            fcntl.flock(handle, fcntl.LOCK_UN)
    return None


def run(opts: UnlockOptions) -> int:
    from provisioner.cli.lock import UNLOCK, remove_tokens
    from provisioner.cli.output import header
    from provisioner.lease import clock_text, is_live

    log = Log(opts.common)
    spec = spec_for_url(opts.server, opts.common)
    with connect(opts.server, log, spec, spec_file=opts.common.file, needs="unlock") as conn:
        head = header("", conn)
        now = conn.client.now()
        locks = sorted(conn.locks, key=lambda t: t.id)
        if opts.id is not None:
            chosen = [t for t in locks if t.id == opts.id]
            if not chosen:
                raise ProvisionerError(_not_a_lock(conn, opts.id), ExitCode.ERROR)
        else:
            chosen = locks
        live = [t for t in chosen if is_live(t, now)]
        if live and opts.force and opts.id is None:
            raise UsageError(
                "--force removes one live lock, named by its id: "
                + "; ".join(f"`{UNLOCK} {t.id} --force`" for t in live)
            )
        local = this_machine(conn)
        actions: dict[int, str] = {}
        for lock in chosen:
            actions[lock.id] = "remove" if not is_live(lock, now) or opts.force else "refused"
        doc = _Document(head, now, chosen, actions, local)
        doc.preview(opts.common.output)
        to_remove = [t for t in chosen if actions[t.id] == "remove"]
        if to_remove:
            if opts.common.output != "text" and not opts.yes and sys.stdin.isatty():
                sys.stderr.write(doc.text())
            noun = "this lock token" if len(to_remove) == 1 else "these lock tokens"
            confirm(opts.yes, "remove", noun)
            error = remove_tokens(conn, [t.id for t in to_remove])
            for lock in to_remove:
                actions[lock.id] = "removed" if not error else "failed"
            doc.error = error
        refused = [t for t in chosen if actions[t.id] == "refused"]
        if refused:
            doc.message = (
                "; ".join(_refusal(lock, now) for lock in refused)
                + f". A live lock is removed only with --force: `{UNLOCK} {refused[0].id} --force`"
                " (if its apply is still running, it stops before its next write)"
            )
        elif doc.error:
            doc.message = (
                f"could not remove {plural(len(to_remove), 'lock token')}: {doc.error}; "
                "try again "
                f"(`{UNLOCK}`), or wait: a lease ends by itself, at the latest "
                f"{clock_text(max(t.expired_time for t in to_remove))}"
            )
        elif not chosen:
            doc.message = "no apply holds the account's lock"
        doc.finish(opts.common.output)
    if refused or doc.error:
        log.error(doc.message)
        return ExitCode.REFUSED
    return ExitCode.OK


def _not_a_lock(conn: Connection, token_id: int) -> str:
    from provisioner.cli.lock import UNLOCK
    from provisioner.render.safe import text

    other = next((t for t in conn.inventory if t.id == token_id), None)
    if other is not None:
        return (
            f"token {token_id} ({text(other.name)}) is not a lock token of an apply: unlock "
            "removes only those (a token made by hand in the lock's namespace is never "
            f"removed); `provisioner delete {token_id}` removes an ordinary token"
        )
    return (
        f"no lock token with id {token_id} on this account: its apply may have released it "
        f"already; `{UNLOCK}` lists the locks"
    )


def _refusal(lock: ObservedToken, now: int) -> str:
    from provisioner.humanize import human_span
    from provisioner.lease import clock_text

    return (
        f"lock {lock.id} is live: the apply holding it renews its lease while it runs. If that "
        f"apply died, its lease ends by itself at {clock_text(lock.expired_time)} (in "
        f"{human_span(lock.expired_time - now)}) and the next apply takes over"
    )


@dataclass
class _Document:
    """What unlock shows: the locks, what happened to each, and the outcome."""

    head: Any
    now: int
    locks: list[ObservedToken]
    actions: dict[int, str]
    local: str | None
    error: str = ""
    message: str = ""

    def text(self, *, done: bool = False) -> str:
        from provisioner.lease import describe_lock, is_live
        from provisioner.render.safe import text

        who = text(self.head.url + (f" as {self.head.user}" if self.head.user else ""))
        if not self.locks:
            lines = [f"No apply holds the account's lock on {who}."]
        else:
            lines = [f"{plural(len(self.locks), 'lock token')} on {who}:", ""]
            for lock in self.locks:
                state = "live" if is_live(lock, self.now) else "lease ended"
                action = self.actions.get(lock.id, "")
                if done:
                    mark = {"removed": "✓ removed", "failed": "✗ not removed"}.get(action, "")
                    mark = mark or ("kept (live)" if action == "refused" else "")
                else:
                    mark = {"remove": "will be removed", "refused": "kept (live)"}.get(action, "")
                lines.append(f"  {text(describe_lock(lock, self.now))}")
                lines.append(f"    {state}" + (f"; {mark}" if mark else ""))
        if self.local:
            lines += ["", f"On this machine an apply holds the file lock: {text(self.local)}."]
        return "\n".join(lines) + "\n"

    def preview(self, output: str) -> None:
        if output == "text":
            sys.stdout.write(self.text())
            sys.stdout.flush()

    def to_json(self) -> dict[str, Any]:
        from provisioner.lease import lock_json
        from provisioner.render.plan import json_head

        return {
            **json_head("unlock", self.head),
            "now": self.now,
            "locks": [
                {**lock_json(lock, self.now), "result": self.actions.get(lock.id, "")}
                for lock in self.locks
            ],
            "this_machine": self.local,
            "removed": sum(1 for a in self.actions.values() if a == "removed"),
            "refused": sum(1 for a in self.actions.values() if a == "refused"),
            "error": self.error or None,
            "message": self.message,
        }

    def finish(self, output: str) -> None:
        from provisioner.render.plan import dumps
        from provisioner.render.safe import fence

        if output == "json":
            sys.stdout.write(dumps(self.to_json()))
        elif output == "markdown":
            body = self.text(done=True).rstrip("\n").splitlines()
            sys.stdout.write("### provisioner unlock\n\n" + "\n".join(fence(body)) + "\n")
        else:
            removed = [lock for lock in self.locks if self.actions.get(lock.id) == "removed"]
            if removed:
                ids = ", ".join(str(lock.id) for lock in removed)
                sys.stdout.write(f"\nRemoved {plural(len(removed), 'lock token')} ({ids}).\n")
        sys.stdout.flush()
