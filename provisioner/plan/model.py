"""The plan: what apply will do, as data. Built by :func:`provisioner.plan.diff.diff`.

Action kinds are executed in this order (docs/reconcile.md#order-of-apply):
rotate and create, rename, update, enable, deliver, disable, delete.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from provisioner.observed import QUOTA_PER_UNIT_DEFAULT, ObservedToken

ActionKind = Literal[
    "create", "rotate", "rename", "update", "enable", "deliver", "disable", "delete"
]
ORDER: tuple[ActionKind, ...] = (
    "rotate",
    "create",
    "rename",
    "update",
    "enable",
    "deliver",
    "disable",
    "delete",
)

KeyPrint = tuple[str, str]
"""A key's first and last 4 characters: all a masked key shows, and all a plan compares."""


def key_print(key: str) -> KeyPrint | None:
    """A key's first and last 4 characters (without ``sk-``): what a masked key shows."""
    key = key.removeprefix("sk-")
    if "*" in key:
        head, _, rest = key.partition("*")
        tail = rest.strip("*")
    else:
        head, tail = key[:4], key[-4:]
    if len(head) < 4 or len(tail) < 4 or len(key) < 9:
        return None
    return head[:4], tail[-4:]


# Fields whose value names a budget in quota units; at execution the
# remaining quota is recomputed from the fresh used_quota (docs/reconcile.md).
BUDGET = "budget"


@dataclass(frozen=True)
class FieldChange:
    field: str
    before: Any
    after: Any


@dataclass(frozen=True)
class Action:
    kind: ActionKind
    name: str
    token_id: int | None = None
    # update: the fields to write (contract names, plus BUDGET); create: the POST body
    set: dict[str, Any] = field(default_factory=dict)
    changes: tuple[FieldChange, ...] = ()
    reason: str = ""
    fingerprint: str = ""  # of the observed token this action touches ("" for creates)
    protected: bool = False
    key_name: str = ""
    accessed_time: int = 0  # last use of the observed token (min_idle)
    rotation_name: str = ""  # rotate: the name the old token gets
    rotation_expiry: int = 0  # rotate: the old token's new expired_time
    # rotate: the quota units the old token has left and keeps until it expires (the new
    # one gets the full declared budget: docs/reconcile.md#rotation); None when unlimited,
    # -1 when not known (a plan saved before it was recorded)
    old_remaining: int | None = -1
    # a leftover kept in its desired state (docs/reconcile.md#leftovers): an expired or
    # unfinished rotation's token deleted, a re-enabled leaked one disabled, an extended
    # .old- expiry restored; safety limits do not count it
    cleanup: bool = False
    scheduled: bool = False  # rotate: due by the token's own rotate.every (not requested)
    # create: limits the server may store without enforcing, which the plan could not
    # confirm (an empty account shows no record): apply creates the token expired and
    # makes it usable only once the record shows them enforced
    unconfirmed: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "kind": self.kind,
            "name": self.name,
            "id": self.token_id,
            "reason": self.reason,
            "changes": [
                {"field": c.field, "before": c.before, "after": c.after} for c in self.changes
            ],
            "set": self.set,
            "fingerprint": self.fingerprint,
            "protected": self.protected,
            "key_name": self.key_name,
            "accessed_time": self.accessed_time,
        }
        if self.kind == "rotate":
            data["rotation_name"] = self.rotation_name
            data["rotation_expiry"] = self.rotation_expiry
            data["old_remaining"] = self.old_remaining
            data["scheduled"] = self.scheduled
        if self.cleanup:
            data["cleanup"] = True
        if self.unconfirmed:
            data["unconfirmed"] = list(self.unconfirmed)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Action:
        if data.get("kind") not in ORDER:
            raise ValueError(f"unknown action kind {data.get('kind')!r}")
        return cls(
            kind=data["kind"],
            name=data["name"],
            token_id=data.get("id"),
            set=dict(data.get("set") or {}),
            changes=tuple(
                FieldChange(c["field"], c["before"], c["after"]) for c in data.get("changes", [])
            ),
            reason=data.get("reason", ""),
            fingerprint=data.get("fingerprint", ""),
            protected=bool(data.get("protected", False)),
            key_name=data.get("key_name", ""),
            accessed_time=int(data.get("accessed_time", 0)),
            rotation_name=data.get("rotation_name", ""),
            rotation_expiry=int(data.get("rotation_expiry", 0)),
            old_remaining=_optional_int(data.get("old_remaining", -1)),
            cleanup=bool(data.get("cleanup", False)),
            scheduled=bool(data.get("scheduled", False)),
            unconfirmed=tuple(str(u) for u in data.get("unconfirmed", ())),
        )


@dataclass(frozen=True)
class Conflict:
    name: str
    ids: tuple[int, ...]


@dataclass(frozen=True)
class Notice:
    """A server-driven state or an observation that needs no write (shown, not executed)."""

    name: str
    token_id: int | None
    # expired | exhausted | expired-by-file | orphan | predecessor | revoked | look-alike
    # | unconfirmed (a field the server generation may drop: checked after apply)
    kind: str
    message: str


@dataclass
class Plan:
    actions: list[Action] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    owned: int = 0
    unmanaged: int = 0
    now: int = 0
    quota_per_unit: int = QUOTA_PER_UNIT_DEFAULT

    @property
    def has_changes(self) -> bool:
        return bool(self.actions)

    def of_kind(self, kind: ActionKind) -> list[Action]:
        return [a for a in self.actions if a.kind == kind]

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {kind: 0 for kind in ORDER}
        for action in self.actions:
            counts[action.kind] += 1
        return counts

    def ordered(self) -> list[Action]:
        """Actions in execution order; deletes of numbered copies highest first, so an
        interrupted shrink leaves an unbroken run (docs/reconcile.md#counted-families)."""
        rank = {kind: i for i, kind in enumerate(ORDER)}

        def key(action: Action) -> tuple[int, str, int, str]:
            head, sep, tail = action.name.rpartition("-")
            if action.kind == "delete" and sep and tail.isdigit():
                return rank[action.kind], head, -int(tail), action.name
            return rank[action.kind], action.name, 0, ""

        return sorted(self.actions, key=key)


# Fields that define a token's configuration. used/remain move with traffic,
# so the fingerprint carries the budget (used + remain) instead.
_FINGERPRINT_FIELDS = (
    "id",
    "name",
    "status",
    "expired_time",
    "unlimited_quota",
    "model_limits_enabled",
    "model_limits",
    "group",
    "cross_group_retry",
)


def fingerprint(token: ObservedToken) -> str:
    """A digest of what a plan relies on; traffic alone never changes it."""
    data: dict[str, Any] = {f: getattr(token, f) for f in _FINGERPRINT_FIELDS}
    data["budget"] = None if token.unlimited_quota else token.budget
    data["allow_ips"] = sorted(token.ips)
    data["auto_groups"] = list(token.auto_groups or [])
    blob = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)
