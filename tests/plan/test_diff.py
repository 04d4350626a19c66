"""Table tests of the pure diff (docs/reconcile.md)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from provisioner.newapi.bodies import update_body
from provisioner.observed import ObservedToken
from provisioner.plan.actions import FieldChange
from provisioner.plan.diff import diff, rotation_name
from provisioner.plan.model import fingerprint
from provisioner.plan.safety import check
from provisioner.spec.desired import (
    Budget,
    DesiredToken,
    Expiry,
    Manage,
    RotatePolicy,
    Safety,
    Spec,
    derive_key_name,
)

NOW = 1_800_000_000
DAY = 86400
QPU = 500_000


def want(name: str, **kw: object) -> DesiredToken:
    base = kw.pop("base_name", name)
    fields: dict[str, object] = {
        "name": name,
        "base_name": base,
        "index": kw.pop("index", 1),
        "count": kw.pop("count", 1),
        "key_name": derive_key_name(name),
    }
    fields.update(kw)
    return DesiredToken(**fields)  # type: ignore[arg-type]


def spec(*tokens: DesiredToken, **kw: object) -> Spec:
    return Spec(path="t.yaml", digest="d", tokens=tokens, **kw)  # type: ignore[arg-type]


_next_id = iter(range(1, 10_000))


def tok(name: str, **kw: object) -> ObservedToken:
    fields: dict[str, object] = {
        "id": kw.pop("id", next(_next_id)),
        "name": name,
        "key": "a" * 48,
        "created_time": NOW - 10 * DAY,
        "accessed_time": NOW - 10 * DAY,
        "expired_time": -1,
        "unlimited_quota": True,
        "remain_quota": 0,
    }
    fields.update(kw)
    return ObservedToken(**fields)  # type: ignore[arg-type]


def kinds(plan) -> list[tuple[str, str]]:
    return [(a.kind, a.name) for a in plan.ordered()]


def test_create_when_missing() -> None:
    plan = diff(spec(want("a")), [], NOW)
    assert kinds(plan) == [("create", "a")]
    body = plan.actions[0].written()
    assert body["expired_time"] == -1 and body["unlimited_quota"] is True
    assert body["remain_quota"] == 0 and body["allow_ips"] == ""


def test_create_body_converts_usd_relative_expiry_and_lists() -> None:
    d = want(
        "b",
        quota=Budget(False, usd=Decimal("20")),
        expires=Expiry("relative", seconds=90 * DAY),
        models=("gpt-4o", "sora-2"),
        allow_ips=("10.0.0.0/8", "203.0.113.7"),
        group="auto",
        auto_groups=("default", "vip"),
        cross_group_retry=True,
    )
    body = diff(spec(d), [], NOW).actions[0].written()
    assert body["remain_quota"] == 20 * QPU and body["unlimited_quota"] is False
    assert body["expired_time"] == NOW + 90 * DAY
    assert body["model_limits"] == "gpt-4o,sora-2" and body["model_limits_enabled"] is True
    assert (
        body["allow_ips"] == "10.0.0.0/8\n203.0.113.7"
    )  # newline-separated: docs/server-contract.md#token-record
    assert body["auto_groups"] == ["default", "vip"] and body["cross_group_retry"] is True


def test_usd_converts_with_server_quota_per_unit() -> None:
    d = want("b", quota=Budget(False, usd=Decimal("2.5")))
    assert diff(spec(d), [], NOW, quota_per_unit=1000).actions[0].written()["remain_quota"] == 2500


def test_matching_token_is_no_change() -> None:
    assert diff(spec(want("a")), [tok("a")], NOW).actions == []


def test_relative_expiry_no_diff_as_time_passes() -> None:
    d = want("a", expires=Expiry("relative", seconds=30 * DAY))
    t = tok("a", created_time=NOW, expired_time=NOW + 30 * DAY + 2)  # created a moment later
    for later in (NOW, NOW + DAY, NOW + 20 * DAY):
        assert diff(spec(d), [t], later).actions == []


def test_expiry_outside_tolerance_is_an_update() -> None:
    d = want("a", expires=Expiry("relative", seconds=30 * DAY))
    t = tok("a", created_time=NOW, expired_time=NOW + 7 * DAY)
    (action,) = diff(spec(d), [t], NOW).actions
    assert action.kind == "update" and action.written() == {"expired_time": NOW + 30 * DAY}
    assert action.changes[0].field == "expired_time"


def test_traffic_never_causes_a_diff() -> None:
    d = want("a", quota=Budget(False, units=1_000_000))
    for used in (0, 1, 400_000, 999_999):
        t = tok("a", unlimited_quota=False, used_quota=used, remain_quota=1_000_000 - used)
        assert diff(spec(d), [t], NOW).actions == []


def test_unlimited_ignores_negative_remain() -> None:
    t = tok("a", unlimited_quota=True, remain_quota=-12_000, used_quota=12_000)
    assert diff(spec(want("a")), [t], NOW).actions == []


def test_budget_raise_tops_up_by_difference() -> None:
    d = want("a", quota=Budget(False, units=3_000_000))
    t = tok("a", unlimited_quota=False, used_quota=400_000, remain_quota=600_000)
    (action,) = diff(spec(d), [t], NOW).actions
    assert action.kind == "update" and action.written()["budget"] == 3_000_000
    body = update_body(t, action.set)
    assert body["remain_quota"] == 2_600_000  # 3,000,000 - 400,000 used
    # traffic between plan and apply: computed against the fresh used_quota
    fresh = t.model_copy(update={"used_quota": 500_000, "remain_quota": 500_000})
    assert update_body(fresh, action.set)["remain_quota"] == 2_500_000


def test_budget_below_used_is_stable_after_apply() -> None:
    d = want("a", quota=Budget(False, units=100))
    t = tok("a", unlimited_quota=False, used_quota=120, remain_quota=0, status=4)
    plan = diff(spec(d), [t], NOW)
    assert plan.actions == []
    assert [n.kind for n in plan.notices] == ["exhausted"]


def test_limited_to_unlimited_and_back() -> None:
    t = tok("a", unlimited_quota=False, used_quota=10, remain_quota=90)
    (up,) = diff(spec(want("a")), [t], NOW).actions
    assert up.written() == {"unlimited_quota": True}
    t2 = tok("a", unlimited_quota=True, used_quota=10, remain_quota=-10)
    (down,) = diff(spec(want("a", quota=Budget(False, units=100))), [t2], NOW).actions
    assert down.written() == {"unlimited_quota": False, "budget": 100}
    assert update_body(t2, down.set)["remain_quota"] == 90


def test_expired_fixed_expiry_gets_update_then_enable() -> None:
    d = want("a", expires=Expiry("absolute", at=NOW + 30 * DAY))
    t = tok("a", status=3, expired_time=NOW - DAY)
    plan = diff(spec(d), [t], NOW)
    assert kinds(plan) == [("update", "a"), ("enable", "a")]
    assert "revive" in plan.of_kind("enable")[0].reason


def test_listed_enabled_but_expired_needs_update_only() -> None:
    d = want("a", expires=Expiry("absolute", at=NOW + 30 * DAY))
    t = tok(
        "a", status=1, expired_time=NOW - DAY
    )  # status set lazily: docs/server-contract.md#lazy-status
    assert kinds(diff(spec(d), [t], NOW)) == [("update", "a")]


def test_relative_expiry_in_past_is_a_notice_not_a_loop() -> None:
    d = want("a", expires=Expiry("relative", seconds=7 * DAY))
    t = tok("a", status=3, created_time=NOW - 30 * DAY, expired_time=NOW - 23 * DAY)
    plan = diff(spec(d), [t], NOW)
    assert plan.actions == []
    assert plan.notices[0].kind == "expired" and "expires" in plan.notices[0].message


def test_exhausted_budget_raise_revives() -> None:
    d = want("a", quota=Budget(False, units=2000))
    t = tok("a", status=4, unlimited_quota=False, used_quota=1000, remain_quota=0)
    assert kinds(diff(spec(d), [t], NOW)) == [("update", "a"), ("enable", "a")]


def test_disable_and_enable() -> None:
    assert kinds(diff(spec(want("a", status="disabled")), [tok("a")], NOW)) == [("disable", "a")]
    assert kinds(diff(spec(want("a")), [tok("a", status=2)], NOW)) == [("enable", "a")]
    # disabled desired, token already expired: nothing to do
    t = tok("a", status=3, expired_time=NOW - 5)
    gone = want("a", status="disabled", expires=Expiry("absolute", at=NOW - 5))
    assert diff(spec(gone), [t], NOW).actions == []


def test_absent_deletes() -> None:
    assert kinds(diff(spec(want("a", status="absent")), [tok("a")], NOW)) == [("delete", "a")]
    assert diff(spec(want("a", status="absent")), [], NOW).actions == []


def test_declared_disabled_new_token_is_created_then_disabled() -> None:
    plan = diff(spec(want("a", status="disabled")), [], NOW)
    assert kinds(plan) == [("create", "a"), ("disable", "a")]


def test_field_updates_group_models_ips() -> None:
    d = want("a", group="vip", models=("gpt-4o",), allow_ips=("10.0.0.0/8",))
    t = tok("a", group="default", model_limits_enabled=False, allow_ips=None)
    (action,) = diff(spec(d), [t], NOW).actions
    assert {c.field for c in action.changes} == {"group", "models", "allow_ips"}
    body = update_body(t, action.set)
    assert body["model_limits"] == "gpt-4o" and body["model_limits_enabled"] is True
    assert body["allow_ips"] == "10.0.0.0/8" and body["group"] == "vip"
    assert "key" not in body and "status" not in body and body["expired_time"] == -1


def test_ip_and_model_order_does_not_matter() -> None:
    d = want("a", models=("b", "a"), allow_ips=("10.0.0.1", "10.0.0.2"))
    t = tok("a", model_limits_enabled=True, model_limits="a,b", allow_ips="10.0.0.2\n10.0.0.1")
    assert diff(spec(d), [t], NOW).actions == []


def test_auto_groups_only_compared_for_auto() -> None:
    d = want("a", group="auto", auto_groups=("vip", "default"), cross_group_retry=True)
    t = tok("a", group="auto", auto_groups=["vip", "default"], cross_group_retry=True)
    assert diff(spec(d), [t], NOW).actions == []
    t2 = tok("a", group="auto", auto_groups=None, cross_group_retry=False)
    (action,) = diff(spec(d), [t2], NOW).actions
    assert action.written() == {"auto_groups": ["vip", "default"], "cross_group_retry": True}
    # an inherited list (null or []) matches an omitted auto_groups
    d2 = want("a", group="auto")
    assert diff(spec(d2), [tok("a", group="auto", auto_groups=[])], NOW).actions == []


def test_conflict_blocks_and_is_not_overridable() -> None:
    plan = diff(spec(want("a")), [tok("a", id=5), tok("a", id=6)], NOW)
    assert plan.actions == [] and plan.conflicts[0].ids == (5, 6)
    (violation,) = check(plan, Safety())
    assert violation.rule == "conflict" and not violation.overridable


def test_a_shrunk_count_makes_its_copies_owned_orphans() -> None:
    three = [
        want(n, base_name="w", count=3, index=i, counted=True)
        for i, n in enumerate(["w", "w-2", "w-3"], 1)
    ]
    assert [a.name for a in diff(spec(*three), [], NOW).actions] == ["w", "w-2", "w-3"]
    one = spec(want("w", counted=True))  # count: 1, written
    existing = [tok("w"), tok("w-2"), tok("w-3")]
    kept = diff(one, existing, NOW)
    assert kept.actions == [] and kept.owned == 3 and kept.unmanaged == 0
    assert [(n.kind, n.name) for n in kept.notices] == [("orphan", "w-2"), ("orphan", "w-3")]
    assert "copy of w beyond its count" in kept.notices[0].message
    deleted = diff(replace(one, manage=Manage(orphans="delete")), existing, NOW)
    assert kinds(deleted) == [("delete", "w-3"), ("delete", "w-2")]  # highest first
    assert not any(a.cleanup for a in deleted.actions)  # safety limits count them


def test_look_alike_names_are_never_owned() -> None:
    declared = spec(
        want("llama-3", count=2, counted=True, base_name="llama-3"),
        want("llama-3-2", count=2, index=2, counted=True, base_name="llama-3"),
        want("partner"),
        want("qa", counted=True),
        manage=Manage(orphans="delete"),
    )
    hand_made = [tok("llama-3-70"), tok("partner-2"), tok("qa-2025"), tok("qa.old-x")]
    present = [tok("llama-3"), tok("llama-3-2"), tok("partner"), tok("qa")]
    plan = diff(declared, [*present, *hand_made], NOW)
    assert kinds(plan) == []
    assert plan.unmanaged == 4 and plan.owned == 4
    # partner-2 is what a copy of partner would be called: the plan says how to own it
    (hint,) = [n for n in plan.notices if n.kind == "look-alike"]
    assert hint.name == "partner-2" and "declares no count" in hint.message


def test_ownership_globs_unmanaged_and_orphan_policies() -> None:
    s = spec(want("a"), manage=Manage(match=("video-*",), orphans="disable"))
    inv = [tok("a"), tok("video-x"), tok("video-y", status=2), tok("other"), tok("a-2")]
    plan = diff(s, inv, NOW)
    # a-2 is not owned: only copies up to the count are (docs/reconcile.md#identity-and-ownership)
    assert kinds(plan) == [("disable", "video-x")]
    assert plan.unmanaged == 2
    assert plan.owned == 3


def test_rotation_due_and_predecessor_cleanup() -> None:
    d = want("a", rotate=RotatePolicy(every=90 * DAY, overlap=7 * DAY))
    young = tok("a", created_time=NOW - 10 * DAY)
    assert diff(spec(d), [young], NOW).actions == []
    old = tok("a", created_time=NOW - 91 * DAY)
    (rot,) = diff(spec(d), [old], NOW).actions
    assert rot.kind == "rotate" and rot.rotation_expiry == NOW + 7 * DAY
    assert rot.rotation_name == rotation_name("a", NOW) and rot.rotation_name.startswith("a.old-")
    # a live predecessor is reported; an expired one is deleted
    live = tok(rotation_name("a", NOW - DAY), expired_time=NOW + DAY)
    dead = tok("a.old-20251001", expired_time=NOW - DAY)
    plan = diff(spec(d), [young, live, dead], NOW)
    assert kinds(plan) == [("delete", "a.old-20251001")]
    assert plan.actions[0].cleanup
    assert [n.kind for n in plan.notices] == ["predecessor"]


def test_forced_rotation() -> None:
    plan = diff(spec(want("a")), [tok("a")], NOW, rotate_now=["a"], rotate_overlap=3600)
    (rot,) = plan.actions
    assert rot.kind == "rotate" and rot.reason == "requested" and rot.rotation_expiry == NOW + 3600


def test_rotation_name_is_unique_per_day() -> None:
    first = rotation_name("a", NOW)
    assert rotation_name("a", NOW, [first]) == first + "-2"


@pytest.mark.parametrize(
    ("safety", "rule"),
    [
        (Safety(max_deletes=1), "safety.max_deletes"),
        (Safety(max_disables=0), "safety.max_disables"),
        (Safety(min_idle=3600), "safety.min_idle"),
    ],
)
def test_safety_rules(safety: Safety, rule: str) -> None:
    s = spec(
        want("a", status="absent"),
        want("b", status="absent"),
        want("c", status="disabled"),
    )
    inv = [tok("a", accessed_time=NOW - 60), tok("b"), tok("c")]
    violations = check(diff(s, inv, NOW), safety)
    assert [v.rule for v in violations] == [rule]
    assert "--force" in str(violations[0])


def test_min_idle_ignores_never_used_tokens() -> None:
    s = spec(want("a", status="absent"))
    t = tok("a", created_time=NOW - 60, accessed_time=NOW - 60)  # never used
    assert check(diff(s, [t], NOW), Safety(min_idle=3600)) == []


def test_max_changes_pct_has_a_floor() -> None:
    names = [f"t{i}" for i in range(10)]
    s = spec(*[want(n, status="disabled" if i < 4 else "enabled") for i, n in enumerate(names)])
    inv = [tok(n) for n in names]
    (v,) = check(diff(s, inv, NOW), Safety(max_changes_pct=30))
    assert v.rule == "safety.max_changes_pct" and "4 of 10" in v.message
    small = spec(want("x", status="disabled"))
    assert check(diff(small, [tok("x")], NOW), Safety(max_changes_pct=30)) == []


def test_protected_refuses_disable_delete_rotate() -> None:
    s = spec(want("a", status="absent", protected=True))
    (v,) = check(diff(s, [tok("a")], NOW), Safety())
    assert v.rule == "protected" and "'a'" in v.message


def test_fingerprint_ignores_traffic_but_not_edits() -> None:
    t = tok("a", id=1, unlimited_quota=False, used_quota=10, remain_quota=90, accessed_time=NOW)
    moved = t.model_copy(update={"used_quota": 50, "remain_quota": 50, "accessed_time": NOW + 9})
    assert fingerprint(t) == fingerprint(moved)
    edited = t.model_copy(update={"expired_time": NOW + DAY})
    assert fingerprint(t) != fingerprint(edited)


def test_apply_then_plan_is_empty_roundtrip() -> None:
    """Simulate apply by turning each create body into a server token; re-plan is empty."""
    d = [
        want("a", quota=Budget(False, usd=Decimal("20")), expires=Expiry("relative", seconds=DAY)),
        want("b", group="auto", auto_groups=("vip",), cross_group_retry=True, models=("m",)),
        want("c", allow_ips=("10.0.0.0/8",), expires=Expiry("absolute", at=NOW + DAY)),
    ]
    plan = diff(spec(*d), [], NOW)
    created = [
        ObservedToken(id=i, created_time=NOW + 3, accessed_time=NOW + 3, **a.written())
        for i, a in enumerate(plan.actions, 1)
    ]
    for later in (NOW + 5, NOW + 3600):
        assert diff(spec(*d), created, later).actions == []


def test_forced_rotation_without_policy_uses_default_overlap() -> None:
    from provisioner.plan.diff import DEFAULT_ROTATE_OVERLAP

    (rot,) = diff(spec(want("a")), [tok("a")], NOW, rotate_now=["a"]).actions
    assert rot.rotation_expiry == NOW + DEFAULT_ROTATE_OVERLAP


@pytest.mark.parametrize(
    ("inventory", "expected", "notice"),
    [
        # the old name on the server, the new one not yet: rename in place
        ([tok("old", id=7)], [("rename", "new")], None),
        # done already: the new name exists; the old one (made again by hand?) is left alone
        ([tok("new", id=8), tok("old", id=9)], [], "renamed"),
        # neither: a create, like any declared token
        ([], [("create", "new")], None),
    ],
    ids=["rename", "already-renamed", "nothing-to-rename"],
)
def test_renamed_from(
    inventory: list[ObservedToken], expected: list[tuple[str, str]], notice: str | None
) -> None:
    declared = spec(want("new", renamed_from="old"), manage=Manage(orphans="delete"))
    plan = diff(declared, inventory, NOW)
    assert kinds(plan) == expected
    assert [n.kind for n in plan.notices if n.kind == "renamed"] == ([notice] if notice else [])
    if expected == [("rename", "new")]:
        (rename,) = plan.actions
        assert rename.token_id == 7 and rename.written()["name"] == "new"
        assert rename.changes[0] == FieldChange("name", "old", "new")


def test_renamed_from_two_old_tokens_is_a_conflict() -> None:
    plan = diff(spec(want("new", renamed_from="old")), [tok("old", id=3), tok("old", id=4)], NOW)
    assert plan.actions == [] and plan.conflicts[0].ids == (3, 4)
