"""What the probe learns per generation, and one-api's field names (pure, from tables).

The records below are shaped like the recorded servers' answers
(tests/conformance/recordings/).
"""

from __future__ import annotations

from typing import Any

import pytest

from provisioner.newapi.dialect import Evidence, from_wire, learn, to_wire

MASKED = "abcd**********wxyz"
FULL = "a" * 48
ONEAPI = {"id": 1, "key": FULL, "name": "t", "models": None, "subnet": ""}
NEWAPI_2025_10 = {
    "id": 1,
    "key": FULL,
    "name": "t",
    "group": "",
    "allow_ips": "",
    "DeletedAt": None,
}
NEWAPI_2026_07 = {**NEWAPI_2025_10, "key": MASKED, "cross_group_retry": False}
NEWAPI_2026_08 = {**NEWAPI_2026_07, "auto_groups": None}

CASES: list[tuple[str, Evidence, dict[str, Any]]] = [
    (
        "one-api",
        Evidence("array", [ONEAPI]),
        {
            "oneapi_fields": True,
            "group_field": False,
            "auto_groups": False,
            "cross_group_retry": False,
            "keys_masked": False,
            "reveal": False,
            "batch_delete": False,
            "name_max_bytes": 30,
            "token_cap": False,
            "auth": "access-token",
        },
    ),
    (
        "one-api, empty account",
        Evidence("array", [], groups_route=False),
        {"oneapi_fields": True, "group_field": False, "name_max_bytes": 30},
    ),
    (
        "new-api 2025-10",
        Evidence("page", [NEWAPI_2025_10], user_header_sent=True),
        {
            "oneapi_fields": False,
            "group_field": True,
            "cross_group_retry": False,
            "auto_groups": False,
            "keys_masked": False,
            "reveal": False,
            "name_max_bytes": 30,
            "token_cap": False,
            "auth": "unknown",
        },
    ),
    (
        "new-api 2026-07",
        Evidence("page", [NEWAPI_2026_07], user_header_sent=True, auth_version="864b"),
        {
            "cross_group_retry": True,
            "auto_groups": False,
            "keys_masked": True,
            "reveal": True,
            "name_max_bytes": 50,
            "token_cap": True,
            "fingerprint": "864b",
        },
    ),
    (
        "new-api 2026-08",
        Evidence("page", [NEWAPI_2026_08]),
        {"auto_groups": True, "cross_group_retry": True, "keys_masked": True, "auth": "bearer"},
    ),
    (
        "empty 2025-10: no Auth-Version header, no auto-groups route",
        Evidence("page", [], groups_route=True, auto_groups_route=False),
        {
            "keys_masked": None,
            "cross_group_retry": None,
            "auto_groups": False,
            "group_field": True,
            "name_max_bytes": None,
            "token_cap": None,
        },
    ),
    (
        "empty 2026-07: the Auth-Version header tells",
        Evidence("page", [], auth_version="864b", groups_route=True, auto_groups_route=False),
        {"cross_group_retry": True, "auto_groups": False, "name_max_bytes": 50},
    ),
    (
        "empty 2026-08",
        Evidence("page", [], auth_version="864b", groups_route=True, auto_groups_route=True),
        {"auto_groups": True, "keys_masked": None},
    ),
]


@pytest.mark.parametrize(("case", "evidence", "expected"), CASES, ids=[c[0] for c in CASES])
def test_learn(case: str, evidence: Evidence, expected: dict[str, Any]) -> None:
    learned = learn(evidence)
    assert {k: learned.get(k) for k in expected} == expected


def test_oneapi_records_read_in_canonical_names() -> None:
    record = {**ONEAPI, "models": "gpt-4o-mini,sora-2", "subnet": "10.0.0.0/8,203.0.113.7/32"}
    canonical = from_wire(record)
    assert "models" not in canonical and "subnet" not in canonical
    assert canonical["model_limits_enabled"] is True
    assert canonical["model_limits"] == "gpt-4o-mini,sora-2"
    assert canonical["allow_ips"] == "10.0.0.0/8\n203.0.113.7/32"
    assert from_wire({**ONEAPI, "models": None, "subnet": None})["model_limits_enabled"] is False
    assert from_wire(NEWAPI_2026_08) is NEWAPI_2026_08  # nothing to map


def test_oneapi_writes_in_its_own_names() -> None:
    body = {
        "id": 3,
        "name": "t",
        "model_limits_enabled": True,
        "model_limits": "gpt-4o-mini",
        "allow_ips": "203.0.113.7\n10.0.0.0/8\n2001:db8::1",
        "group": "",
        "cross_group_retry": False,
        "auto_groups": [],
    }
    wire = to_wire(body, oneapi=True)
    # one-api wants networks, comma-separated: a bare address is refused there.
    assert wire == {
        "id": 3,
        "name": "t",
        "models": "gpt-4o-mini",
        "subnet": "203.0.113.7/32,10.0.0.0/8,2001:db8::1/128",
    }
    assert to_wire({**body, "model_limits_enabled": False}, oneapi=True)["models"] == ""
    assert to_wire(body, oneapi=False) is body
