"""Execute a Plan against the server and report every operation.

Apply walks the plan; it does not re-decide what to do. Order
(docs/reconcile.md#order-of-apply): rotations and creates, one re-list to learn
the new ids, key delivery, the rotations' old tokens moved aside (only once the
sink confirmed the new key), renames and updates, enables, deliveries of keys the
sink lacks, disables, deletes.

Nothing is reported done that the server dropped: the record a write returns (or
the re-list after creates) is compared with what was written
(:func:`provisioner.plan.server_checks.dropped_fields`). A new token whose limit
the server may store without enforcing is created already expired, and made
usable only once its record shows the limit is enforced
(:func:`provisioner.plan.server_checks.unenforced_limits`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import replace
from typing import Any, Protocol

from provisioner.newapi.errors import (
    AmbiguousWriteError,
    AuthError,
    ConnectionFailedError,
    NewApiError,
    NotNewApiError,
    RateLimitedError,
    UnsupportedError,
)
from provisioner.observed import ObservedToken, TokenStatus
from provisioner.plan.actions import (
    Action,
    Create,
    Creating,
    FieldUpdates,
    Rotate,
    TokenFields,
    Update,
)
from provisioner.plan.model import KeyPrint, Plan, key_print
from provisioner.plan.ownership import pending_name
from provisioner.plan.server_checks import (
    cap_advice,
    cap_of,
    dropped_fields,
    unenforced_limits,
)
from provisioner.report import OpResult, Report
from provisioner.secret import Secret
from provisioner.spec.desired import EARLIEST_EXPIRY


class Client(Protocol):  # what apply needs of provisioner.newapi.client.NewApiClient
    def create(self, fields: TokenFields) -> ObservedToken | None: ...
    def list_tokens(self) -> list[ObservedToken]: ...
    def update(self, token: ObservedToken, updates: FieldUpdates) -> ObservedToken: ...
    def set_status(self, token_id: int, status: int) -> ObservedToken: ...
    def delete_tokens(self, ids: Sequence[int]) -> int: ...
    def reveal_keys(self, ids: Sequence[int]) -> dict[int, Secret]:
        """Any number of ids: the client cuts them into batches (later ones in parallel)."""
        ...


Deliver = Callable[[list[tuple[str, str, Secret]]], dict[str, str]]
"""Delivers (name, key_name, key) triples; returns name -> error for failures."""

Forget = Callable[[Mapping[str, KeyPrint | None]], list[str]]
"""Removes the keys of deleted tokens from the sink (key name -> the deleted key's print)."""


class Progress(Protocol):
    """Where the executor says how far it is (the shell shows it on stderr)."""

    def phase(self, name: str, total: int) -> None: ...
    def advance(self, label: str) -> None: ...


class _Quiet:
    def phase(self, name: str, total: int) -> None:
        pass

    def advance(self, label: str) -> None:
        pass


# A create refused for one of these reasons would be refused for every create after it:
# the account is at its token cap, the credential lost a permission, the server is gone.
_PHASE_ENDING = (
    AuthError,
    UnsupportedError,
    NotNewApiError,
    RateLimitedError,
    ConnectionFailedError,
)


def _error_text(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def ends_the_phase(exc: NewApiError) -> bool:
    """True when every remaining create would fail the same way."""
    if isinstance(exc, _PHASE_ENDING):
        return True
    return cap_of(exc.message) is not None


class Executor:
    def __init__(
        self,
        plan: Plan,
        client: Client,
        inventory: Sequence[ObservedToken],
        *,
        deliver: Deliver | None = None,
        forget: Forget | None = None,
        progress: Progress | None = None,
        create_concurrency: int = 1,
    ) -> None:
        self.plan = plan
        self.client = client
        self.by_id = {t.id: t for t in inventory}
        self.known_ids = set(self.by_id)
        self.deliver = deliver
        self.forget = forget
        self.progress = progress or _Quiet()
        self.create_concurrency = max(1, create_concurrency)
        self.report = Report()
        self.created: dict[str, int] = {}  # name -> new id
        self.failed_names: set[str] = set()
        # id() of a create or rotation -> the settings it POSTed (a rotation's new token is
        # called NAME.new-YYYYMMDD until the old one has moved aside)
        self._sent: dict[int, TokenFields] = {}
        self._taken = {t.name for t in inventory}
        self._delivered: set[int] = set()  # id() of actions whose new key the sink took
        # create POSTs in flight, with their futures (several when creates run in parallel)
        self._posting: list[tuple[Creating, OpResult, Future[tuple[str, Any]]]] = []

    # -- bookkeeping --

    def _result(self, action: Action, kind: str | None = None) -> OpResult:
        result = OpResult(kind or action.kind, action.name, action.token_id)
        self.report.results.append(result)
        return result

    def _fail(self, result: OpResult, error: str) -> None:
        result.status = "failed"
        result.error = error
        self.failed_names.add(result.name)

    def _write(self, token: ObservedToken, updates: FieldUpdates) -> list[str]:
        """One update of ``token``: its stored record replaces it in ``by_id``; returns the
        fields the server did not keep (empty when it kept them all)."""
        stored = self.client.update(token, updates)
        self.by_id[token.id] = stored
        return dropped_fields(updates.applied_to(token), stored)

    def _check_kept(self, result: OpResult, dropped: list[str]) -> None:
        if dropped:
            self._fail(
                result,
                "the server did not keep " + "; ".join(dropped) + " (docs/servers.md)",
            )

    # -- phases --

    def run(self) -> Report:
        ordered = self.plan.ordered()
        pending = {id(a): self._result(a) for a in ordered}
        try:
            creates = [a for a in ordered if isinstance(a, Creating)]
            if creates:
                self._create_phase(creates, pending)
            enabled: list[tuple[Action, OpResult]] = []
            changes = [a for a in ordered if a.kind in ("rename", "update", "enable")]
            if changes:
                self.progress.phase("updating", len(changes))
            for action in changes:
                result = pending.pop(id(action))
                self._change_one(action, result)
                if action.kind == "enable" and result.status == "ok":
                    enabled.append((action, result))
            # A token coming back to life gets its key delivered too: it may have been
            # disabled because an earlier delivery failed (the server has no labels).
            redeliver = [(a, pending.pop(id(a))) for a in ordered if a.kind == "deliver"]
            self._deliver_keys(enabled, redeliver=redeliver)
            disables = [a for a in ordered if a.kind == "disable"]
            if disables:
                self.progress.phase("disabling", len(disables))
            for action in disables:
                self._change_one(action, pending.pop(id(action)))
            deletes = [a for a in ordered if a.kind == "delete"]
            if deletes:
                self._delete_phase(deletes, pending)
        except KeyboardInterrupt:
            self.report.interrupted = True
        # anything never reached stays "not-run"
        return self.report

    def _create_phase(self, actions: list[Creating], pending: dict[int, OpResult]) -> None:
        ambiguous: list[tuple[Creating, OpResult]] = []
        attempted: list[tuple[Creating, OpResult]] = []
        # id() of actions whose POST got no answer in time -> what the transport saw
        timed_out: dict[int, str] = {}
        if self.deliver is None:
            # A rotation moves the old token aside only once the sink took the new key:
            # with no sink it cannot finish, so it does not start.
            for action in [a for a in actions if a.kind == "rotate"]:
                self._fail(
                    pending.pop(id(action)),
                    "a rotation needs a key sink (keys.to or --keys-to): the old token is "
                    "moved aside only once the sink took the new key; nothing was changed",
                )
            actions = [a for a in actions if a.kind != "rotate"]
            if not actions:
                return
        for action in actions:
            self._sent[id(action)] = self._new_settings(action)
        self.progress.phase("creating", len(actions))
        try:
            self._post_creates(actions, pending, ambiguous, attempted, timed_out)
        except KeyboardInterrupt:
            # Say what really happened: a POST that was answered created its token, even
            # though the re-list and the key delivery never ran (the rerun delivers the key:
            # the sink lacks it, docs/reconcile.md#keys-never-go-missing).
            keys = self.report.keys_undelivered if self.deliver else self.report.keys_pending
            unknown = {id(a) for a, _ in ambiguous}
            for action, result in attempted:
                if id(action) in unknown:
                    self._fail(result, "outcome unknown; interrupted before re-listing")
                else:
                    result.status = "ok"
                    result.detail = "created; interrupted before its key was delivered"
                self._interrupted(action, result, keys)
            for action, result, future in self._posting:
                # A POST answered before the signal created its token; one still in flight
                # may or may not land.
                answered = future.done() and not future.cancelled() and future.exception() is None
                if answered and future.result()[0] == "ok":
                    result.status = "ok"
                    result.detail = "created; interrupted before its key was delivered"
                else:
                    self._fail(result, "interrupted while creating: the server may have created it")
                self._interrupted(action, result, keys)
            raise
        try:
            self._finish_creates(ambiguous, attempted, timed_out)
        except KeyboardInterrupt:
            # Interrupted while re-listing or delivering: answered creates made their tokens;
            # whatever was not delivered is named (a readable sink notices it on the rerun).
            keys = self.report.keys_undelivered if self.deliver else self.report.keys_pending
            delivered = {r.name for r in self.report.results if r.kind == "deliver"}
            for action, result in attempted:
                if result.status == "not-run":
                    result.status = "ok"
                    result.detail = "created; interrupted before its key was delivered"
                if action.kind == "rotate":
                    self._interrupted(action, result, keys)
                elif result.status == "ok" and action.name not in delivered:
                    keys.append(action.name)
            raise

    def _interrupted(self, action: Creating, result: OpResult, keys: list[str]) -> None:
        """Name what an interrupted create or rotation left (the rerun finds the rest)."""
        if not isinstance(action, Rotate):
            keys.append(action.name)
            return
        if result.status == "ok" and result.detail.startswith("old token"):
            return  # the rotation finished before the signal
        # The old token keeps its name and key until the rotation finished: nothing goes
        # missing; the next apply removes the unfinished token (docs/reconcile.md#leftovers).
        self._fail(
            result,
            f"interrupted: its new token ({self._made_as(action)}) may exist, but the old "
            f"token still holds {action.name} and its key; the next apply removes the new one "
            "and rotates again",
        )

    def _new_settings(self, action: Creating) -> TokenFields:
        """What the POST of a create or of a rotation's new token asks for."""
        settings = action.settings
        if isinstance(action, Rotate):
            # The old token keeps NAME until the sink confirmed the new key.
            settings = replace(settings, name=pending_name(action.name, self.plan.now, self._taken))
            self._taken.add(settings.name)
        if isinstance(action, Create) and action.unconfirmed:
            # The server ignores a status on create: a token whose limit it may store
            # without enforcing is created already expired, so its key works nowhere until
            # the re-listed record shows the limit holds (docs/reconcile.md#plan-knows-the-server).
            settings = replace(settings, expired_time=EARLIEST_EXPIRY)
        return settings

    def _made_as(self, action: Creating) -> str:
        """The name the new token of ``action`` was created with."""
        return self._sent.get(id(action), action.settings).name

    def _post_one(self, action: Creating, result: OpResult) -> tuple[str, Any]:
        """One rotation or create POST: ("ok"|"ambiguous"|"failed", detail)."""
        try:
            self.client.create(self._sent[id(action)])
        except AmbiguousWriteError as exc:
            return "ambiguous", exc
        except NewApiError as exc:
            return "failed", exc
        return "ok", None

    def _post_creates(
        self,
        actions: list[Creating],
        pending: dict[int, OpResult],
        ambiguous: list[tuple[Creating, OpResult]],
        attempted: list[tuple[Creating, OpResult]],
        timed_out: dict[int, str],
    ) -> None:
        queue = [(a, pending.pop(id(a))) for a in actions]
        # Up to ``width`` POSTs in flight: each worker sends its next one as soon as its
        # last is answered (a batch would wait for its slowest), and records the outcome
        # itself (no hand-over per POST). The calling thread is one of the workers.
        width = max(1, min(self.create_concurrency, len(queue)))
        lock = threading.Lock()
        in_flight: dict[int, Future[tuple[str, Any]]] = {}  # place in the queue -> its POST
        taken = 0
        stop: NewApiError | None = None
        frozen = False  # interrupted: what is recorded stays as it is
        bug: Exception | None = None

        def record(action: Creating, result: OpResult, outcome: str, detail: Any) -> None:
            nonlocal stop
            self.progress.advance(action.name)
            if outcome == "ok":
                attempted.append((action, result))
            elif outcome == "ambiguous":
                result.detail = f"outcome unknown ({_error_text(detail)}); checked by re-listing"
                ambiguous.append((action, result))
                attempted.append((action, result))
                if detail.timed_out:
                    timed_out[id(action)] = detail.reason
            else:
                self._fail(result, _error_text(detail))
                if ends_the_phase(detail):
                    stop = detail

        def work() -> None:
            nonlocal taken, bug
            while True:
                with lock:
                    if frozen or stop is not None or bug is not None or taken >= len(queue):
                        return
                    position, taken = taken, taken + 1
                    future: Future[tuple[str, Any]] = Future()
                    in_flight[position] = future
                action, result = queue[position]
                try:
                    outcome, detail = self._post_one(action, result)
                except Exception as exc:  # a bug, not a refusal: the caller raises it
                    future.set_exception(exc)
                    with lock:
                        bug = bug or exc
                    return
                future.set_result((outcome, detail))
                with lock:
                    if frozen:
                        return
                    del in_flight[position]
                    record(action, result, outcome, detail)

        workers = [threading.Thread(target=work, name="create") for _ in range(width - 1)]
        try:
            for worker in workers:
                worker.start()
            work()
            for worker in workers:
                worker.join()
        except BaseException:  # interrupted: the POSTs in flight may or may not land
            with lock:
                frozen = True
                self._posting = [(*queue[i], f) for i, f in sorted(in_flight.items())]
            raise
        if bug is not None:
            raise bug
        index = taken
        # answered in any order: kept in the plan's order (the report, the sink's order)
        place = {id(action): i for i, (action, _) in enumerate(queue)}
        attempted.sort(key=lambda pair: place[id(pair[0])])
        ambiguous.sort(key=lambda pair: place[id(pair[0])])
        if stop is not None:
            reason = _error_text(stop)
            for action, result in queue[index:]:
                result.status = "skipped"
                result.error = f"not sent: an earlier create failed with {reason}"
                self.failed_names.add(action.name)
            cap = cap_of(stop.message)
            if cap:
                # Full: it holds as many tokens as the cap (apply's lock included).
                self.report.notes.append(
                    f"The server caps this account at {cap} tokens. "
                    + cap_advice(cap, cap)
                    + f". Set server.max_tokens: {cap} in the file, and plan refuses what "
                    "cannot fit before anything is sent."
                )

    def _finish_creates(
        self,
        ambiguous: list[tuple[Creating, OpResult]],
        attempted: list[tuple[Creating, OpResult]],
        timed_out: dict[int, str],
    ) -> None:
        if not attempted:
            return
        # Create returns nothing: re-list once and match exact names
        # (docs/server-contract.md#creating-a-token).
        self.progress.phase("re-listing", 1)
        listing, list_error = self._relist()
        self.progress.advance("the token list")
        new = self._new_by_name(listing)
        missing = [(a, r) for a, r in ambiguous if new is None or not new.get(self._made_as(a))]
        # A POST that got no answer in time may still be running on the server: a re-list
        # that misses it proves nothing, and a second POST would make a duplicate when the
        # first one lands (tests/faults/test_matrix.py, create x timeout).
        for action, result in [(a, r) for a, r in missing if id(a) in timed_out]:
            # said once: what happened, what it means, what to do (the detail had the same)
            reason = timed_out[id(action)] or "no answer in time"
            result.error = (
                f"{reason} and not listed yet: the server may still create it; rerun apply "
                f"later (it then delivers the key of {action.name} if it exists)"
            )
            result.detail = ""
        missing = [(a, r) for a, r in missing if id(a) not in timed_out]
        retried: dict[int, str] = {}  # id() of retried actions -> why the retry failed ("")
        if missing and new is not None:
            # The POST never committed: the re-list proves it, so a second POST is not blind.
            for action, _ in missing:
                try:
                    self.client.create(self._sent[id(action)])
                    retried[id(action)] = ""
                except NewApiError as exc:
                    retried[id(action)] = _error_text(exc)
            if any(not why for why in retried.values()):
                again, again_error = self._relist()
                # the first listing stands for the creates it already showed
                new = self._new_by_name(again) if again is not None else new
                list_error = again_error if again is not None else list_error
                if again is None:
                    for action, result in missing:
                        if not retried[id(action)]:
                            result.error = (
                                f"sent again, but re-listing failed ({again_error}); "
                                "rerun apply to confirm"
                            )
        created: list[tuple[Creating, OpResult]] = []
        for action, result in attempted:
            if retried.get(id(action)):
                self._fail(
                    result,
                    f"not created: the first POST did not commit and the second failed: "
                    f"{retried[id(action)]}",
                )
                continue
            if self._match_created(action, result, new, list_error):
                created.append((action, result))
        self._deliver_keys(list(created))
        for action, result in created:
            if isinstance(action, Rotate):
                self._finish_rotation(action, result)

    def _finish_rotation(self, action: Rotate, result: OpResult) -> None:
        """Rotation, once the new token exists: the old one moves aside only after the sink
        confirmed the new key; then the new one takes the name (docs/reconcile.md#rotation)."""
        made_as = self._made_as(action)
        if id(action) not in self._delivered:
            self._fail(
                result,
                f"its new key was not delivered, so the old token was left as it was "
                f"({action.name}, expiry unchanged); the new token {made_as} stays disabled "
                "and the next apply removes it and rotates again",
            )
            return
        if not self._move_old_aside(action, result):
            return
        new_id = result.token_id or -1
        new = self.by_id.get(new_id)
        named = FieldUpdates(name=action.name)
        try:
            if new is None:
                raise NewApiError("the new token is missing from the listing apply read")
            dropped = self._write(new, named)
        except NewApiError as exc:
            self._fail(
                result,
                f"the new key was delivered and the old token renamed {action.rotation_name}, "
                f"but naming the new token {action.name} failed ({_error_text(exc)}); it is "
                f"still called {made_as}: the next apply creates {action.name} again",
            )
            return
        self._check_kept(result, dropped)

    def _move_old_aside(self, action: Rotate, result: OpResult) -> bool:
        """The old token becomes NAME.old-YYYYMMDD, expiring after the overlap, never later
        than it did (an expired or exhausted one stays dead: docs/reconcile.md#rotation)."""
        old = self.by_id.get(action.token_id or -1)
        if old is None:
            self._fail(result, "the token to rotate is no longer in the listing apply read")
            return False
        expiry = action.rotation_expiry
        if old.expired_time != -1:
            expiry = min(expiry, old.expired_time)
        updates = FieldUpdates(name=action.rotation_name, expired_time=expiry)
        if not old.unlimited_quota and old.remain_quota < 0:
            # a negative budget is refused on write; still spent: nothing left of it
            updates = replace(updates, budget=old.used_quota)
        try:
            dropped = self._write(old, updates)
        except NewApiError as exc:
            why = _error_text(exc)
        else:
            why = "the server did not keep " + "; ".join(dropped) if dropped else ""
        if why:
            self._fail(
                result,
                f"the new key was delivered, but renaming the old token failed ({why}); the "
                f"old {action.name} still works; the new token is called "
                f"{self._made_as(action)} until the next apply",
            )
            return False
        shown = "unchanged" if expiry == old.expired_time else f"expires at {expiry}"
        result.detail = f"old token {old.id} renamed {action.rotation_name} ({shown})"
        return True

    def _relist(self) -> tuple[list[ObservedToken] | None, str]:
        try:
            return self.client.list_tokens(), ""
        except NewApiError as exc:
            return None, _error_text(exc)

    def _new_by_name(
        self, listing: list[ObservedToken] | None
    ) -> dict[str, list[ObservedToken]] | None:
        """The tokens of a re-listing that apply's first listing did not have, by name (None
        when the re-listing failed): indexed once, looked up once per create."""
        if listing is None:
            return None
        new: dict[str, list[ObservedToken]] = {}
        for token in listing:
            if token.id not in self.known_ids:
                new.setdefault(token.name, []).append(token)
        return new

    def _match_created(
        self,
        action: Creating,
        result: OpResult,
        new: Mapping[str, list[ObservedToken]] | None,
        list_error: str,
    ) -> bool:
        """Find the new token in ``new`` (:meth:`_new_by_name`); True when its key can be
        delivered now."""
        if new is None:
            # The POST was answered, so the token exists: it is not reported failed because
            # a later read failed. Its key comes with the next apply (the sink lacks it).
            result.status = "ok"
            result.detail = (
                f"created; re-listing failed ({list_error}), so its key was not delivered: "
                "rerun apply to deliver it"
            )
            keys = self.report.keys_undelivered if self.deliver else self.report.keys_pending
            keys.append(action.name)
            return False
        found = new.get(self._made_as(action), [])
        if len(found) == 1:
            token = found[0]
            result.status = "ok"
            result.token_id = token.id
            self.created[action.name] = token.id
            self.by_id[token.id] = token
            sent = self._sent.get(id(action), action.settings)
            self._check_kept(result, dropped_fields(sent, token))
            unenforced = unenforced_limits(sent, token) if result.status == "ok" else []
            if unenforced:
                self._fail(result, "; ".join(unenforced))
                self.report.refused.append(f"{action.name}: " + "; ".join(unenforced))
            if result.status == "failed":
                # Not what the file asked (a dropped IP or model limit makes a key more
                # powerful than intended): the new token stays off and its key undelivered.
                try:
                    self.client.set_status(token.id, TokenStatus.DISABLED)
                    result.detail = "the new token was disabled"
                except NewApiError as exc:
                    result.detail = f"could not disable the new token: {_error_text(exc)}"
                return False
            if isinstance(action, Create) and action.unconfirmed:
                return self._make_usable(action, result, token)
            return True
        self.failed_names.add(action.name)
        result.status = "failed"
        if not found:
            result.error = result.error or (
                "the token did not appear after create; rerun apply to create it"
            )
        else:
            ids = ", ".join(str(t.id) for t in sorted(found, key=lambda t: t.id))
            result.error = f"{len(found)} new tokens named {action.name!r} (ids {ids}): conflict"
        return False

    def _make_usable(self, action: Create, result: OpResult, token: ObservedToken) -> bool:
        """A token created expired (its limit unconfirmed) gets the file's expiry, now that
        its record shows the server enforces the limit."""
        usable = FieldUpdates(expired_time=action.settings.expired_time)
        try:
            dropped = self._write(token, usable)
        except NewApiError as exc:
            self._fail(
                result,
                f"created expired until its limits were confirmed; setting its expiry failed "
                f"({_error_text(exc)}), so it stays expired: rerun apply",
            )
            return False
        self._check_kept(result, dropped)
        if result.status == "failed":
            return False
        result.detail = "created expired, made usable once the server showed it keeps the limits"
        return True

    def _deliver_keys(
        self,
        created: list[tuple[Action, OpResult]],
        *,
        redeliver: Sequence[tuple[Action, OpResult]] = (),
    ) -> None:
        """Reveal and deliver the keys of new tokens (``created``), revived ones and missing ones.

        ``redeliver`` are the plan's ``deliver`` actions: existing tokens whose key the
        sink lacks or holds another of.
        """
        if not created and not redeliver:
            return
        if self.deliver is None:
            self.report.keys_pending.extend(a.name for a, _ in created if a.kind != "enable")
            for _, result in redeliver:
                result.status = "skipped"
                result.error = "no key sink configured"
            return
        for action, result in redeliver:
            result.token_id = action.token_id
        wanted = [(a, r) for a, r in [*created, *redeliver] if r.token_id is not None]
        self.progress.phase("delivering keys", len(wanted))
        ids = [r.token_id for _, r in wanted if r.token_id is not None]
        try:
            keys = self.client.reveal_keys(ids)
        except NewApiError as exc:
            keys = {}
            reveal_error = f"reveal failed: {_error_text(exc)}"
        else:
            reveal_error = "reveal returned no key"
        batch: list[tuple[str, str, Secret]] = []
        errors: dict[str, str] = {}
        for action, result in wanted:
            key = keys.get(result.token_id or -1)
            if key is None:
                errors[action.name] = reveal_error
            else:
                batch.append((action.name, action.key_name, Secret("sk-" + key.reveal())))
        if batch:
            errors.update(self.deliver(batch))
        redelivered = {id(a) for a, _ in redeliver}
        for action, result in wanted:
            self.progress.advance(action.name)
            if id(action) in redelivered:
                delivery = result
                delivery.detail = action.key_name
            else:
                delivery = OpResult("deliver", action.name, result.token_id, detail=action.key_name)
                self.report.results.append(delivery)
            if action.name not in errors:
                delivery.status = "ok"
                self.report.keys_delivered += 1
                self._delivered.add(id(action))
                continue
            self._fail(delivery, errors[action.name])
            if id(action) in redelivered:
                continue  # an existing key stays as it is; the next plan shows it again
            # Transactional delivery: a key nobody received must not stay live.
            try:
                self.client.set_status(result.token_id or 0, TokenStatus.DISABLED)
                delivery.detail = "new token disabled"
            except NewApiError as exc:
                delivery.detail = f"could not disable the new token: {_error_text(exc)}"

    def _change_one(self, action: Action, result: OpResult) -> None:
        """An update, rename, enable or disable of one token (a create's, by its name)."""
        token_id = action.token_id if action.token_id is not None else self.created.get(action.name)
        result.token_id = token_id
        self.progress.advance(action.name)
        if token_id is None:
            result.status = "skipped"
            result.error = f"{action.name!r} was not created"
            return
        if action.kind == "enable" and action.name in self.failed_names:
            result.status = "skipped"
            result.error = "its field update failed; the server would refuse to enable it"
            return
        try:
            if isinstance(action, Update):  # a rename too
                old = self.by_id.get(token_id)
                if old is None:
                    self._fail(result, "the token is no longer in the listing apply read")
                    return
                dropped = self._write(old, action.set)
                result.status = "ok"
                self._check_kept(result, dropped)
            else:
                status = TokenStatus.ENABLED if action.kind == "enable" else TokenStatus.DISABLED
                stored = self.client.set_status(token_id, status)
                result.status = "ok"
                if stored.status != status:
                    self._fail(result, f"the server kept status {stored.status}, not {status}")
        except NewApiError as exc:
            self._fail(result, _error_text(exc))

    def _delete_phase(self, actions: list[Action], pending: dict[int, OpResult]) -> None:
        self.progress.phase("deleting", len(actions))
        results = [(a, pending.pop(id(a))) for a in actions]
        ids = [a.token_id for a in actions if a.token_id is not None]
        for action, result in results:
            if action.token_id is None:
                result.status = "skipped"
                result.error = "no token id to delete"
        try:
            deleted = 0
            for start in range(0, len(ids), 100):
                deleted += self.client.delete_tokens(ids[start : start + 100])
        except NewApiError as exc:
            error: str | None = _error_text(exc)
        else:
            error = None if deleted == len(ids) else f"the server deleted {deleted} of {len(ids)}"
        if error is None:
            for action, result in results:
                if action.token_id is not None:
                    result.status = "ok"
        else:
            # Find out which are really gone; batch delete skips silently
            # (docs/server-contract.md#batch-delete).
            listing, _ = self._relist()
            remaining = {t.id for t in listing} if listing is not None else set(ids)
            for action, result in results:
                if action.token_id is None:
                    continue
                if action.token_id in remaining:
                    self._fail(result, error)
                else:
                    result.status = "ok"
        for action, _ in results:
            self.progress.advance(action.name)
        self._forget_keys([a for a, r in results if r.status == "ok"])

    def _forget_keys(self, deleted: list[Action]) -> None:
        """Keys of deleted tokens leave the sink (only where it holds that very key)."""
        if self.forget is None:
            return
        prints: dict[str, KeyPrint | None] = {}
        for action in deleted:
            token = self.by_id.get(action.token_id or -1)
            if token is not None and action.key_name:
                prints[action.key_name] = key_print(token.key)
        if not prints:
            return
        try:
            self.report.keys_forgotten.extend(self.forget(prints))
        except (OSError, ValueError) as exc:
            self.report.notes.append(f"the keys of deleted tokens stay in the sink: {exc}")
