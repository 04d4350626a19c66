"""Table tests of the reviewed-plan fingerprint (docs/ci.md#apply-only-what-was-reviewed).

A plan made when the pull request was reviewed and the plan made at apply, hours or
days later, have the same fingerprint exactly when they would write the same things:
time alone (relative expiries, a rotation's dated name, a token's last use, traffic)
never makes them differ; the file or the server changing does.
"""

from __future__ import annotations

from provisioner.observed import ObservedToken
from provisioner.plan.diff import diff
from provisioner.plan.review import (
    ReviewEntry,
    review_differences,
    review_entries,
    review_fingerprint,
)
from provisioner.spec import load_spec_text
from provisioner.spec.desired import Spec

DAY = 86400
REVIEWED = 1_800_000_000  # when the pull request's plan ran
APPLIED = REVIEWED + 2 * DAY + 3_671  # when the merge's apply runs
QPU = 500_000


def spec(body: str) -> Spec:
    return load_spec_text("version: 1\n" + body, "tokens.yaml", now=REVIEWED)


def token(token_id: int, name: str, **fields: object) -> ObservedToken:
    values: dict[str, object] = {
        "id": token_id,
        "name": name,
        "key": "abcd" + "x" * 40 + "wxyz",
        "created_time": REVIEWED - 100 * DAY,
        "accessed_time": REVIEWED - DAY,
        "expired_time": -1,
        "unlimited_quota": True,
        "remain_quota": 0,
    }
    values.update(fields)
    return ObservedToken(**values)  # type: ignore[arg-type]


def entries(the_spec: Spec, inventory: list[ObservedToken], now: int) -> list[ReviewEntry]:
    return review_entries(diff(the_spec, inventory, now, quota_per_unit=QPU), the_spec)


def fingerprint(the_spec: Spec, inventory: list[ObservedToken], now: int) -> str:
    return review_fingerprint(entries(the_spec, inventory, now))


SPEC_TEXT = """
keys:
  to: dotenv:keys.env
tokens:
  - name: relative
    expires: 30d
    quota: 5 USD
  - name: dated
    expires: "2030-01-01"
  - name: forever
  - name: rotated
    rotate: {every: 30d, overlap: 1d}
  - name: budgeted
    quota: 20 USD
"""
SPEC = spec(SPEC_TEXT)
INVENTORY = [
    token(7, "rotated"),
    token(8, "budgeted", unlimited_quota=False, remain_quota=1_000_000, used_quota=500_000),
]


def test_time_alone_never_changes_the_fingerprint() -> None:
    reviewed = entries(SPEC, INVENTORY, REVIEWED)
    applied = entries(SPEC, INVENTORY, APPLIED)
    # the plans differ in their instants: a create's relative expiry, the rotation's
    # dated name and old-token expiry
    plan_then = diff(SPEC, INVENTORY, REVIEWED, quota_per_unit=QPU)
    plan_now = diff(SPEC, INVENTORY, APPLIED, quota_per_unit=QPU)
    assert [a.to_json() for a in plan_then.ordered()] != [a.to_json() for a in plan_now.ordered()]
    assert [(e.kind, e.name) for e in reviewed] == [
        ("rotate", "rotated"),
        ("create", "dated"),
        ("create", "forever"),
        ("create", "relative"),
        ("update", "budgeted"),
    ]
    assert reviewed == applied
    assert review_fingerprint(reviewed) == review_fingerprint(applied)


def test_traffic_and_use_never_change_the_fingerprint() -> None:
    used = [
        INVENTORY[0],
        INVENTORY[1].model_copy(
            update={"remain_quota": 600_000, "used_quota": 900_000, "accessed_time": APPLIED - 5}
        ),
    ]
    assert fingerprint(SPEC, used, APPLIED) == fingerprint(SPEC, INVENTORY, REVIEWED)


def test_without_the_spec_a_relative_expiry_would_move() -> None:
    """Why review_entries takes the spec: the instant now + 30d is not the file's 30d."""
    then = review_entries(diff(SPEC, INVENTORY, REVIEWED, quota_per_unit=QPU))
    later = review_entries(diff(SPEC, INVENTORY, APPLIED, quota_per_unit=QPU))
    assert review_fingerprint(then) != review_fingerprint(later)


def test_what_changes_the_fingerprint_and_how_it_is_told() -> None:
    base = fingerprint(SPEC, INVENTORY, REVIEWED)
    cases = {
        "a longer relative expiry in the file": (
            spec(SPEC_TEXT.replace("expires: 30d", "expires: 90d")),
            INVENTORY,
            ["~ create relative: writes other values than the reviewed plan"],
        ),
        "another budget in the file": (
            spec(SPEC_TEXT.replace("quota: 20 USD", "quota: 25 USD")),
            INVENTORY,
            ["~ update budgeted (id 8): writes other values than the reviewed plan"],
        ),
        "a token more in the file": (
            spec(SPEC_TEXT + "  - name: extra\n"),
            INVENTORY,
            ["+ create extra: not in the reviewed plan"],
        ),
        "a token made by hand with a declared name": (
            SPEC,
            [*INVENTORY, token(9, "forever")],
            ["- create forever: in the reviewed plan, no longer planned"],
        ),
        "a token changed in the web UI": (
            SPEC,
            [INVENTORY[0], INVENTORY[1].model_copy(update={"group": "vip"})],
            ["~ update budgeted (id 8): the token changed on the server since the review"],
        ),
        "a token deleted and made again (a new id)": (
            SPEC,
            [INVENTORY[0], INVENTORY[1].model_copy(update={"id": 10})],
            [
                "+ update budgeted (id 10): not in the reviewed plan",
                "- update budgeted (id 8): in the reviewed plan, no longer planned",
            ],
        ),
    }
    reviewed = entries(SPEC, INVENTORY, REVIEWED)
    for what, (the_spec, inventory, told) in cases.items():
        now = entries(the_spec, inventory, APPLIED)
        assert review_fingerprint(now) != base, what
        assert review_differences(reviewed, now) == told, what


def test_review_entries_read_back_from_json() -> None:
    for entry in entries(SPEC, INVENTORY, REVIEWED):
        assert ReviewEntry.from_json(entry.to_json()) == entry
