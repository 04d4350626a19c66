"""Reviewed plans (docs/ci.md#apply-only-what-was-reviewed). Pure.

The GitHub Action's plan comment carries one entry per action, and apply on merge
compares today's plan with it. An entry holds nothing that moves with time alone: a
create's relative expiry is the file's duration (not now + duration), a rotation's
old-token name and expiry (dated today) and a token's last use are left out. What it
keeps: which token (its id and the fingerprint of its configuration, which traffic
never changes) and what is written.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from provisioner.plan.actions import Create
from provisioner.plan.model import Plan
from provisioner.spec.desired import Spec


@dataclass(frozen=True)
class ReviewEntry:
    """One action as a review saw it."""

    kind: str
    name: str
    token_id: int | None
    observed: str  # the token's fingerprint when planned ("" for a create)
    write: str  # digest of what the action writes

    def to_json(self) -> list[Any]:
        return [self.kind, self.name, self.token_id, self.observed, self.write]

    @classmethod
    def from_json(cls, data: Any) -> ReviewEntry:
        kind, name, token_id, observed, write = data
        if not all(isinstance(v, str) for v in (kind, name, observed, write)) or not (
            token_id is None or (isinstance(token_id, int) and not isinstance(token_id, bool))
        ):
            raise ValueError(f"not a review entry: {data!r}")
        return cls(kind, name, token_id, observed, write)

    @property
    def label(self) -> str:
        ident = f" (id {self.token_id})" if self.token_id is not None else ""
        return f"{self.kind} {self.name}{ident}"


def _digest(data: Any, size: int = 16) -> str:
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8", errors="surrogatepass")).hexdigest()[:size]


def review_entries(plan: Plan, spec: Spec | None = None) -> list[ReviewEntry]:
    """The plan's actions in execution order, each reduced to what a review approves.

    ``spec`` tells which creates (and rotations' new tokens) expire relative to their
    creation: their ``expired_time`` is then the file's duration, the same at plan and
    at apply. Without it the instant is kept (stable for ``never`` and dates only).
    """
    declared = spec.by_name() if spec is not None else {}
    entries = []
    for action in plan.ordered():
        # the plan document's form, so a review made by an earlier version still matches
        write = action.written()
        desired = declared.get(action.name)
        if (
            action.kind in ("create", "rotate")
            and "expired_time" in write
            and desired is not None
            and desired.expires.kind == "relative"
        ):
            write["expired_time"] = f"+{desired.expires.seconds}s"
        what = {
            "set": write,
            "key_name": action.key_name,
            "protected": action.protected,
            "cleanup": action.cleanup,
            "unconfirmed": sorted(action.unconfirmed if isinstance(action, Create) else ()),
        }
        entries.append(
            ReviewEntry(
                action.kind, action.name, action.token_id, action.fingerprint, _digest(what)
            )
        )
    return entries


def review_fingerprint(entries: Sequence[ReviewEntry]) -> str:
    """One digest of a whole plan's entries: equal plans, equal fingerprints."""
    return _digest([e.to_json() for e in entries])


def review_differences(
    reviewed: Sequence[ReviewEntry], current: Sequence[ReviewEntry]
) -> list[str]:
    """What today's plan does that the reviewed one did not, one line each (empty: same)."""

    def key(entry: ReviewEntry) -> tuple[str, str, int | None]:
        return entry.kind, entry.name, entry.token_id

    before = {key(e): e for e in reviewed}
    now = {key(e): e for e in current}
    lines = []
    for entry in current:
        old = before.get(key(entry))
        if old is None:
            lines.append(f"+ {entry.label}: not in the reviewed plan")
        elif old.observed != entry.observed:
            lines.append(f"~ {entry.label}: the token changed on the server since the review")
        elif old.write != entry.write:
            lines.append(f"~ {entry.label}: writes other values than the reviewed plan")
    for entry in reviewed:
        if key(entry) not in now:
            lines.append(f"- {entry.label}: in the reviewed plan, no longer planned")
    return lines
