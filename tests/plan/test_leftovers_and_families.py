"""Table tests of ownership runs, leftovers' desired state, rotation of dead tokens and
expiries at the epoch (docs/reconcile.md#counted-families, #leftovers, #rotation). Pure."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from provisioner.observed import ObservedToken, TokenStatus
from provisioner.plan.diff import diff
from provisioner.plan.model import Plan
from provisioner.plan.ownership import (
    Ownership,
    old_expiry_bound,
    pending_name,
    pending_of,
    rotated_on,
    rotation_name,
)
from provisioner.plan.safety import check
from provisioner.spec.desired import (
    Expiry,
    Manage,
    RotatePolicy,
    Safety,
    Spec,
    server_instant,
)
from tests.plan.test_diff import DAY, NOW, kinds, spec, tok, want

DAY_START = NOW - NOW % DAY  # UTC midnight of NOW's day


def counted(base: str, count: int) -> list:
    names = [base] + [f"{base}-{i}" for i in range(2, count + 1)]
    return [
        want(n, base_name=base, count=count, index=i, counted=True) for i, n in enumerate(names, 1)
    ]


# -- counted families ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("declared", "present", "owned_copies", "unmanaged"),
    [
        pytest.param(counted("w", 1), ["w-2", "w-3"], ["w-2", "w-3"], [], id="count 1 written"),
        pytest.param(counted("w", 2), ["w-2", "w-3", "w-4"], ["w-3", "w-4"], [], id="above 2"),
        pytest.param(counted("w", 1), ["w-3", "w-4"], [], ["w-3", "w-4"], id="no w-2: no run"),
        pytest.param(counted("w", 2), ["w-2", "w-70"], [], ["w-70"], id="w-70 far off"),
        pytest.param(counted("w", 3), ["w-4"], ["w-4"], [], id="declared copies fill the run"),
        pytest.param([want("w")], ["w-2", "w-3"], [], ["w-2", "w-3"], id="no count written"),
        pytest.param(counted("llama-3", 1), ["llama-3-70"], [], ["llama-3-70"], id="llama-3-70"),
        pytest.param(counted("qa", 1), ["qa-2025", "qa-x2"], [], ["qa-2025", "qa-x2"], id="qa"),
        pytest.param(counted("w", 1), ["w-02"], [], ["w-02"], id="w-02 is not w-2"),
    ],
)
def test_a_counted_token_owns_an_unbroken_run_of_copies(
    declared: list, present: list[str], owned_copies: list[str], unmanaged: list[str]
) -> None:
    s = spec(*declared)
    ownership = Ownership(s, present=[t.name for t in declared] + present)
    assert sorted(n for n in present if ownership.copy_of(n)) == owned_copies
    assert sorted(n for n in present if not ownership.owns(n)) == unmanaged


def test_a_shrink_plans_the_highest_copy_first_across_ten() -> None:
    existing = [tok(n.name) for n in counted("w", 12)]
    plan = diff(spec(*counted("w", 1), manage=Manage(orphans="delete")), existing, NOW)
    assert [a.name for a in plan.ordered()] == [f"w-{i}" for i in range(12, 1, -1)]
    assert all(a.key_name == f"W_{a.name[2:]}" for a in plan.actions)  # their keys leave too
    (violation,) = check(plan, Safety())  # 11 deletes of 12 owned: the default limit holds
    assert violation.rule == "safety.max_deletes (default)"


# -- leftovers --------------------------------------------------------------------------

TODAY = datetime.fromtimestamp(NOW, UTC).strftime("%Y%m%d")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (f"a.old-{TODAY}", DAY_START),
        (f"a.old-{TODAY}-2", DAY_START),
        ("a.old-20261399", None),  # not a date
        ("a.older-20260101", None),
        ("a", None),
    ],
)
def test_rotated_on_reads_the_names_day(name: str, expected: int | None) -> None:
    assert rotated_on(name) == expected


def test_pending_names_are_unique_and_read_back() -> None:
    first = pending_name("a", NOW)
    assert first == f"a.new-{TODAY}" and pending_of(first) == "a"
    assert pending_name("a", NOW, {first}) == f"a.new-{TODAY}-2"
    assert pending_of("a.new-x") is None


LEAKED = f"a.leaked-{TODAY}"
OLD = rotation_name("a", NOW)
ROTATING = want("a", rotate=RotatePolicy(every=90 * DAY, overlap=7 * DAY))
BOUND = DAY_START + DAY + 7 * DAY


@pytest.mark.parametrize(
    ("leftover", "desired", "expected", "bound"),
    [
        pytest.param(tok(LEAKED, status=2), want("a"), [], None, id="leaked, disabled"),
        pytest.param(tok(LEAKED, status=1), want("a"), [("disable", LEAKED)], None, id="leaked on"),
        pytest.param(tok(LEAKED, status=3), want("a"), [], None, id="leaked, expired"),
        pytest.param(
            tok(OLD, expired_time=NOW + 3600), ROTATING, [], None, id="old, in its overlap"
        ),
        pytest.param(tok(OLD, expired_time=BOUND), ROTATING, [], None, id="old, at the bound"),
        pytest.param(
            tok(OLD, expired_time=-1), ROTATING, [("update", OLD)], BOUND, id="old set to never"
        ),
        pytest.param(
            tok(OLD, expired_time=BOUND + 1), ROTATING, [("update", OLD)], BOUND, id="extended"
        ),
        pytest.param(
            tok(OLD, expired_time=-1),
            want("a"),  # no rotate.overlap: the longest rotate --overlap, 7 days
            [("update", OLD)],
            DAY_START + 8 * DAY,
            id="no rotate policy",
        ),
        pytest.param(
            tok("a.old-20200101", expired_time=-1),
            ROTATING,
            [("delete", "a.old-20200101")],
            None,
            id="overlap long over",
        ),
        pytest.param(
            tok(pending_name("a", NOW), status=2),
            want("a"),
            [("delete", pending_name("a", NOW))],
            None,
            id="unfinished rotation",
        ),
    ],
)
def test_a_leftover_keeps_its_desired_state(
    leftover: ObservedToken, desired, expected: list[tuple[str, str]], bound: int | None
) -> None:
    plan = diff(spec(desired, manage=Manage(orphans="keep")), [tok("a"), leftover], NOW)
    assert kinds(plan) == expected
    assert all(a.cleanup for a in plan.actions)  # not counted by safety limits
    if bound is not None:
        assert plan.actions[0].written() == {"expired_time": bound}
    # a leftover is never owned when its live name is not
    unowned = diff(spec(want("b")), [tok("b"), leftover], NOW)
    assert unowned.actions == [] and unowned.unmanaged == 1


def test_leftover_cleanups_pass_the_strictest_safety() -> None:
    strict = Safety(max_deletes=0, max_disables=0, max_changes_pct=0, min_idle=10 * DAY)
    used = NOW - 60
    leftovers = [
        tok(LEAKED, status=1, accessed_time=used),
        tok(OLD, expired_time=-1, accessed_time=used),
        tok(pending_name("a", NOW), status=2, accessed_time=used),
    ]
    plan = diff(spec(ROTATING), [tok("a"), *leftovers], NOW)
    assert len(plan.actions) == 3 and check(plan, strict) == []


def test_an_enabled_unfinished_rotation_is_deleted_under_the_safety_rules() -> None:
    # interrupted around its delivery: its key may be in use, so min_idle holds it back
    pending = tok(pending_name("a", NOW), accessed_time=NOW - 60)
    plan = diff(spec(ROTATING), [tok("a"), pending], NOW)
    (delete,) = plan.actions
    assert (delete.kind, delete.cleanup) == ("delete", False)
    (violation,) = check(plan, Safety(min_idle=3600))
    assert violation.rule == "safety.min_idle"


def test_old_expiry_bound_is_a_fixed_instant() -> None:
    assert old_expiry_bound(OLD, 3600) == DAY_START + DAY + 3600
    later = diff(spec(ROTATING), [tok("a"), tok(OLD, expired_time=-1)], NOW + 3 * DAY)
    assert later.actions[0].written() == {"expired_time": BOUND}  # does not move with time


# -- rotation of dead tokens --------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "old_expiry", "dead"),
    [
        pytest.param({}, NOW + 7 * DAY, "", id="live: now + overlap"),
        pytest.param({"expired_time": NOW + 3600}, NOW + 3600, "", id="expires before"),
        pytest.param({"expired_time": NOW - 10 * DAY}, NOW - 10 * DAY, "expired", id="lazily"),
        pytest.param(
            {"expired_time": NOW - DAY, "status": TokenStatus.EXPIRED},
            NOW - DAY,
            "expired",
            id="marked expired",
        ),
        pytest.param(
            {"unlimited_quota": False, "remain_quota": 0, "used_quota": 50},
            NOW + 7 * DAY,
            "exhausted",
            id="exhausted",
        ),
    ],
)
def test_rotation_never_moves_an_expiry_later(fields: dict, old_expiry: int, dead: str) -> None:
    old = tok("a", created_time=NOW - 91 * DAY, **fields)
    (rotate,) = diff(spec(ROTATING), [old], NOW).actions
    assert rotate.kind == "rotate" and rotate.rotation_expiry == old_expiry
    assert (f"the old token is {dead}: replaced, not revived" in rotate.reason) == bool(dead)


# -- expiries at the epoch ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expiry", "created", "sent"),
    [
        (Expiry("absolute", at=0), NOW, 1),  # 1970-01-01
        (Expiry("absolute", at=-1), NOW, 1),  # 1969-12-31T23:59:59Z: -1 would be never
        (Expiry("absolute", at=-62135596800), NOW, 1),  # 0001-01-01
        (Expiry("absolute", at=1), NOW, 1),
        (Expiry("relative", seconds=DAY), 0, DAY),  # a record without created_time
        (Expiry("relative", seconds=DAY), -DAY, 1),
        (Expiry.never(), NOW, -1),
    ],
)
def test_no_expiry_at_or_before_the_epoch_is_sent_as_never(
    expiry: Expiry, created: int, sent: int
) -> None:
    assert expiry.expired_time(created) == sent
    plan = diff(spec(want("a", expires=expiry)), [], NOW)
    if created == NOW:
        assert plan.actions[0].written()["expired_time"] == sent


def test_the_epoch_is_stable_after_apply() -> None:
    desired = want("a", expires=Expiry("absolute", at=0))
    plan: Plan = diff(spec(desired), [tok("a", expired_time=1)], NOW)
    assert plan.actions == []  # expired by the file: shown, not fought
    assert [n.kind for n in plan.notices] == ["expired-by-file"]
    assert server_instant(0) == server_instant(-5) == 1 and server_instant(7) == 7


def test_spec_defaults_are_not_mutated() -> None:
    assert Spec(path="", digest="").tokens == ()
