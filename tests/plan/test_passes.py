"""Each pass of the diff on its own (plan/diff.py): ownership, declared, leftovers, sinks.

tests/plan/test_diff.py checks them together through ``diff()``; here each gets the
smallest input that makes it decide, as a table.
"""

from __future__ import annotations

import pytest

from provisioner.observed import ObservedToken, TokenStatus
from provisioner.plan.actions import (
    Create,
    Deliver,
    Disable,
    Enable,
    FieldUpdates,
    Rename,
    Rotate,
    Update,
)
from provisioner.plan.diff import (
    _Context,
    declared_pass,
    leftovers_pass,
    ownership_pass,
    pending_renames,
    sinks_pass,
    stale_renames_pass,
)
from provisioner.plan.model import Plan
from provisioner.plan.ownership import Ownership
from provisioner.spec.desired import Budget, DesiredToken, Manage, RotatePolicy, Spec
from tests.plan.test_diff import DAY, NOW, QPU, spec, tok, want

KEY = "abcd" + "k" * 40 + "wxyz"  # the server masks it: first and last 4 are what compare


def _pass_one(the_spec: Spec, inventory: list[ObservedToken]) -> tuple[Plan, dict[str, list]]:
    plan = Plan(now=NOW)
    present = {t.name for t in inventory}
    ownership = Ownership(the_spec, pending_renames(the_spec, present), present)
    return plan, ownership_pass(inventory, ownership, plan)


# -- 1. ownership ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("the_spec", "names", "owned", "unmanaged", "look_alikes"),
    [
        (spec(want("app")), ["app", "other"], ["app"], 1, []),
        (spec(want("app"), manage=Manage(match=("ci-*",))), ["ci-1", "x"], ["ci-1"], 1, []),
        (spec(want("app")), ["app-2"], [], 1, ["app-2"]),  # a copy of a token with no count
        (spec(want("app", count=2, counted=True)), ["app-3"], ["app-3"], 0, []),
        (spec(want("app")), ["provisioner.lock.0000beef"], [], 1, []),  # never owned
    ],
)  # fmt: skip
def test_ownership_pass(
    the_spec: Spec, names: list[str], owned: list[str], unmanaged: int, look_alikes: list[str]
) -> None:
    plan, by_name = _pass_one(the_spec, [tok(n) for n in names])
    assert sorted(by_name) == owned
    assert (plan.owned, plan.unmanaged) == (len(owned), unmanaged)
    assert [n.name for n in plan.notices if n.kind == "look-alike"] == look_alikes


# -- 2. declared -----------------------------------------------------------------------


def _declared(the_spec: Spec, inventory: list[ObservedToken], **context: object) -> Plan:
    plan, by_name = _pass_one(the_spec, inventory)
    present = frozenset(t.name for t in inventory)
    renames = pending_renames(the_spec, present)
    ctx = _Context(NOW, QPU, present, **context)  # type: ignore[arg-type]
    plan.matched = declared_pass(the_spec, by_name, renames, ctx, plan)  # type: ignore[attr-defined]
    return plan


@pytest.mark.parametrize(
    ("desired", "observed", "classes", "matched"),
    [
        (want("new"), [], [Create], []),
        (want("new", status="disabled"), [], [Create, Disable], []),
        (want("gone", status="absent"), [], [], []),
        (want("app"), [tok("app", status=TokenStatus.DISABLED)], [Enable], ["app"]),
        (want("app", renamed_from="old"), [tok("old")], [Rename], ["old"]),
        (want("app", rotate=RotatePolicy(every=DAY)), [tok("app")], [Rotate], ["app"]),
        (want("app", quota=Budget(False, units=1000)), [tok("app")], [Update], ["app"]),
    ],
)  # fmt: skip
def test_declared_pass(
    desired: DesiredToken, observed: list[ObservedToken], classes: list[type], matched: list[str]
) -> None:
    plan = _declared(spec(desired), observed)
    assert [type(a) for a in plan.actions] == classes
    assert [token.name for _, token in plan.matched] == matched  # type: ignore[attr-defined]


def test_declared_pass_names_a_conflict_and_matches_nothing() -> None:
    plan = _declared(spec(want("dup")), [tok("dup", id=5), tok("dup", id=6)])
    assert [(c.name, c.ids) for c in plan.conflicts] == [("dup", (5, 6))]
    assert plan.actions == [] and plan.matched == []  # type: ignore[attr-defined]


def test_declared_pass_carries_typed_updates() -> None:
    plan = _declared(spec(want("app", group="vip", models=("o3",))), [tok("app")])
    (update,) = plan.actions
    assert update.set == FieldUpdates(group="vip", models=("o3",))  # type: ignore[attr-defined]


def test_declared_pass_rotates_on_request_and_says_so() -> None:
    plan = _declared(spec(want("app")), [tok("app")], rotate_now=frozenset({"app"}))
    (rotation,) = plan.actions
    assert isinstance(rotation, Rotate) and rotation.reason == "requested"
    assert not rotation.scheduled and rotation.settings.name == "app"


# -- renamed_from whose new name exists --------------------------------------------------


def test_stale_renames_pass() -> None:
    the_spec = spec(want("new", renamed_from="old"))
    plan = Plan(now=NOW)
    stale_renames_pass(the_spec, {}, ["new", "old"], plan)
    assert [(n.kind, n.name) for n in plan.notices] == [("renamed", "new")]
    quiet = Plan(now=NOW)
    stale_renames_pass(the_spec, {}, ["new"], quiet)  # the old one is gone: nothing to say
    assert quiet.notices == []


# -- 3. leftovers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("orphans", "observed", "kinds", "notices"),
    [
        ("keep", tok("ci-x"), [], ["orphan"]),
        ("disable", tok("ci-x"), ["disable"], []),
        ("disable", tok("ci-x", status=TokenStatus.DISABLED), [], ["orphan"]),
        ("delete", tok("ci-x"), ["delete"], []),
        ("keep", tok("ci-a.leaked-20260101", status=TokenStatus.DISABLED), [], ["revoked"]),
        ("keep", tok("ci-a.leaked-20260101"), ["disable"], []),
        ("keep", tok("ci-a.new-20260101", status=TokenStatus.DISABLED), ["delete"], []),
        ("keep", tok("ci-a.old-20260101", expired_time=NOW - 1), ["delete"], []),
    ],
)  # fmt: skip
def test_leftovers_pass(
    orphans: str, observed: ObservedToken, kinds: list[str], notices: list[str]
) -> None:
    the_spec = spec(want("ci-a"), manage=Manage(match=("ci-*",), orphans=orphans))  # type: ignore[arg-type]
    plan, by_name = _pass_one(the_spec, [observed])
    ownership = Ownership(the_spec, {}, [observed.name])
    leftovers_pass(the_spec, ownership, by_name, NOW, plan)
    assert [a.kind for a in plan.actions] == kinds
    assert [n.kind for n in plan.notices] == notices


# -- 4. sinks ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("held", "delivered"),
    [
        ({"APP": None}, True),  # the sink lacks it
        ({"APP": ("zzzz", "wxyz")}, True),  # another key
        ({"APP": ("abcd", "wxyz")}, False),  # this very key
        ({}, False),  # the sink does not know the name: not ours to fill
    ],
)
def test_sinks_pass(held: dict[str, tuple[str, str] | None], delivered: bool) -> None:
    desired, observed = want("app"), tok("app", key=KEY)
    plan = Plan(now=NOW)
    sinks_pass([(desired, observed)], held, plan)
    assert [type(a) for a in plan.actions] == ([Deliver] if delivered else [])


def test_sinks_pass_leaves_a_token_that_gets_a_new_key_or_stops() -> None:
    desired, observed = want("app"), tok("app", key=KEY)
    rotating = _declared(spec(desired), [observed], rotate_now=frozenset({"app"}))
    stopping = Plan(now=NOW, actions=[Disable(name="app", token_id=observed.id)])
    for plan in (rotating, stopping):
        before = list(plan.actions)
        sinks_pass([(desired, observed)], {"APP": None}, plan)
        assert plan.actions == before and before
