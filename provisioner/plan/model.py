"""The plan: what apply will do, as data. Built by :func:`provisioner.plan.diff.diff`.

Its actions are the small classes of :mod:`provisioner.plan.actions`, executed in
:data:`~provisioner.plan.actions.ORDER` (docs/reconcile.md#order-of-apply): rotate and
create, rename, update, enable, deliver, disable, delete.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from provisioner.observed import QUOTA_PER_UNIT_DEFAULT, ObservedToken
from provisioner.plan.actions import ORDER, Action, ActionKind

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


@dataclass(frozen=True)
class Conflict:
    name: str
    ids: tuple[int, ...]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Conflict:
        """Read a plan document's (and a saved plan's) ``conflicts`` entry back."""
        return cls(data["name"], tuple(data["ids"]))


@dataclass(frozen=True)
class Notice:
    """A server-driven state or an observation that needs no write (shown, not executed)."""

    name: str
    token_id: int | None
    # expired | exhausted | expired-by-file | orphan | predecessor | revoked | look-alike
    # | unconfirmed (a field the server generation may drop: checked after apply)
    kind: str
    message: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Notice:
        """Read a plan document's (and a saved plan's) ``notices`` entry back."""
        return cls(data["name"], data.get("id"), data["kind"], data["message"])


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
