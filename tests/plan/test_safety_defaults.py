"""Safe by default (docs/reconcile.md#safety): the default limits and protection, as a table."""

from __future__ import annotations

import pytest

from provisioner.plan.model import Conflict, Plan
from provisioner.plan.safety import check
from provisioner.spec.desired import Safety, default_limit
from tests.action_builder import make_action


def _plan(owned: int, deletes: int = 0, disables: int = 0, cleanups: int = 0) -> Plan:
    actions = [make_action("delete", f"d{i}", token_id=100 + i) for i in range(deletes)]
    actions += [make_action("disable", f"x{i}", token_id=200 + i) for i in range(disables)]
    actions += [
        make_action("delete", f"c.old-20260101-{i}", token_id=300 + i, cleanup=True)
        for i in range(cleanups)
    ]
    return Plan(actions=actions, owned=owned, now=1_800_000_000)


@pytest.mark.parametrize(
    ("owned", "limit"),
    [(0, 5), (8, 5), (20, 5), (23, 5), (24, 6), (40, 10), (41, 10), (1000, 250)],
)
def test_default_limit_is_five_or_a_quarter(owned: int, limit: int) -> None:
    assert default_limit(owned) == limit


@pytest.mark.parametrize(
    ("owned", "deletes", "disables", "cleanups", "safety", "rules"),
    [
        (8, 5, 0, 0, Safety(), []),
        (8, 6, 0, 0, Safety(), ["safety.max_deletes (default)"]),
        (8, 0, 6, 0, Safety(), ["safety.max_disables (default)"]),
        (8, 6, 6, 0, Safety(), ["safety.max_deletes (default)", "safety.max_disables (default)"]),
        (40, 10, 10, 0, Safety(), []),
        (40, 11, 0, 0, Safety(), ["safety.max_deletes (default)"]),
        (8, 5, 0, 30, Safety(), []),  # expired rotation leftovers do not count
        (8, 6, 0, 0, Safety(max_deletes=6), []),  # an explicit value replaces the default
        (8, 2, 0, 0, Safety(max_deletes=1), ["safety.max_deletes"]),
        (8, 6, 6, 0, Safety(max_deletes=10), ["safety.max_disables (default)"]),
        (8, 0, 6, 0, Safety(max_disables=6, min_idle=0), []),
    ],
)
def test_limits(
    owned: int, deletes: int, disables: int, cleanups: int, safety: Safety, rules: list[str]
) -> None:
    violations = check(_plan(owned, deletes, disables, cleanups), safety)
    assert [v.rule for v in violations] == rules
    assert all(v.overridable for v in violations)


def test_a_default_refusal_names_the_rule_the_numbers_and_both_overrides() -> None:
    (violation,) = check(_plan(12, deletes=7), Safety())
    assert str(violation) == (
        "safety.max_deletes (default): the plan deletes 7 tokens; with no safety.max_deletes in "
        "the file the limit is max(5, 25% of 12 owned tokens) = 5 (override: set "
        "`safety: {max_deletes: 7}` in the file, or pass --force)"
    )


def _protected(kind: str, **fields: object) -> Plan:
    action = make_action(kind, "p", token_id=1, protected=True, **fields)  # type: ignore[arg-type]
    return Plan(actions=[action], owned=1)


@pytest.mark.parametrize(
    ("kind", "fields", "refused"),
    [
        ("rotate", {"scheduled": True, "reason": "rotate.every elapsed"}, False),
        ("rotate", {"reason": "requested"}, True),
        ("disable", {}, True),
        ("delete", {}, True),
        ("update", {}, False),
        ("enable", {}, False),
    ],
)
def test_protection_allows_only_the_scheduled_rotation(
    kind: str, fields: dict[str, object], refused: bool
) -> None:
    violations = check(_protected(kind, **fields), Safety())
    assert [v.rule for v in violations] == (["protected"] if refused else [])


def test_an_unscheduled_rotation_of_a_protected_token_says_so() -> None:
    (violation,) = check(_protected("rotate", reason="requested"), Safety())
    assert "outside its own rotate.every schedule" in violation.message


def test_a_conflict_names_the_ids_and_the_delete_command() -> None:
    plan = Plan(conflicts=[Conflict("dup", (4, 9))], owned=2)
    (violation,) = check(plan, Safety())
    assert not violation.overridable
    assert "(ids 4, 9)" in violation.message
    assert "`provisioner delete ID...`" in violation.message


def test_a_single_token_over_the_limit_is_one_token() -> None:
    violations = check(_plan(owned=8, deletes=1), Safety(max_deletes=0))
    assert [v.message for v in violations] == ["the plan deletes 1 token, more than the limit of 0"]
