"""``diff(spec, inventory, now) -> Plan``: the pure heart of the tool.

No I/O and no clock: time comes in as ``now``. Semantics: docs/reconcile.md.

The diff is four passes over the server's tokens, each small and tested on its own
(tests/plan/test_passes.py) as well as through :func:`diff` (tests/plan/test_diff.py):

1. ownership: which tokens the file owns; the rest are unmanaged (look-alikes named)
2. declared: each declared token created, renamed, rotated, updated, enabled or disabled
3. leftovers: owned tokens the file does not declare (rotation and revoke leftovers,
   copies beyond a count, orphans under ``manage.orphans``)
4. sinks: a declared token whose key the sink lacks, or holds another of, gets it delivered
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, replace
from typing import Any

from provisioner.humanize import utc_time
from provisioner.observed import QUOTA_PER_UNIT_DEFAULT, ObservedToken, TokenStatus
from provisioner.plan.actions import (
    Create,
    Delete,
    Deliver,
    Disable,
    Enable,
    FieldChange,
    FieldUpdates,
    Rename,
    Rotate,
    TokenFields,
    Update,
)
from provisioner.plan.model import (
    Conflict,
    KeyPrint,
    Notice,
    Plan,
    fingerprint,
    key_print,
)
from provisioner.plan.ownership import (
    Ownership,
    old_expiry_bound,
    overlap_allowed,
    pending_of,
    predecessor_of,
    revoked_from,
    rotation_name,
)
from provisioner.spec.desired import (
    DEFAULT_ROTATE_OVERLAP,
    DesiredToken,
    Spec,
    count_key_name,
    server_instant,
)
from provisioner.spec.fields import duration_text

# Relative expiry is measured from created_time; values within this many
# seconds are equal, so apply followed by plan is always empty (docs/reconcile.md).
EXPIRY_TOLERANCE = 300


def _iso(epoch: int) -> str:
    return "never" if epoch == -1 else utc_time(epoch, "iso")


def _norm_list(values: Iterable[str]) -> list[str]:
    return sorted({v.strip() for v in values if v.strip()})


def norm_ips(values: Iterable[str]) -> list[str]:
    """IP entries compared by meaning: ``203.0.113.7`` and ``203.0.113.7/32`` are one host.

    one-api stores networks only (docs/server-contract.md#one-api).
    """
    out = set()
    for value in values:
        text = value.strip()
        if not text:
            continue
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError:
            out.add(text)
            continue
        single = network.prefixlen == network.max_prefixlen
        out.add(str(network.network_address) if single else str(network))
    return sorted(out)


def ips_as_written(stored: Iterable[str], written: Iterable[str]) -> list[str]:
    """The server's ``allow_ips`` entries in the file's own spelling, for display.

    An entry the file also has (by meaning) is shown as the file writes it; a single host
    the server stores as a network (one-api's ``127.0.0.1/32``) as its bare address.
    """
    spelled = {norm_ips([entry])[0]: entry for entry in written if norm_ips([entry])}
    out = []
    for entry in stored:
        meaning = norm_ips([entry])
        out.append(spelled.get(meaning[0], meaning[0]) if meaning else entry)
    return out


def new_token_fields(desired: DesiredToken, now: int, quota_per_unit: int) -> TokenFields:
    """The settings a new token of ``desired`` is created with (relative expiry from ``now``)."""
    budget = desired.quota.resolve(quota_per_unit)
    auto = desired.group == "auto"
    return TokenFields(
        name=desired.name,
        expired_time=desired.expires.expired_time(now),
        remain_quota=0 if budget is None else budget,
        unlimited_quota=budget is None,
        model_limits_enabled=bool(desired.models),
        model_limits=tuple(desired.models),
        allow_ips=tuple(desired.allow_ips),
        group=desired.group,
        cross_group_retry=desired.cross_group_retry if auto else False,
        auto_groups=tuple(desired.auto_groups or ()) if auto else None,
    )


def _field_updates(
    desired: DesiredToken, token: ObservedToken, quota_per_unit: int
) -> tuple[FieldUpdates, list[FieldChange]]:
    """The fields to write so ``token`` matches ``desired``, with before/after for display."""
    updates: dict[str, Any] = {}
    changes: list[FieldChange] = []

    want_expiry = desired.expires.expired_time(token.created_time)
    have_expiry = token.expired_time
    if (want_expiry == -1) != (have_expiry == -1) or (
        want_expiry != -1 and abs(want_expiry - have_expiry) > EXPIRY_TOLERANCE
    ):
        updates["expired_time"] = want_expiry
        changes.append(FieldChange("expired_time", _iso(have_expiry), _iso(want_expiry)))

    budget = desired.quota.resolve(quota_per_unit)
    if budget is None:
        if not token.unlimited_quota:
            updates["unlimited_quota"] = True
            changes.append(FieldChange("budget", token.budget, "unlimited"))
    else:
        # Budget, not counter: traffic never causes a diff (docs/reconcile.md).
        matches = not token.unlimited_quota and max(0, token.remain_quota) == max(
            0, budget - token.used_quota
        )
        if not matches:
            updates["unlimited_quota"] = False
            updates["budget"] = budget
            before: Any = "unlimited" if token.unlimited_quota else token.budget
            changes.append(FieldChange("budget", before, budget))

    if token.group != desired.group:
        updates["group"] = desired.group
        changes.append(FieldChange("group", token.group, desired.group))

    if desired.group == "auto":
        want_auto = list(desired.auto_groups or [])
        have_auto = list(token.auto_groups or [])
        if want_auto != have_auto:
            updates["auto_groups"] = tuple(want_auto)
            changes.append(FieldChange("auto_groups", have_auto, want_auto))
        if token.cross_group_retry != desired.cross_group_retry:
            updates["cross_group_retry"] = desired.cross_group_retry
            changes.append(
                FieldChange("cross_group_retry", token.cross_group_retry, desired.cross_group_retry)
            )

    if _norm_list(token.models) != _norm_list(desired.models):
        updates["models"] = tuple(desired.models)
        changes.append(FieldChange("models", list(token.models), list(desired.models)))

    if norm_ips(token.ips) != norm_ips(desired.allow_ips):
        updates["allow_ips"] = tuple(desired.allow_ips)
        before = ips_as_written(token.ips, desired.allow_ips)
        changes.append(FieldChange("allow_ips", before, list(desired.allow_ips)))

    return FieldUpdates(**updates), changes


def old_token_expiry(token: ObservedToken, now: int, overlap: int) -> int:
    """The expiry a rotation gives the old token: now + ``overlap``, never later than it was.

    Rotation never moves an expiry later (docs/reconcile.md#rotation): an expired token
    keeps its passed expiry, so renaming it out of the way cannot revive it.
    """
    proposed = server_instant(now + overlap)
    if token.expired_time == -1:
        return proposed
    return min(token.expired_time, proposed)


def _valid_after(token: ObservedToken, updates: FieldUpdates, now: int) -> tuple[bool, str]:
    """Would the token be usable once ``updates`` are written?

    The server's re-enable guard: docs/server-contract.md#re-enable-guard.
    """
    expiry = token.expired_time if updates.expired_time is None else updates.expired_time
    if expiry != -1 and expiry <= now:
        return False, f"expired: expiry {_iso(expiry)} has passed"
    unlimited = (
        token.unlimited_quota if updates.unlimited_quota is None else updates.unlimited_quota
    )
    if not unlimited:
        remain = (
            max(0, updates.budget - token.used_quota)
            if updates.budget is not None
            else token.remain_quota
        )
        if remain <= 0:
            return False, f"exhausted: used {token.used_quota} of budget {token.budget} units"
    return True, ""


# --------------------------------------------------------------------------- the diff


@dataclass(frozen=True)
class _Context:
    """What every pass over declared tokens needs besides the token."""

    now: int
    quota_per_unit: int
    taken: frozenset[str] = frozenset()  # every name on the server
    rotate_now: frozenset[str] = frozenset()
    rotate_overlap: int | None = None


def diff(
    spec: Spec,
    inventory: Sequence[ObservedToken],
    now: int,
    *,
    quota_per_unit: int = QUOTA_PER_UNIT_DEFAULT,
    rotate_now: Iterable[str] = (),
    rotate_overlap: int | None = None,
    sink_keys: Mapping[str, KeyPrint | None] | None = None,
) -> Plan:
    """Compare the desired state with the observed inventory. Pure.

    ``rotate_now`` names tokens to rotate regardless of their schedule
    (``provisioner rotate NAME``). ``sink_keys`` is what a readable key sink
    holds, by key name: the first and last 4 characters of each key (None for a
    key it lacks), or None when the sink cannot be read; a declared token whose
    key the sink lacks or holds another of gets a ``deliver`` action.
    """
    plan = Plan(now=now, quota_per_unit=quota_per_unit)
    present = frozenset(t.name for t in inventory)
    renames = pending_renames(spec, present)
    ownership = Ownership(spec, renames, present)
    owned = ownership_pass(inventory, ownership, plan)
    context = _Context(now, quota_per_unit, present, frozenset(rotate_now), rotate_overlap)
    matched = declared_pass(spec, owned, renames, context, plan)
    stale_renames_pass(spec, renames, present, plan)
    leftovers_pass(spec, ownership, owned, now, plan)
    if sink_keys is not None:
        sinks_pass(matched, sink_keys, plan)
    return plan


def pending_renames(spec: Spec, present: Iterable[str]) -> dict[str, DesiredToken]:
    """``renamed_from``: a former name is the file's while the new name is not on the
    server yet (by former name)."""
    names = set(present)
    return {
        d.renamed_from: d
        for d in spec.tokens
        if d.renamed_from and d.name not in names and d.status != "absent"
    }


def ownership_pass(
    inventory: Iterable[ObservedToken], ownership: Ownership, plan: Plan
) -> dict[str, list[ObservedToken]]:
    """Pass 1: the owned tokens by name; the others counted unmanaged, a look-alike of a
    declared token's copy named."""
    by_name: dict[str, list[ObservedToken]] = defaultdict(list)
    for token in inventory:
        if ownership.owns(token.name):
            by_name[token.name].append(token)
            continue
        plan.unmanaged += 1
        base = ownership.uncounted_copy(token.name)
        if base is not None:
            plan.notices.append(
                Notice(
                    token.name,
                    token.id,
                    "look-alike",
                    f"named like a copy of {base}, which declares no count: not managed. "
                    f"Declare `count` on {base} to own its copies (manage.orphans then "
                    "applies), or declare this one `status: absent` to remove it",
                )
            )
    plan.owned = sum(len(v) for v in by_name.values())
    return by_name


def declared_pass(
    spec: Spec,
    owned: Mapping[str, list[ObservedToken]],
    renames: Mapping[str, DesiredToken],
    context: _Context,
    plan: Plan,
) -> list[tuple[DesiredToken, ObservedToken]]:
    """Pass 2: every declared token against the owned token of its name (or of its former
    name); the (declared, observed) pairs that exist after it, for the sinks pass."""
    matched: list[tuple[DesiredToken, ObservedToken]] = []
    for desired in spec.tokens:
        _expired_by_file(desired, context.now, plan)
        matches = sorted(owned.get(desired.name, []), key=lambda t: t.id)
        renamed = False
        if not matches and desired.renamed_from in renames:
            matches = sorted(owned.get(desired.renamed_from or "", []), key=lambda t: t.id)
            renamed = bool(matches)
        if len(matches) > 1:
            plan.conflicts.append(Conflict(matches[0].name, tuple(t.id for t in matches)))
        elif renamed:
            _rename(desired, matches[0], context, plan)
            matched.append((desired, matches[0]))
        elif not matches:
            _create(desired, context, plan)
        else:
            _reconcile_one(desired, matches[0], context, plan)
            matched.append((desired, matches[0]))
    return matched


def _expired_by_file(desired: DesiredToken, now: int, plan: Plan) -> None:
    passed = desired.expires.kind == "absolute" and desired.expires.at <= now
    if passed and desired.status != "absent":
        plan.notices.append(
            Notice(
                desired.name,
                None,
                "expired-by-file",
                f"expires {_iso(desired.expires.at)}, which has passed: the file keeps "
                "this token expired; change `expires` to revive it",
            )
        )


def _create(desired: DesiredToken, context: _Context, plan: Plan) -> None:
    if desired.status == "absent":
        return
    settings = new_token_fields(desired, context.now, context.quota_per_unit)
    plan.actions.append(
        Create(
            name=desired.name,
            settings=settings,
            changes=_create_changes(desired, settings),
            key_name=desired.key_name,
            protected=desired.protected,
            reason="declared" if desired.status == "enabled" else "declared disabled",
        )
    )
    if desired.status == "disabled":
        plan.actions.append(Disable(name=desired.name, reason="declared disabled (new token)"))


def stale_renames_pass(
    spec: Spec, renames: Mapping[str, DesiredToken], present: Iterable[str], plan: Plan
) -> None:
    """A ``renamed_from`` whose new name exists already: the old token is left alone."""
    names = set(present)
    for desired in spec.tokens:
        old = desired.renamed_from
        if old and old not in renames and old in names:
            plan.notices.append(
                Notice(
                    desired.name,
                    None,
                    "renamed",
                    f"renamed_from: {old}, but {desired.name} exists already; {old} is left "
                    "alone, and renamed_from can go from the file",
                )
            )


def leftovers_pass(
    spec: Spec,
    ownership: Ownership,
    owned: Mapping[str, list[ObservedToken]],
    now: int,
    plan: Plan,
) -> None:
    """Pass 3: owned tokens the file does not declare (docs/reconcile.md#leftovers)."""
    declared = ownership.declared
    for name, tokens in sorted(owned.items()):
        if name in declared:
            continue
        for token in sorted(tokens, key=lambda t: t.id):
            _undeclared(spec, ownership, token, now, plan)


def sinks_pass(
    matched: Iterable[tuple[DesiredToken, ObservedToken]],
    sink_keys: Mapping[str, KeyPrint | None],
    plan: Plan,
) -> None:
    """Pass 4: a declared token whose key the sink lacks, or holds another of, gets its key
    delivered (docs/reconcile.md#keys-never-go-missing)."""
    # a new key is coming anyway, or the token stops working: built once, not per token
    replaced_or_stopped = {a.token_id for a in plan.actions if a.kind in ("rotate", "disable")}
    for desired, token in matched:
        _compare_sink(desired, token, sink_keys, replaced_or_stopped, plan)


def _action_fields(desired: DesiredToken, token: ObservedToken) -> dict[str, Any]:
    """What every action on an observed, declared token carries."""
    return {
        "token_id": token.id,
        "fingerprint": fingerprint(token),
        "protected": desired.protected,
        "key_name": desired.key_name,
        "accessed_time": token.last_used,
    }


def _reconcile_one(
    desired: DesiredToken, token: ObservedToken, context: _Context, plan: Plan
) -> None:
    """A declared token that exists: deleted, rotated, or brought to its declared fields
    and status."""

    def common() -> dict[str, Any]:
        # Only a token that gets an action needs its fingerprint: most of a big plan has none.
        return {"name": token.name, **_action_fields(desired, token)}

    if desired.status == "absent":
        plan.actions.append(Delete(reason="declared absent", **common()))
        return
    if desired.status == "enabled":
        forced, scheduled = _rotation_due(desired, token, context)
        if forced or scheduled:
            rotate = _rotate(desired, token, context, plan, common(), forced, scheduled)
            plan.actions.append(rotate)
            return
    updates, changes = _field_updates(desired, token, context.quota_per_unit)
    if updates:
        plan.actions.append(Update(set=updates, changes=tuple(changes), **common()))
    if desired.status == "disabled":
        # A stored 1 would come back to life once its fields are fixed; 2/3/4 are not usable.
        if token.status == TokenStatus.ENABLED:
            plan.actions.append(Disable(reason="declared disabled", **common()))
        return
    usable, why = _valid_after(token, updates, context.now)
    if not usable:
        kind = "expired" if why.startswith("expired") else "exhausted"
        by_file = desired.expires.kind == "absolute" and desired.expires.at <= context.now
        if not (kind == "expired" and by_file):  # the file's own date is noticed already
            plan.notices.append(
                Notice(
                    token.name, token.id, kind, f"{why}; change `expires` or `quota` to revive it"
                )
            )
        return
    if token.status != TokenStatus.ENABLED:
        _enable_if_needed(token, common(), plan)


def _rotation_due(
    desired: DesiredToken, token: ObservedToken, context: _Context
) -> tuple[bool, bool]:
    """Whether the token rotates now: (requested, due by its own ``rotate.every``)."""
    forced = desired.name in context.rotate_now
    scheduled = (
        desired.rotate is not None and context.now - token.created_time >= desired.rotate.every
    )
    return forced, scheduled


def _rotate(
    desired: DesiredToken,
    token: ObservedToken,
    context: _Context,
    plan: Plan,
    common: dict[str, Any],
    forced: bool,
    scheduled: bool,
) -> Rotate:
    """The replacement is created from the spec, so the old token needs no update."""
    now = context.now
    overlap = (
        context.rotate_overlap
        if context.rotate_overlap is not None
        else (desired.rotate.overlap if desired.rotate else DEFAULT_ROTATE_OVERLAP)
    )
    taken = set(context.taken) | {a.rotation_name for a in plan.actions if isinstance(a, Rotate)}
    reason = "requested" if forced else f"rotate.every elapsed (created {_iso(token.created_time)})"
    dead = token.effective_status(now)
    if dead in (TokenStatus.EXPIRED, TokenStatus.EXHAUSTED):
        state = TokenStatus(dead).name.lower()
        reason += f"; the old token is {state}: replaced, not revived"
    return Rotate(
        reason=reason,
        settings=new_token_fields(desired, now, context.quota_per_unit),
        rotation_name=rotation_name(token.name, now, taken),
        rotation_expiry=old_token_expiry(token, now, overlap),
        old_remaining=None if token.unlimited_quota else max(0, token.remain_quota),
        scheduled=scheduled,
        **common,
    )


def _enable_if_needed(token: ObservedToken, common: dict[str, Any], plan: Plan) -> None:
    # A listed 1 that is really dead is revived by the field update alone
    # (docs/server-contract.md#lazy-status).
    stored = token.status
    if stored == TokenStatus.ENABLED:
        return
    if stored in (TokenStatus.EXPIRED, TokenStatus.EXHAUSTED):
        reason = f"revive: was {TokenStatus(stored).name.lower()}; fields are fixed first"
    elif stored == TokenStatus.DISABLED:
        reason = "declared enabled"
    else:
        reason = f"unknown server status {stored}"
    plan.actions.append(Enable(reason=reason, **common))


def _compare_sink(
    desired: DesiredToken,
    token: ObservedToken,
    sink_keys: Mapping[str, KeyPrint | None],
    replaced_or_stopped: Set[int | None],
    plan: Plan,
) -> None:
    """A declared token whose key the sink lacks, or holds another of, gets its key delivered."""
    if desired.status != "enabled" or desired.key_name not in sink_keys:
        return
    if token.id in replaced_or_stopped:
        return  # a new key is coming anyway, or the token stops working
    server = key_print(token.key)
    if server is None:
        return  # a server without masks or keys to compare (the key comes with reveal)
    held = sink_keys[desired.key_name]
    if held == server:
        return
    reason = (
        "its key is missing from the sink"
        if held is None
        else "the sink holds a different key (first and last 4 characters differ)"
    )
    plan.actions.append(
        Deliver(
            name=token.name,
            token_id=token.id,
            reason=reason,
            fingerprint=fingerprint(token),
            key_name=desired.key_name,
            protected=desired.protected,
        )
    )


def _rename(desired: DesiredToken, token: ObservedToken, context: _Context, plan: Plan) -> None:
    """``renamed_from``: one PUT gives the old token the new name (its key is kept) and any
    field the file changed; its status follows as for any declared token."""
    updates, changes = _field_updates(desired, token, context.quota_per_unit)
    updates = replace(updates, name=desired.name)
    common = {"name": desired.name, **_action_fields(desired, token)}
    plan.actions.append(
        Rename(
            set=updates,
            changes=(FieldChange("name", token.name, desired.name), *changes),
            reason=f"renamed_from: {token.name} (the key is kept)",
            **common,
        )
    )
    if desired.status == "disabled":
        if token.status == TokenStatus.ENABLED:
            plan.actions.append(Disable(reason="declared disabled", **common))
        return
    usable, _ = _valid_after(token, updates, context.now)
    if usable and token.status != TokenStatus.ENABLED:
        plan.actions.append(Enable(reason="declared enabled", **common))


def _undeclared(
    spec: Spec, ownership: Ownership, token: ObservedToken, now: int, plan: Plan
) -> None:
    """An owned token the file does not declare: a leftover keeps its desired state
    (docs/reconcile.md#leftovers); anything else is an orphan, under ``manage.orphans``."""
    common: dict[str, Any] = {
        "name": token.name,
        "token_id": token.id,
        "fingerprint": fingerprint(token),
        "accessed_time": token.last_used,
    }
    if revoked_from(token.name) is not None:
        _leaked(token, plan, common)
        return
    if pending_of(token.name) is not None:
        # Disabled, its key never reached the sink: a plain leftover. Enabled, an apply was
        # interrupted around its delivery: the sink may hold its key, so the safety rules
        # (min_idle) see this delete like any other, and a readable sink gets the live
        # token's key back first (a deliver action).
        disabled = token.status != TokenStatus.ENABLED
        plan.actions.append(
            Delete(
                reason="a rotation that did not finish left it"
                + (": its key was never delivered" if disabled else ""),
                cleanup=disabled,
                **common,
            )
        )
        return
    base = predecessor_of(token.name)
    if base is not None:
        _rotated_out(ownership, base, token, now, plan, common)
        return
    _orphan(spec, ownership, token, plan, common)


def _orphan(
    spec: Spec, ownership: Ownership, token: ObservedToken, plan: Plan, common: dict[str, Any]
) -> None:
    """An owned token the file does not declare and no rotation or revoke left: under
    ``manage.orphans`` (a copy beyond its count is one too)."""
    policy = spec.manage.orphans
    copy_of = ownership.copy_of(token.name)
    what = f"copy of {copy_of} beyond its count" if copy_of else "orphan"
    if policy == "delete":
        # a copy's key went to the sink under the family's key name: it leaves with it
        key_name = ""
        family = ownership.by_name.get(copy_of or "")
        if family is not None:
            key_name = count_key_name(family.key_name, int(token.name.rpartition("-")[2]))
        plan.actions.append(
            Delete(reason=f"{what} (manage.orphans: delete)", key_name=key_name, **common)
        )
    elif policy == "disable" and token.status == TokenStatus.ENABLED:
        plan.actions.append(Disable(reason=f"{what} (manage.orphans: disable)", **common))
    else:
        plan.notices.append(
            Notice(
                token.name,
                token.id,
                "orphan",
                f"owned but not declared{f' ({what})' if copy_of else ''}; kept "
                f"(manage.orphans: {policy})",
            )
        )


def _leaked(token: ObservedToken, plan: Plan, common: dict[str, Any]) -> None:
    """``NAME.leaked-YYYYMMDD``: disabled, always. Re-enabled by hand, apply disables it."""
    if token.status == TokenStatus.ENABLED:
        plan.actions.append(
            Disable(
                reason="its key leaked and was revoked; re-enabled since, so disabled again",
                cleanup=True,
                **common,
            )
        )
        return
    plan.notices.append(
        Notice(token.name, token.id, "revoked", "its key leaked and was revoked; kept disabled")
    )


def _rotated_out(
    ownership: Ownership,
    base: str,
    token: ObservedToken,
    now: int,
    plan: Plan,
    common: dict[str, Any],
) -> None:
    """``NAME.old-YYYYMMDD``: expires at most at its rotation day's end plus the overlap the
    file allows NAME (:func:`overlap_allowed`); an expiry moved later is restored, one that
    has passed is deleted."""
    overlap, _ = overlap_allowed(ownership.by_name, base)
    bound = old_expiry_bound(token.name, overlap)
    expired = token.expired_time != -1 and token.expired_time <= now
    if expired or (bound is not None and bound <= now):
        why = "expired rotation predecessor"
        if not expired:
            why = f"rotated out; its overlap ended {_iso(bound or 0)}, whatever its expiry says"
        plan.actions.append(Delete(reason=why, cleanup=True, **common))
        return
    if bound is not None and (token.expired_time == -1 or token.expired_time > bound):
        plan.actions.append(
            Update(
                set=FieldUpdates(expired_time=bound),
                changes=(FieldChange("expired_time", _iso(token.expired_time), _iso(bound)),),
                reason="rotated out: expires at most at the rotation's day end plus the "
                f"overlap ({duration_text(overlap)}); its expiry was moved later",
                cleanup=True,
                **common,
            )
        )
        return
    plan.notices.append(
        Notice(
            token.name,
            token.id,
            "predecessor",
            f"rotated out; key works until {_iso(token.expired_time)}",
        )
    )


def _create_changes(desired: DesiredToken, settings: TokenFields) -> tuple[FieldChange, ...]:
    shown: list[FieldChange] = [
        FieldChange("expired_time", None, _iso(settings.expired_time)),
        FieldChange(
            "budget", None, "unlimited" if settings.unlimited_quota else settings.remain_quota
        ),
        FieldChange("group", None, settings.group),
    ]
    if desired.group == "auto":
        shown.append(FieldChange("auto_groups", None, list(settings.auto_groups or [])))
        shown.append(FieldChange("cross_group_retry", None, settings.cross_group_retry))
    if desired.models:
        shown.append(FieldChange("models", None, list(desired.models)))
    if desired.allow_ips:
        shown.append(FieldChange("allow_ips", None, list(desired.allow_ips)))
    return tuple(shown)
