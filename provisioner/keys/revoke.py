"""What ``provisioner revoke`` does to each leaked key's token (docs/keys-in-use.md#revoke). Pure.

The token is disabled at once (no overlap: the key is out) and renamed
``NAME.leaked-YYYYMMDD``, which the file still owns and never re-enables
(docs/reconcile.md#identity-and-ownership). When the file declares ``NAME``, a
replacement is created with the declared settings, exactly as ``apply`` would
create it, so the next plan is clean. ``protected: true`` does not stop a
revoke: a leaked key is worse than a missing one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from provisioner.observed import ObservedToken, TokenStatus
from provisioner.plan.actions import Create, Disable
from provisioner.plan.diff import new_token_fields
from provisioner.plan.model import Plan
from provisioner.plan.ownership import leaked_name, revoked_from
from provisioner.report import OpResult
from provisioner.secret import Secret
from provisioner.spec.desired import DesiredToken, Spec


@dataclass(frozen=True)
class Revocation:
    key: Secret  # printed masked only
    token: ObservedToken
    new_name: str  # "" when the name is kept
    replacement: DesiredToken | None
    notes: tuple[str, ...] = ()
    already: bool = False  # disabled and renamed by an earlier revoke: nothing to do

    @property
    def disable(self) -> bool:
        return not self.already and self.token.status != TokenStatus.DISABLED


def plan_revocations(
    found: Sequence[tuple[Secret, ObservedToken]],
    spec: Spec | None,
    inventory: Sequence[ObservedToken],
    now: int,
    *,
    name_max_bytes: int | None,
) -> list[Revocation]:
    """One :class:`Revocation` per (key, token) found, in the order given."""
    declared = spec.by_name() if spec else {}
    taken = {t.name for t in inventory}
    revoked_ids = {token.id for _, token in found}
    plans: list[Revocation] = []
    for key, token in found:
        notes: list[str] = []
        leaked_already = revoked_from(token.name) is not None
        if leaked_already and token.status == TokenStatus.DISABLED:
            notes.append("already revoked: disabled and renamed by an earlier revoke")
            plans.append(Revocation(key, token, "", None, tuple(notes), already=True))
            continue
        desired = declared.get(token.name)
        if desired is not None and desired.protected:
            notes.append("protected: true in the file; revoked anyway: a leaked key outranks it")
        new_name = ""
        if not leaked_already:
            candidate = leaked_name(token.name, now, taken, max_bytes=name_max_bytes)
            size = len(candidate.encode("utf-8"))
            if name_max_bytes is not None and size > name_max_bytes:
                notes.append(
                    f"the name is kept: {candidate} is {size} bytes, over this server's "
                    f"{name_max_bytes}-byte limit"
                )
            else:
                if revoked_from(candidate) != token.name:
                    notes.append(
                        f"renamed {candidate}: the name was cut to fit this server's "
                        f"{name_max_bytes}-byte limit"
                    )
                new_name = candidate
                taken.add(candidate)
        replacement, why = _replacement(token, desired, new_name, inventory, revoked_ids)
        notes.append(why)
        plans.append(Revocation(key, token, new_name, replacement, tuple(notes)))
    return plans


def _replacement(
    token: ObservedToken,
    desired: DesiredToken | None,
    new_name: str,
    inventory: Sequence[ObservedToken],
    revoked_ids: set[int],
) -> tuple[DesiredToken | None, str]:
    name = token.name
    if desired is None:
        return None, (
            f"the file does not declare {name}: no replacement is created (declare it and run "
            "`provisioner apply` for a new key)"
        )
    if desired.status == "absent":
        return None, f"the file declares {name} absent: no replacement"
    if not new_name:
        return None, (
            f"no replacement: a second token named {name} would conflict with the revoked one. "
            f"Rename or delete the revoked token (id {token.id}) in the dashboard, then run "
            "`provisioner apply`; until then apply would enable it again"
        )
    others = [t.id for t in inventory if t.name == name and t.id not in revoked_ids]
    if others:
        listed = ", ".join(str(i) for i in others)
        return None, f"no replacement: another token named {name} exists (id {listed})"
    return desired, f"the file declares {name}: its replacement gets the declared settings"


def replacement_plan(revocations: Sequence[Revocation], now: int, quota_per_unit: int) -> Plan:
    """The creates (and, for a token declared disabled, the disable) apply would plan."""
    plan = Plan(now=now, quota_per_unit=quota_per_unit)
    for item in revocations:
        desired = item.replacement
        if desired is None:
            continue
        plan.actions.append(
            Create(
                name=desired.name,
                settings=new_token_fields(desired, now, quota_per_unit),
                key_name=desired.key_name,
                protected=desired.protected,
                reason=f"replaces revoked token {item.token.id}",
            )
        )
        if desired.status == "disabled":
            plan.actions.append(Disable(name=desired.name, reason="declared disabled (new token)"))
    return plan


@dataclass
class RevokeOutcome:
    """What was done to one leaked key's token."""

    item: Revocation
    steps: list[OpResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # learned while executing
    replaced: list[OpResult] = field(default_factory=list)  # the replacement's steps

    @property
    def failed(self) -> bool:
        return any(step.status == "failed" for step in self.steps)

    @property
    def revoked(self) -> bool:
        """The key is dead now: this run disabled its token (or found it disabled)."""
        if self.item.already:
            return False
        if not self.item.disable:
            return bool(self.steps)  # disabled already; this run renamed it
        return any(s.kind == "disable" and s.status == "ok" for s in self.steps[:1])

    @property
    def replacement_failure(self) -> str:
        """What went wrong with the replacement ("" when nothing did)."""
        for step in self.replaced:
            if step.status in ("failed", "skipped"):
                what = "could not be created" if step.kind == "create" else f"{step.kind} failed"
                return f"{what}: {step.error or step.status}"
        return ""


@dataclass
class RevokeRun:
    outcomes: list[RevokeOutcome] = field(default_factory=list)
    unknown: list[Secret] = field(default_factory=list)  # keys of no token of this account
    executed: bool = False
    keys_delivered: int = 0
    keys_pending: list[str] = field(
        default_factory=list
    )  # replacements whose keys were not fetched
    sink: str = ""

    @property
    def failed(self) -> bool:
        return any(outcome.failed for outcome in self.outcomes)
