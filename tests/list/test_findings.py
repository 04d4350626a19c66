"""The pure core of ``list``: rows, findings, sorting, filters, --fail-on parsing."""

from __future__ import annotations

import pytest

from provisioner.listing.findings import (
    FINDING_KINDS,
    Thresholds,
    build_listing,
    check_sort,
    check_statuses,
    make_row,
    parse_fail_on,
    status_name,
)
from provisioner.observed import ObservedToken
from provisioner.spec import load_spec_text

NOW = 1_800_000_000
DAY = 86400


def tok(id: int, name: str, **fields: object) -> ObservedToken:
    base: dict[str, object] = {
        "id": id,
        "name": name,
        "created_time": NOW - 10 * DAY,
        "accessed_time": NOW - DAY,
        "remain_quota": 1000,
    }
    base.update(fields)
    return ObservedToken(**base)


def kinds(tokens: list[ObservedToken], **kwargs: object) -> set[tuple[str, str]]:
    listing = build_listing(tokens, NOW, **kwargs)  # type: ignore[arg-type]
    return {(f.kind, f.name) for f in listing.findings}


@pytest.mark.parametrize(
    ("status", "fields", "expected"),
    [
        (1, {}, "enabled"),
        (2, {}, "disabled"),
        (3, {}, "expired"),
        (4, {}, "exhausted"),
        (5, {}, "status 5"),
        (1, {"expired_time": NOW - 1}, "expired"),
        (1, {"remain_quota": 0}, "exhausted"),
        (1, {"remain_quota": -5, "unlimited_quota": True}, "enabled"),
        (2, {"expired_time": NOW - 1}, "disabled"),
    ],
)
def test_effective_status(status: int, fields: dict, expected: str) -> None:
    assert make_row(tok(1, "a", status=status, **fields), NOW).status == expected


def test_status_names() -> None:
    assert status_name(1) == "enabled" and status_name(7) == "status 7"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, set()),
        ({"accessed_time": NOW - 10 * DAY}, {"never-used"}),  # accessed == created: never used
        ({"accessed_time": NOW - 31 * DAY, "created_time": NOW - 40 * DAY}, {"stale"}),
        ({"expired_time": NOW + 2 * DAY}, {"expiring"}),
        ({"expired_time": NOW + 8 * DAY}, set()),
        ({"expired_time": NOW - 1}, {"dead-but-enabled"}),
        ({"expired_time": NOW - 1, "status": 3}, set()),  # the server already knows
        ({"remain_quota": 0, "used_quota": 10}, {"dead-but-enabled", "budget"}),
        ({"remain_quota": 0, "used_quota": 0}, {"dead-but-enabled"}),  # 0 budget: no %
        ({"remain_quota": 50, "used_quota": 950}, {"budget"}),
        ({"remain_quota": 100, "used_quota": 900}, set()),  # exactly 90%: not above
        ({"unlimited_quota": True}, {"unlimited-no-expiry"}),
        ({"unlimited_quota": True, "expired_time": NOW + 30 * DAY}, set()),
        ({"unlimited_quota": True, "status": 2}, set()),  # disabled: no risk
        ({"status": 2, "expired_time": NOW + DAY}, set()),  # disabled: expiry irrelevant
    ],
)
def test_single_token_findings(fields: dict, expected: set[str]) -> None:
    assert {k for k, _ in kinds([tok(1, "a", **fields)])} == expected


def test_thresholds() -> None:
    token = tok(1, "a", accessed_time=NOW - 5 * DAY, expired_time=NOW + 20 * DAY, used_quota=600)
    assert kinds([token]) == set()
    tight = Thresholds(stale_after=4 * DAY, expiring_within=21 * DAY, budget_above=30)
    assert {k for k, _ in kinds([token], thresholds=tight)} == {"stale", "expiring", "budget"}


def test_duplicates_count_the_whole_account_even_when_filtered() -> None:
    tokens = [tok(1, "a"), tok(2, "a"), tok(3, "b")]
    listing = build_listing(tokens, NOW, statuses=(), globs=())
    dups = [f for f in listing.findings if f.kind == "duplicate-name"]
    assert [(f.id, f.reason) for f in dups] == [
        (1, "2 tokens are named 'a' (ids 1, 2)"),
        (2, "2 tokens are named 'a' (ids 1, 2)"),
    ]
    one = build_listing([tok(1, "a"), tok(2, "a", status=2)], NOW, statuses=("disabled",))
    assert [(f.kind, f.id) for f in one.findings] == [("duplicate-name", 2)]


SPEC = """version: 1
manage:
  match: ["video-*"]
tokens:
  - name: api
    count: 2
  - name: old
    status: disabled
  - name: gone
    status: absent
"""


def test_spec_ownership_and_undeclared() -> None:
    spec = load_spec_text(SPEC, "tokens.yaml", now=NOW)
    tokens = [
        tok(1, "api"),
        tok(2, "api-2", expired_time=NOW - DAY, status=3),
        tok(3, "api-3"),
        tok(4, "video-x"),
        tok(5, "api.old-20270101"),
        tok(6, "hand-made"),
        tok(7, "old", remain_quota=0, status=4),
    ]
    listing = build_listing(tokens, NOW, spec=spec)
    owner = {r.name: r.ownership for r in listing.rows}
    assert owner == {
        "api": "managed",
        "api-2": "managed",
        "api-3": "orphan",  # a copy beyond count 2, in the unbroken run: owned, undeclared
        "video-x": "orphan",
        "api.old-20270101": "predecessor",  # plan's word for a rotation leftover
        "hand-made": "unmanaged",
        "old": "managed",
    }
    found = {(f.kind, f.name) for f in listing.findings}
    undeclared = {n for k, n in found if k == "undeclared"}
    # a rotation's .old- token is expected, not undeclared
    assert undeclared == {"api-3", "video-x", "hand-made"}
    # api-2 is stored as expired (3) but the spec wants it enabled; old is declared disabled
    assert ("dead-but-enabled", "api-2") in found
    assert ("dead-but-enabled", "old") not in found
    reasons = {f.name: f.reason for f in listing.findings if f.kind == "undeclared"}
    assert "orphan" in reasons["video-x"] and "unmanaged" in reasons["hand-made"]


def test_no_spec_no_ownership_no_undeclared() -> None:
    listing = build_listing([tok(1, "x")], NOW)
    assert listing.rows[0].ownership is None and not listing.with_ownership
    assert not [f for f in listing.findings if f.kind == "undeclared"]


def test_rows_quota_views() -> None:
    limited = make_row(tok(1, "a", remain_quota=750, used_quota=250), NOW)
    assert (limited.budget_quota, limited.remain_quota, limited.used_pct) == (1000, 750, 25.0)
    unlimited = make_row(tok(2, "b", unlimited_quota=True, remain_quota=-99, used_quota=99), NOW)
    assert unlimited.budget_quota is None and unlimited.remain_quota is None
    assert unlimited.used_pct is None and unlimited.used_quota == 99
    assert make_row(tok(3, "c", key="abcdefghijklmnopqrstuvwxyz"), NOW).key == "sk-abcd...wxyz"


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("name", ["a", "b", "c"]),
        ("id", ["c", "a", "b"]),
        ("status", ["b", "c", "a"]),  # disabled, enabled, exhausted
        ("used", ["c", "b", "a"]),
        ("budget", ["a", "c", "b"]),  # unlimited last
        ("expiry", ["c", "a", "b"]),  # never last
        ("created", ["b", "a", "c"]),
        ("last-used", ["b", "c", "a"]),  # never used first
    ],
)
def test_sort(sort: str, expected: list[str]) -> None:
    tokens = [
        tok(
            2,
            "a",
            remain_quota=0,
            used_quota=30,
            expired_time=NOW + 5 * DAY,
            created_time=NOW - 5 * DAY,
            accessed_time=NOW - 1,
        ),
        tok(
            3,
            "b",
            unlimited_quota=True,
            used_quota=20,
            status=2,
            created_time=NOW - 9 * DAY,
            accessed_time=NOW - 9 * DAY,
        ),
        tok(
            1,
            "c",
            remain_quota=500,
            used_quota=10,
            expired_time=NOW + DAY,
            created_time=NOW - 2 * DAY,
            accessed_time=NOW - DAY,
        ),
    ]
    assert [r.name for r in build_listing(tokens, NOW, sort=sort).rows] == expected


def test_filters() -> None:
    tokens = [tok(1, "video-a"), tok(2, "video-b", status=2), tok(3, "chat", remain_quota=0)]
    names = lambda **kw: [r.name for r in build_listing(tokens, NOW, **kw).rows]  # noqa: E731
    assert names(globs=("video-*",)) == ["video-a", "video-b"]
    assert names(statuses=("disabled", "exhausted")) == ["chat", "video-b"]
    assert names(globs=("video-*",), statuses=("enabled",)) == ["video-a"]
    listing = build_listing(tokens, NOW, globs=("nothing*",))
    assert listing.rows == [] and listing.total == 3 and listing.findings == []


def test_parse_fail_on() -> None:
    assert parse_fail_on("stale") == ("stale",)
    assert parse_fail_on("never-used, stale,stale") == ("never-used", "stale")
    assert parse_fail_on("any") == FINDING_KINDS
    with pytest.raises(ValueError, match=r"unknown finding 'old'.*valid: any, dead-but-enabled"):
        parse_fail_on("stale,old")
    with pytest.raises(ValueError, match="at least one"):
        parse_fail_on(",")


def test_check_flags() -> None:
    assert check_statuses(["enabled", "expired,exhausted"]) == ("enabled", "expired", "exhausted")
    with pytest.raises(ValueError, match="valid: enabled, disabled, expired, exhausted"):
        check_statuses(["asleep"])
    assert check_sort("last-used") == "last-used"
    with pytest.raises(ValueError, match="valid: name, id"):
        check_sort("size")
