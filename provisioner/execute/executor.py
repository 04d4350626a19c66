"""Execute a Plan against the server and report every operation.

Apply walks the plan; it does not re-decide what to do. Order (docs/reconcile.md):
rotations and creates, one re-list to learn the new ids, key delivery,
updates, enables, disables, deletes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from provisioner.newapi.errors import AmbiguousWriteError, NewApiError
from provisioner.observed import Token, TokenStatus
from provisioner.plan.diff import merged_write
from provisioner.plan.model import Action, Plan
from provisioner.plan.report import OpResult, Report
from provisioner.secret import Secret


class Client(Protocol):  # what apply needs of provisioner.newapi.client.NewApiClient
    def create_token(self, body: dict[str, Any]) -> None: ...
    def list_tokens(self) -> list[Token]: ...
    def update_token(self, body: dict[str, Any]) -> Token: ...
    def set_status(self, token_id: int, status: int) -> Token: ...
    def delete_tokens(self, ids: Sequence[int]) -> int: ...
    def reveal_keys(self, ids: Sequence[int]) -> dict[int, Secret]: ...


Deliver = Callable[[list[tuple[str, str, Secret]]], dict[str, str]]
"""Delivers (name, key_name, key) triples; returns name -> error for failures."""


def _error_text(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


class Executor:
    def __init__(
        self,
        plan: Plan,
        client: Client,
        inventory: Sequence[Token],
        *,
        deliver: Deliver | None = None,
        progress: Callable[[int, int, str], None] | None = None,
    ) -> None:
        self.plan = plan
        self.client = client
        self.by_id = {t.id: t for t in inventory}
        self.known_ids = set(self.by_id)
        self.deliver = deliver
        self.progress = progress
        self.report = Report()
        self.created: dict[str, int] = {}  # name -> new id
        self.failed_names: set[str] = set()
        self._done = 0
        self._posting: tuple[Action, OpResult] | None = None  # the create POST in flight
        self._total = len(plan.actions)

    # -- bookkeeping --

    def _result(self, action: Action, kind: str | None = None) -> OpResult:
        result = OpResult(kind or action.kind, action.name, action.token_id)
        self.report.results.append(result)
        return result

    def _tick(self, label: str) -> None:
        self._done += 1
        if self.progress:
            self.progress(self._done, self._total, label)

    def _run(self, result: OpResult, call: Callable[[], Any]) -> bool:
        try:
            call()
        except NewApiError as exc:
            result.status = "failed"
            result.error = _error_text(exc)
            self.failed_names.add(result.name)
            return False
        result.status = "ok"
        return True

    # -- phases --

    def run(self) -> Report:
        ordered = self.plan.ordered()
        pending = {id(a): self._placeholder(a) for a in ordered}
        try:
            creates = [a for a in ordered if a.kind in ("rotate", "create")]
            if creates:
                self._create_phase(creates, pending)
            enabled: list[tuple[Action, OpResult]] = []
            for action in ordered:
                if action.kind in ("update", "enable", "disable"):
                    result = pending.pop(id(action))
                    self._simple(action, result)
                    if action.kind == "enable" and result.status == "ok":
                        enabled.append((action, result))
            # A token coming back to life gets its key delivered too: it may have been
            # disabled because an earlier delivery failed (the server has no labels).
            self._deliver_keys(enabled)
            deletes = [a for a in ordered if a.kind == "delete"]
            if deletes:
                self._delete_phase(deletes, pending)
        except KeyboardInterrupt:
            self.report.interrupted = True
        # anything never reached stays "not-run"
        return self.report

    def _placeholder(self, action: Action) -> OpResult:
        return self._result(action)

    def _create_phase(self, actions: list[Action], pending: dict[int, OpResult]) -> None:
        ambiguous: list[tuple[Action, OpResult]] = []
        attempted: list[tuple[Action, OpResult]] = []
        timed_out: set[int] = set()  # id() of actions whose POST got no answer in time
        try:
            self._post_creates(actions, pending, ambiguous, attempted, timed_out)
        except KeyboardInterrupt:
            # Say what really happened: a POST that was answered created its token, even
            # though the re-list and the key delivery never ran (the rerun sees it as done).
            keys = self.report.keys_undelivered if self.deliver else self.report.keys_pending
            unknown = {id(a) for a, _ in ambiguous}
            for action, result in attempted:
                if id(action) in unknown:
                    result.status = "failed"
                    result.error = "outcome unknown; interrupted before re-listing"
                else:
                    result.status = "ok"
                    result.detail = "created; interrupted before its key was delivered"
                keys.append(action.name)
            if self._posting is not None:
                action, result = self._posting
                result.status = "failed"
                result.error = "interrupted while creating: the server may have created it"
                keys.append(action.name)
            raise
        self._posting = None
        self._finish_creates(ambiguous, attempted, timed_out)

    def _post_creates(
        self,
        actions: list[Action],
        pending: dict[int, OpResult],
        ambiguous: list[tuple[Action, OpResult]],
        attempted: list[tuple[Action, OpResult]],
        timed_out: set[int],
    ) -> None:
        for action in actions:
            result = pending.pop(id(action))
            if action.kind == "rotate" and not self._rename_old(action, result):
                self._tick(action.name)
                continue
            self._posting = (action, result)
            try:
                self.client.create_token(action.set)
            except AmbiguousWriteError as exc:
                result.detail = f"outcome unknown ({_error_text(exc)}); checked by re-listing"
                ambiguous.append((action, result))
                if exc.timed_out:
                    timed_out.add(id(action))
            except NewApiError as exc:
                self._posting = None
                result.status = "failed"
                result.error = _error_text(exc)
                self.failed_names.add(action.name)
                self._tick(action.name)
                continue
            self._posting = None
            attempted.append((action, result))
            self._tick(action.name)

    def _finish_creates(
        self,
        ambiguous: list[tuple[Action, OpResult]],
        attempted: list[tuple[Action, OpResult]],
        timed_out: set[int],
    ) -> None:
        if not attempted:
            return
        # Create returns nothing: re-list once and match exact names
        # (docs/server-contract.md#creating-a-token).
        listing = self._relist()
        missing = [(a, r) for a, r in ambiguous if not self._new_tokens(listing, a.name)]
        # A POST that got no answer in time may still be running on the server: a re-list
        # that misses it proves nothing, and a second POST would make a duplicate when the
        # first one lands (tests/faults/test_matrix.py, create x timeout).
        for action, result in [(a, r) for a, r in missing if id(a) in timed_out]:
            result.error = (
                "no answer in time and not listed yet: the server may still create it; "
                f"rerun apply later (if it then shows no change for {action.name}, fetch its "
                f"key with `provisioner reveal {action.name}`)"
            )
        missing = [(a, r) for a, r in missing if id(a) not in timed_out]
        if missing and listing is not None:
            # The POST never committed: the re-list proves it, so a second POST is not blind.
            for action, result in missing:
                try:
                    self.client.create_token(action.set)
                except NewApiError as exc:
                    result.detail += f"; second attempt: {_error_text(exc)}"
            listing = self._relist()
        for action, result in attempted:
            self._match_created(action, result, listing)
        self._deliver_keys([(a, r) for a, r in attempted if r.status == "ok"])

    def _rename_old(self, action: Action, result: OpResult) -> bool:
        """Rotation step 1: the old token becomes NAME.old-YYYYMMDD, expiring after the overlap."""
        old = self.by_id.get(action.token_id or -1)
        if old is None:
            result.status = "failed"
            result.error = "the token to rotate is no longer on the server"
            return False
        body = merged_write(
            old, {"name": action.rotation_name, "expired_time": action.rotation_expiry}
        )
        try:
            self.client.update_token(body)
        except NewApiError as exc:
            result.status = "failed"
            result.error = f"renaming the old token failed: {_error_text(exc)}"
            self.failed_names.add(action.name)
            return False
        result.detail = f"old token {old.id} renamed {action.rotation_name}"
        return True

    def _relist(self) -> list[Token] | None:
        try:
            return self.client.list_tokens()
        except NewApiError:
            return None

    def _new_tokens(self, listing: list[Token] | None, name: str) -> list[Token]:
        if listing is None:
            return []
        return [t for t in listing if t.name == name and t.id not in self.known_ids]

    def _match_created(self, action: Action, result: OpResult, listing: list[Token] | None) -> None:
        if listing is None:
            result.status = "failed"
            result.error = "created, but re-listing failed; rerun apply to confirm"
            self.failed_names.add(action.name)
            return
        found = self._new_tokens(listing, action.name)
        if len(found) == 1:
            token = found[0]
            result.status = "ok"
            result.token_id = token.id
            self.created[action.name] = token.id
            self.by_id[token.id] = token
            return
        result.status = "failed"
        self.failed_names.add(action.name)
        if not found:
            result.error = result.error or (
                "the token did not appear after create; rerun apply to create it"
            )
        else:
            ids = ", ".join(str(t.id) for t in found)
            result.error = f"{len(found)} new tokens named {action.name!r} (ids {ids}): conflict"

    def _deliver_keys(self, created: list[tuple[Action, OpResult]]) -> None:
        if not created:
            return
        if self.deliver is None:
            self.report.keys_pending.extend(a.name for a, _ in created if a.kind != "enable")
            return
        ids = [r.token_id for _, r in created if r.token_id is not None]
        try:
            keys: dict[int, Secret] = {}
            for start in range(
                0, len(ids), 100
            ):  # batch reveal, at most 100 (docs/server-contract.md#masked-keys-and-reveal)
                keys.update(self.client.reveal_keys(ids[start : start + 100]))
        except NewApiError as exc:
            keys = {}
            reveal_error = f"reveal failed: {_error_text(exc)}"
        else:
            reveal_error = "reveal returned no key"
        batch: list[tuple[str, str, Secret]] = []
        errors: dict[str, str] = {}
        for action, result in created:
            key = keys.get(result.token_id or -1)
            if key is None:
                errors[action.name] = reveal_error
            else:
                batch.append((action.name, action.key_name, Secret("sk-" + key.reveal())))
        if batch:
            errors.update(self.deliver(batch))
        for action, result in created:
            delivery = OpResult("deliver", action.name, result.token_id, detail=action.key_name)
            self.report.results.append(delivery)
            if action.name not in errors:
                delivery.status = "ok"
                self.report.keys_delivered += 1
                continue
            # Transactional delivery (docs/reconcile.md): a key nobody received must not stay live.
            delivery.status = "failed"
            delivery.error = errors[action.name]
            self.failed_names.add(action.name)
            try:
                self.client.set_status(result.token_id or 0, TokenStatus.DISABLED)
                delivery.detail = "new token disabled"
            except NewApiError as exc:
                delivery.detail = f"could not disable the new token: {_error_text(exc)}"

    def _simple(self, action: Action, result: OpResult) -> None:
        token_id = action.token_id if action.token_id is not None else self.created.get(action.name)
        result.token_id = token_id
        if token_id is None:
            result.status = "skipped"
            result.error = f"{action.name!r} was not created"
            self._tick(action.name)
            return
        if action.kind == "enable" and action.name in self.failed_names:
            result.status = "skipped"
            result.error = "its field update failed; the server would refuse to enable it"
            self._tick(action.name)
            return
        if action.kind == "update":
            old = self.by_id[token_id]
            body = merged_write(old, action.set)
            self._run(result, lambda: self.client.update_token(body))
        else:
            status = TokenStatus.ENABLED if action.kind == "enable" else TokenStatus.DISABLED
            self._run(result, lambda: self.client.set_status(token_id, status))
        self._tick(action.name)

    def _delete_phase(self, actions: list[Action], pending: dict[int, OpResult]) -> None:
        results = [(a, pending.pop(id(a))) for a in actions]
        ids = [a.token_id for a in actions if a.token_id is not None]
        try:
            deleted = 0
            for start in range(0, len(ids), 100):
                deleted += self.client.delete_tokens(ids[start : start + 100])
        except NewApiError as exc:
            error: str | None = _error_text(exc)
        else:
            error = None if deleted == len(ids) else f"the server deleted {deleted} of {len(ids)}"
        if error is None:
            for _, result in results:
                result.status = "ok"
        else:
            # Find out which are really gone; batch delete skips silently
            # (docs/server-contract.md#batch-delete).
            listing = self._relist()
            remaining = {t.id for t in listing} if listing is not None else set(ids)
            for action, result in results:
                if action.token_id in remaining:
                    result.status = "failed"
                    result.error = error
                else:
                    result.status = "ok"
        for action, _ in results:
            self._tick(action.name)


def execute(
    plan: Plan,
    client: Client,
    inventory: Sequence[Token],
    *,
    deliver: Deliver | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> Report:
    return Executor(plan, client, inventory, deliver=deliver, progress=progress).run()
