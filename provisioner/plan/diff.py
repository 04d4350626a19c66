"""``diff(spec, inventory, now) -> Plan``: the pure heart of the tool.

No I/O and no clock: time comes in as ``now``. Semantics: docs/reconcile.md.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from provisioner.observed import QUOTA_PER_UNIT_DEFAULT, ObservedToken, TokenStatus
from provisioner.plan.model import (
    BUDGET,
    Action,
    Conflict,
    FieldChange,
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

# Relative expiry is measured from created_time; values within this many
# seconds are equal, so apply followed by plan is always empty (docs/reconcile.md).
EXPIRY_TOLERANCE = 300


def _iso(epoch: int) -> str:
    if epoch == -1:
        return "never"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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


def create_body(desired: DesiredToken, now: int, quota_per_unit: int) -> dict[str, Any]:
    """The POST body for a new token (docs/server-contract.md#creating-a-token)."""
    budget = desired.quota.resolve(quota_per_unit)
    body: dict[str, Any] = {
        "name": desired.name,
        "expired_time": desired.expires.expired_time(now),
        "remain_quota": 0 if budget is None else budget,
        "unlimited_quota": budget is None,
        "model_limits_enabled": bool(desired.models),
        "model_limits": ",".join(desired.models),
        "allow_ips": "\n".join(
            desired.allow_ips
        ),  # newline-separated: docs/server-contract.md#token-record
        "group": desired.group,
        "cross_group_retry": desired.cross_group_retry if desired.group == "auto" else False,
    }
    if desired.group == "auto":
        body["auto_groups"] = list(desired.auto_groups or [])
    return body


def _field_updates(
    desired: DesiredToken, token: ObservedToken, now: int, quota_per_unit: int
) -> tuple[dict[str, Any], list[FieldChange]]:
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
            updates[BUDGET] = budget
            before: Any = "unlimited" if token.unlimited_quota else token.budget
            changes.append(FieldChange("budget", before, budget))

    if token.group != desired.group:
        updates["group"] = desired.group
        changes.append(FieldChange("group", token.group, desired.group))

    if desired.group == "auto":
        want_auto = list(desired.auto_groups or [])
        have_auto = list(token.auto_groups or [])
        if want_auto != have_auto:
            updates["auto_groups"] = want_auto
            changes.append(FieldChange("auto_groups", have_auto, want_auto))
        if token.cross_group_retry != desired.cross_group_retry:
            updates["cross_group_retry"] = desired.cross_group_retry
            changes.append(
                FieldChange("cross_group_retry", token.cross_group_retry, desired.cross_group_retry)
            )

    if _norm_list(token.models) != _norm_list(desired.models):
        updates["model_limits_enabled"] = bool(desired.models)
        updates["model_limits"] = ",".join(desired.models)
        changes.append(FieldChange("models", list(token.models), list(desired.models)))

    if norm_ips(token.ips) != norm_ips(desired.allow_ips):
        updates["allow_ips"] = "\n".join(desired.allow_ips)
        before = ips_as_written(token.ips, desired.allow_ips)
        changes.append(FieldChange("allow_ips", before, list(desired.allow_ips)))

    return updates, changes


def merged_write(token: ObservedToken, updates: dict[str, Any]) -> dict[str, Any]:
    """Read-merge-write: the whole record with ``updates`` applied.

    docs/server-contract.md#updating-a-token: a PUT replaces every field.

    ``BUDGET`` becomes ``remain_quota = max(0, budget - used_quota)`` against the
    token as it is now, so traffic between plan and apply is accounted for.
    """
    body = token.write_fields()
    for key, value in updates.items():
        if key == BUDGET:
            body["remain_quota"] = max(0, int(value) - token.used_quota)
        else:
            body[key] = value
    if body.get("group") != "auto":
        body.pop("auto_groups", None)
        body["cross_group_retry"] = False
    elif "auto_groups" not in body:
        body["auto_groups"] = []
    return body


def old_token_expiry(token: ObservedToken, now: int, overlap: int) -> int:
    """The expiry a rotation gives the old token: now + ``overlap``, never later than it was.

    Rotation never moves an expiry later (docs/reconcile.md#rotation): an expired token
    keeps its passed expiry, so renaming it out of the way cannot revive it.
    """
    proposed = server_instant(now + overlap)
    if token.expired_time == -1:
        return proposed
    return min(token.expired_time, proposed)


def _valid_after(token: ObservedToken, updates: dict[str, Any], now: int) -> tuple[bool, str]:
    """Would the token be usable once ``updates`` are written?

    The server's re-enable guard: docs/server-contract.md#re-enable-guard.
    """
    expiry = updates.get("expired_time", token.expired_time)
    if expiry != -1 and expiry <= now:
        return False, f"expired: expiry {_iso(expiry)} has passed"
    unlimited = updates.get("unlimited_quota", token.unlimited_quota)
    if not unlimited:
        remain = (
            max(0, int(updates[BUDGET]) - token.used_quota)
            if BUDGET in updates
            else token.remain_quota
        )
        if remain <= 0:
            return False, f"exhausted: used {token.used_quota} of budget {token.budget} units"
    return True, ""


def _reconcile_one(
    desired: DesiredToken,
    token: ObservedToken,
    now: int,
    quota_per_unit: int,
    plan: Plan,
    *,
    force_rotate: bool = False,
    rotate_overlap: int | None = None,
    taken_names: set[str] | frozenset[str] = frozenset(),
) -> None:
    common = {"name": token.name, **_touching(desired, token)}
    if desired.status == "absent":
        plan.actions.append(Action("delete", reason="declared absent", **common))
        return

    if desired.status == "enabled":
        due = desired.rotate is not None and now - token.created_time >= desired.rotate.every
        if force_rotate or due:
            # The replacement is created from the spec, so the old token needs no update.
            overlap = (
                rotate_overlap
                if rotate_overlap is not None
                else (desired.rotate.overlap if desired.rotate else DEFAULT_ROTATE_OVERLAP)
            )
            taken = set(taken_names) | {a.rotation_name for a in plan.actions if a.kind == "rotate"}
            reason = (
                "requested"
                if force_rotate
                else (f"rotate.every elapsed (created {_iso(token.created_time)})")
            )
            dead = token.effective_status(now)
            if dead in (TokenStatus.EXPIRED, TokenStatus.EXHAUSTED):
                state = TokenStatus(dead).name.lower()
                reason += f"; the old token is {state}: replaced, not revived"
            plan.actions.append(
                Action(
                    "rotate",
                    reason=reason,
                    set=create_body(desired, now, quota_per_unit),
                    rotation_name=rotation_name(token.name, now, taken),
                    rotation_expiry=old_token_expiry(token, now, overlap),
                    old_remaining=None if token.unlimited_quota else max(0, token.remain_quota),
                    scheduled=due,
                    **common,
                )
            )
            return

    updates, changes = _field_updates(desired, token, now, quota_per_unit)
    if updates:
        plan.actions.append(Action("update", set=updates, changes=tuple(changes), **common))

    stored = token.status
    if desired.status == "disabled":
        # A stored 1 would come back to life once its fields are fixed; 2/3/4 are not usable.
        if stored == TokenStatus.ENABLED:
            plan.actions.append(Action("disable", reason="declared disabled", **common))
        return

    usable, why = _valid_after(token, updates, now)
    if not usable:
        kind = "expired" if why.startswith("expired") else "exhausted"
        by_file = desired.expires.kind == "absolute" and desired.expires.at <= now
        if not (kind == "expired" and by_file):  # the file's own date is noticed already
            plan.notices.append(
                Notice(
                    token.name, token.id, kind, f"{why}; change `expires` or `quota` to revive it"
                )
            )
        return
    # A listed 1 that is really dead is revived by the field update alone
    # (docs/server-contract.md#lazy-status).
    if stored != TokenStatus.ENABLED:
        if stored in (TokenStatus.EXPIRED, TokenStatus.EXHAUSTED):
            reason = f"revive: was {TokenStatus(stored).name.lower()}; fields are fixed first"
        elif stored == TokenStatus.DISABLED:
            reason = "declared enabled"
        else:
            reason = f"unknown server status {stored}"
        plan.actions.append(Action("enable", reason=reason, **common))


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
    present = {t.name for t in inventory}
    # renamed_from: a former name is the file's while the new name is not on the server yet
    renames = {
        d.renamed_from: d
        for d in spec.tokens
        if d.renamed_from and d.name not in present and d.status != "absent"
    }
    ownership = Ownership(spec, renames, present)
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
    taken_names = {t.name for t in inventory}

    force_rotate = set(rotate_now)
    for desired in spec.tokens:
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
        matches = sorted(by_name.get(desired.name, []), key=lambda t: t.id)
        renamed = False
        if not matches and desired.renamed_from in renames:
            matches = sorted(by_name.get(desired.renamed_from or "", []), key=lambda t: t.id)
            renamed = bool(matches)
        if len(matches) > 1:
            plan.conflicts.append(Conflict(matches[0].name, tuple(t.id for t in matches)))
            continue
        if renamed:
            _rename(desired, matches[0], now, quota_per_unit, plan)
            if sink_keys is not None:  # the key is kept: the sink needs it under its new name
                _compare_sink(desired, matches[0], sink_keys, plan)
            continue
        if not matches:
            if desired.status != "absent":
                body = create_body(desired, now, quota_per_unit)
                plan.actions.append(
                    Action(
                        "create",
                        desired.name,
                        set=body,
                        changes=_create_changes(desired, body),
                        key_name=desired.key_name,
                        protected=desired.protected,
                        reason="declared" if desired.status == "enabled" else "declared disabled",
                    )
                )
                if desired.status == "disabled":
                    plan.actions.append(
                        Action("disable", desired.name, reason="declared disabled (new token)")
                    )
            continue
        _reconcile_one(
            desired,
            matches[0],
            now,
            quota_per_unit,
            plan,
            force_rotate=desired.name in force_rotate,
            rotate_overlap=rotate_overlap,
            taken_names=taken_names,
        )
        if sink_keys is not None:
            _compare_sink(desired, matches[0], sink_keys, plan)

    declared = ownership.declared
    for desired in spec.tokens:
        old = desired.renamed_from
        if old and old not in renames and old in present:
            plan.notices.append(
                Notice(
                    desired.name,
                    None,
                    "renamed",
                    f"renamed_from: {old}, but {desired.name} exists already; {old} is left "
                    "alone, and renamed_from can go from the file",
                )
            )
    for name, tokens in sorted(by_name.items()):
        if name in declared:
            continue
        for token in sorted(tokens, key=lambda t: t.id):
            _undeclared(spec, ownership, token, now, plan)
    return plan


def _compare_sink(
    desired: DesiredToken,
    token: ObservedToken,
    sink_keys: Mapping[str, KeyPrint | None],
    plan: Plan,
) -> None:
    """A declared token whose key the sink lacks, or holds another of, gets its key delivered."""
    if desired.status != "enabled" or desired.key_name not in sink_keys:
        return
    if any(a.token_id == token.id and a.kind in ("rotate", "disable") for a in plan.actions):
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
        Action(
            "deliver",
            token.name,
            token_id=token.id,
            reason=reason,
            fingerprint=fingerprint(token),
            key_name=desired.key_name,
            protected=desired.protected,
        )
    )


def _touching(desired: DesiredToken, token: ObservedToken) -> dict[str, Any]:
    """What every action on an observed, declared token carries."""
    return {
        "token_id": token.id,
        "fingerprint": fingerprint(token),
        "protected": desired.protected,
        "key_name": desired.key_name,
        "accessed_time": token.last_used,
    }


def _rename(
    desired: DesiredToken, token: ObservedToken, now: int, quota_per_unit: int, plan: Plan
) -> None:
    """``renamed_from``: one PUT gives the old token the new name (its key is kept) and any
    field the file changed; its status follows as for any declared token."""
    updates, changes = _field_updates(desired, token, now, quota_per_unit)
    updates["name"] = desired.name
    plan.actions.append(
        Action(
            "rename",
            desired.name,
            set=updates,
            changes=(FieldChange("name", token.name, desired.name), *changes),
            reason=f"renamed_from: {token.name} (the key is kept)",
            **_touching(desired, token),
        )
    )
    common = _touching(desired, token)
    if desired.status == "disabled":
        if token.status == TokenStatus.ENABLED:
            plan.actions.append(
                Action("disable", desired.name, reason="declared disabled", **common)
            )
        return
    usable, _ = _valid_after(token, updates, now)
    if usable and token.status != TokenStatus.ENABLED:
        plan.actions.append(Action("enable", desired.name, reason="declared enabled", **common))


def _undeclared(
    spec: Spec, ownership: Ownership, token: ObservedToken, now: int, plan: Plan
) -> None:
    """An owned token the file does not declare: a leftover keeps its desired state
    (docs/reconcile.md#leftovers); anything else is an orphan, under ``manage.orphans``."""
    common: dict[str, Any] = {
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
            Action(
                "delete",
                token.name,
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
            Action(
                "delete",
                token.name,
                reason=f"{what} (manage.orphans: delete)",
                key_name=key_name,
                **common,
            )
        )
    elif policy == "disable" and token.status == TokenStatus.ENABLED:
        plan.actions.append(
            Action("disable", token.name, reason=f"{what} (manage.orphans: disable)", **common)
        )
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
            Action(
                "disable",
                token.name,
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
        plan.actions.append(Action("delete", token.name, reason=why, cleanup=True, **common))
        return
    if bound is not None and (token.expired_time == -1 or token.expired_time > bound):
        plan.actions.append(
            Action(
                "update",
                token.name,
                set={"expired_time": bound},
                changes=(FieldChange("expired_time", _iso(token.expired_time), _iso(bound)),),
                reason="rotated out: expires at most at the rotation's day end plus the "
                f"overlap ({_overlap_text(overlap)}); its expiry was moved later",
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


def _overlap_text(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _create_changes(desired: DesiredToken, body: dict[str, Any]) -> tuple[FieldChange, ...]:
    shown: list[FieldChange] = [
        FieldChange("expired_time", None, _iso(body["expired_time"])),
        FieldChange(
            "budget", None, "unlimited" if body["unlimited_quota"] else body["remain_quota"]
        ),
        FieldChange("group", None, body["group"]),
    ]
    if desired.group == "auto":
        shown.append(FieldChange("auto_groups", None, body.get("auto_groups", [])))
        shown.append(FieldChange("cross_group_retry", None, body["cross_group_retry"]))
    if desired.models:
        shown.append(FieldChange("models", None, list(desired.models)))
    if desired.allow_ips:
        shown.append(FieldChange("allow_ips", None, list(desired.allow_ips)))
    return tuple(shown)
