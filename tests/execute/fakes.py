"""An in-memory server for executor unit tests: the executor's ``Client`` Protocol, no HTTP.

Tokens live in a dict of :class:`provisioner.observed.ObservedToken`; ids increase. Every
call is logged (``calls``) so a test can check what was sent and in which order, and
failures are scripted per call: ``server.on("create_token", 2, ConnectionFailedError(...))``
makes the second create raise. Quirks of real generations are switches: a server
that answers success but keeps another value (``keeps``), ignores a status change
(``ignores_status``), skips ids in a batch delete (``undeletable``), or caps the
account (``cap``, with new-api's own message).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from provisioner.newapi.bodies import create_body, update_body
from provisioner.newapi.errors import AmbiguousWriteError, BusinessError
from provisioner.observed import READ_ONLY_FIELDS, ObservedToken
from provisioner.plan.actions import FieldUpdates, TokenFields
from provisioner.plan.model import KeyPrint, key_print
from provisioner.secret import Secret

NOW = 1_800_000_000
DAY = 86400


def full_key(token_id: int) -> str:
    """The full key of token ``token_id`` (48 characters, no ``sk-``, as new-api stores it)."""
    return f"{token_id:04d}" + "k" * 40 + f"{token_id:04d}"


def cap_message(cap: int) -> str:
    return f"已达到最大令牌数量限制 ({cap})"


@dataclass
class Step:
    """What the Nth call of a method does instead of (or before) answering."""

    error: BaseException
    commit: bool = False  # a write that lands on the server before the error is raised


@dataclass
class FakeServer:
    tokens: dict[int, ObservedToken] = field(default_factory=dict)
    next_id: int = 1
    cap: int | None = None  # the account's token cap (MaxUserTokens)
    keeps: dict[str, Any] = field(default_factory=dict)  # field -> what it stores instead
    lacks: set[str] = field(default_factory=set)  # fields its records do not have (a generation)
    ignores_status: bool = False  # status_only PUT answers success and changes nothing
    undeletable: set[int] = field(default_factory=set)  # batch delete skips these silently
    unrevealable: set[int] = field(default_factory=set)  # batch reveal leaves these out
    calls: list[tuple[str, Any]] = field(default_factory=list)
    script: dict[tuple[str, int], Step] = field(default_factory=dict)
    after_create: Callable[[FakeServer, ObservedToken], None] | None = None  # a neighbour's doing
    _counts: Counter[str] = field(default_factory=Counter)
    _lock: threading.RLock = field(default_factory=threading.RLock)

    # -- setting up --

    def add(self, name: str, **fields: Any) -> ObservedToken:
        """A token already on the server (as someone made it)."""
        with self._lock:
            token_id = fields.pop("id", self.next_id)
            self.next_id = max(self.next_id, token_id + 1)
            record: dict[str, Any] = {
                "id": token_id,
                "user_id": 1,
                "name": name,
                "key": full_key(token_id),
                "created_time": NOW - 10 * DAY,
                "accessed_time": NOW - 10 * DAY,
                "expired_time": -1,
                "unlimited_quota": True,
            }
            record.update(fields)
            token = ObservedToken(**record)
            self.tokens[token_id] = token
            return token

    def on(self, method: str, nth: int, error: BaseException, *, commit: bool = False) -> None:
        """The ``nth`` call (1-based) of ``method`` raises ``error`` (after writing if commit)."""
        self.script[(method, nth)] = Step(error, commit)

    # -- looking --

    def named(self, name: str) -> list[ObservedToken]:
        return [t for t in self.tokens.values() if t.name == name]

    def one(self, name: str) -> ObservedToken:
        (token,) = self.named(name)
        return token

    def methods(self) -> list[str]:
        return [method for method, _ in self.calls]

    def count(self, method: str) -> int:
        return sum(1 for m, _ in self.calls if m == method)

    # -- the Client Protocol --

    def _enter(self, method: str, arg: Any) -> Step | None:
        self._counts[method] += 1
        self.calls.append((method, arg))
        return self.script.get((method, self._counts[method]))

    def _store(self, token: ObservedToken) -> ObservedToken:
        if self.keeps:
            token = token.model_copy(update=self.keeps)
        self.tokens[token.id] = token
        return token

    def create_token(self, body: dict[str, Any]) -> ObservedToken | None:
        with self._lock:
            step = self._enter("create_token", body.get("name"))
            if step is not None and not step.commit:
                raise step.error
            if self.cap is not None and len(self.tokens) >= self.cap:
                raise BusinessError(cap_message(self.cap), method="POST", path="/api/token/")
            token_id = self.next_id
            self.next_id += 1
            fields = {
                k: v for k, v in body.items() if k not in READ_ONLY_FIELDS | {"id"} | self.lacks
            }
            token = self._store(
                ObservedToken(
                    **fields,
                    id=token_id,
                    user_id=1,
                    key=full_key(token_id),
                    status=1,
                    created_time=NOW,
                    accessed_time=NOW,
                )
            )
            if self.after_create is not None:
                self.after_create(self, token)
            if step is not None:
                raise step.error
            return None  # new-api answers no id and no key

    def create(self, fields: TokenFields) -> ObservedToken | None:
        """As the client does: the body from the settings (logged as ``create_token``)."""
        return self.create_token(create_body(fields))

    def update(self, token: ObservedToken, updates: FieldUpdates) -> ObservedToken:
        """As the client does: a read-merge-write of ``token`` (logged as ``update_token``)."""
        return self.update_token(update_body(token, updates))

    def list_tokens(self) -> list[ObservedToken]:
        with self._lock:
            step = self._enter("list_tokens", None)
            if step is not None:
                raise step.error
            return sorted(self.tokens.values(), key=lambda t: -t.id)

    def update_token(self, body: dict[str, Any]) -> ObservedToken:
        with self._lock:
            step = self._enter("update_token", body["id"])
            if step is not None and not step.commit:
                raise step.error
            old = self.tokens.get(body["id"])
            if old is None:
                raise BusinessError("令牌不存在", method="PUT", path="/api/token/")
            update = {k: v for k, v in body.items() if k not in READ_ONLY_FIELDS}
            stored = self._store(old.model_copy(update=update))
            if step is not None:
                raise step.error
            return stored

    def set_status(self, token_id: int, status: int) -> ObservedToken:
        with self._lock:
            step = self._enter("set_status", (token_id, int(status)))
            if step is not None and not step.commit:
                raise step.error
            old = self.tokens[token_id]
            stored = old if self.ignores_status else old.model_copy(update={"status": int(status)})
            self.tokens[token_id] = stored
            if step is not None:
                raise step.error
            return stored

    def delete_tokens(self, ids: Sequence[int]) -> int:
        with self._lock:
            step = self._enter("delete_tokens", tuple(ids))
            if step is not None and not step.commit:
                raise step.error
            gone = [i for i in ids if i in self.tokens and i not in self.undeletable]
            for token_id in gone:
                del self.tokens[token_id]
            if step is not None:
                raise step.error
            return len(gone)

    def reveal_keys(self, ids: Sequence[int]) -> dict[int, Secret]:
        with self._lock:
            step = self._enter("reveal_keys", tuple(ids))
            if step is not None:
                raise step.error
            return {
                i: Secret(full_key(i))
                for i in ids
                if i in self.tokens and i not in self.unrevealable
            }


def ambiguous(*, timed_out: bool = False) -> AmbiguousWriteError:
    what = "no answer within 30 s (timeout)" if timed_out else "connection reset"
    return AmbiguousWriteError(
        what, method="POST", path="/api/token/", timed_out=timed_out, reason=what
    )


@dataclass
class FakeSink:
    """A key sink: takes (name, key_name, key) triples; ``refuse`` names fail delivery."""

    keys: dict[str, Secret] = field(default_factory=dict)  # key_name -> key
    refuse: dict[str, str] = field(default_factory=dict)  # token name -> error
    batches: list[list[str]] = field(default_factory=list)
    forgotten: list[dict[str, KeyPrint | None]] = field(default_factory=list)
    forget_error: Exception | None = None

    def deliver(self, batch: list[tuple[str, str, Secret]]) -> dict[str, str]:
        self.batches.append([name for name, _, _ in batch])
        errors: dict[str, str] = {}
        for name, key_name, key in batch:
            if name in self.refuse:
                errors[name] = self.refuse[name]
            else:
                self.keys[key_name] = key
        return errors

    def forget(self, prints: dict[str, KeyPrint | None]) -> list[str]:
        self.forgotten.append(dict(prints))
        if self.forget_error is not None:
            raise self.forget_error
        removed = []
        for key_name, wanted in prints.items():
            held = self.keys.get(key_name)
            if held is not None and key_print(held.reveal()) == wanted:
                del self.keys[key_name]
                removed.append(key_name)
        return removed


@dataclass
class Recorder:
    """A Progress that remembers what it was told."""

    events: list[tuple[str, ...]] = field(default_factory=list)

    def phase(self, name: str, total: int) -> None:
        self.events.append(("phase", name, str(total)))

    def advance(self, label: str) -> None:
        self.events.append(("advance", label))


def names_of(results: Iterable[Any]) -> list[str]:
    return [r.name for r in results]
