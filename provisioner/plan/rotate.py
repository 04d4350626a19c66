"""Rotation planning (docs/reconcile.md#rotation): rotate-now plans and clones. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from provisioner.errors import ProvisionerError, UsageError
from provisioner.observed import ObservedToken
from provisioner.plan.actions import Rotate, TokenFields
from provisioner.plan.diff import diff, old_token_expiry
from provisioner.plan.model import Plan, fingerprint
from provisioner.plan.ownership import Ownership, overlap_allowed, rotation_name
from provisioner.spec.desired import DEFAULT_ROTATE_OVERLAP, Spec, derive_key_name
from provisioner.spec.fields import duration_text


def clone_rotation(
    token: ObservedToken, now: int, overlap: int, taken: Iterable[str] = ()
) -> Rotate:
    """Rotate a token the spec does not declare: the new one copies the old one's settings.

    Expiry stays the same instant; the budget carries over as what is left. The old token's
    expiry never moves later (docs/reconcile.md#rotation).
    """
    settings = TokenFields.of(token)
    if not token.unlimited_quota:
        settings = replace(settings, remain_quota=max(0, token.remain_quota))
    return Rotate(
        name=token.name,
        token_id=token.id,
        reason="requested (not declared: settings copied from the old token)",
        settings=settings,
        rotation_name=rotation_name(token.name, now, taken),
        rotation_expiry=old_token_expiry(token, now, overlap),
        old_remaining=None if token.unlimited_quota else max(0, token.remain_quota),
        fingerprint=fingerprint(token),
        key_name=derive_key_name(token.name),
        accessed_time=token.last_used,
    )


def rotation_plan(
    spec: Spec | None,
    inventory: Sequence[ObservedToken],
    names: Sequence[str],
    now: int,
    *,
    quota_per_unit: int,
    overlap: int | None = None,
) -> Plan:
    """The plan of ``provisioner rotate NAME...``: rotate these tokens now.

    A declared token is rotated into the spec's settings; an undeclared one into a
    copy of its own. Raises a :class:`ProvisionerError` for a name that cannot rotate.
    """
    declared = spec.by_name() if spec else {}
    base = spec or Spec(path="", digest="")
    if spec is not None and overlap is not None:
        _check_overlap(spec, inventory, names, overlap)
    full = diff(
        base,
        inventory,
        now,
        quota_per_unit=quota_per_unit,
        rotate_now=[n for n in names if n in declared],
        rotate_overlap=overlap,
    )
    plan = Plan(
        now=now, quota_per_unit=full.quota_per_unit, owned=full.owned, unmanaged=full.unmanaged
    )
    plan.conflicts = [c for c in full.conflicts if c.name in names]
    rotations = {a.name: a for a in full.actions if isinstance(a, Rotate)}
    taken = {t.name for t in inventory}
    for name in names:
        if name in rotations:
            plan.actions.append(rotations[name])
            continue
        if any(c.name == name for c in plan.conflicts):
            continue
        matches = [t for t in inventory if t.name == name]
        if not matches:
            raise ProvisionerError(f"no token named {name!r} on the server")
        if name in declared and declared[name].status != "enabled":
            raise UsageError(
                f"{name!r} is declared {declared[name].status}; only enabled tokens rotate"
            )
        fallback = overlap if overlap is not None else DEFAULT_ROTATE_OVERLAP
        plan.actions.append(clone_rotation(matches[0], now, fallback, taken))
    return plan


def _check_overlap(
    spec: Spec, inventory: Sequence[ObservedToken], names: Sequence[str], overlap: int
) -> None:
    """``--overlap`` no longer than the file lets the old key of an owned token live.

    The file bounds a rotation leftover's expiry at the end of the rotation's day plus
    the overlap it allows NAME (docs/reconcile.md#leftovers): a longer ``--overlap`` would
    be cut back by the next apply, so it is refused before anything is sent.
    """
    ownership = Ownership(spec, present=[t.name for t in inventory])
    for name in names:
        if not ownership.owns(name):
            continue
        allowed, where = overlap_allowed(ownership.by_name, name)
        if overlap > allowed:
            raise UsageError(
                f"--overlap {duration_text(overlap)} is longer than {spec.path} lets the old "
                f"key of {name!r} live ({duration_text(allowed)}, {where}): the next apply would "
                f"cut it back. Use --overlap {duration_text(allowed)} or less, or declare a "
                f"longer rotate.overlap for {name!r} in the file"
            )
