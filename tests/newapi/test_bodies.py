"""The bodies the client builds from the plan's typed settings (newapi/bodies.py)."""

from __future__ import annotations

import pytest

from provisioner.newapi.bodies import create_body, update_body
from provisioner.observed import ObservedToken
from provisioner.plan.actions import FieldUpdates, TokenFields

RECORD = {
    "id": 7,
    "user_id": 1,
    "key": "abcd" + "k" * 40 + "wxyz",
    "status": 1,
    "name": "app",
    "created_time": 1_700_000_000,
    "accessed_time": 1_700_000_500,
    "expired_time": -1,
    "remain_quota": 300,
    "unlimited_quota": False,
    "model_limits_enabled": True,
    "model_limits": "gpt-4o,o3",
    "allow_ips": "10.0.0.1",
    "used_quota": 700,
    "group": "auto",
    "cross_group_retry": True,
    "auto_groups": ["vip"],
    "channel_tag": "fork-field",  # a fork's own field: written back as read
}


def token(**changes: object) -> ObservedToken:
    return ObservedToken(**{**RECORD, **changes})  # type: ignore[arg-type]


def test_create_body_speaks_the_servers_strings() -> None:
    fields = TokenFields(
        name="ci",
        expired_time=1_800_000_000,
        remain_quota=5000,
        unlimited_quota=False,
        model_limits_enabled=True,
        model_limits=("gpt-4o", "o3"),
        allow_ips=("10.0.0.1", "10.0.0.0/24"),
        group="auto",
        cross_group_retry=True,
        auto_groups=("vip", "default"),
    )
    assert create_body(fields) == {
        "name": "ci",
        "expired_time": 1_800_000_000,
        "remain_quota": 5000,
        "unlimited_quota": False,
        "model_limits_enabled": True,
        "model_limits": "gpt-4o,o3",
        "allow_ips": "10.0.0.1\n10.0.0.0/24",  # docs/server-contract.md#token-record
        "group": "auto",
        "cross_group_retry": True,
        "auto_groups": ["vip", "default"],
    }


@pytest.mark.parametrize(
    ("updates", "written"),
    [
        (FieldUpdates(budget=1000), {"remain_quota": 300}),  # 1000 - 700 used
        (FieldUpdates(budget=500), {"remain_quota": 0}),  # spent past it: 0, never negative
        (FieldUpdates(unlimited_quota=True), {"unlimited_quota": True, "remain_quota": 300}),
        (FieldUpdates(name="new"), {"name": "new"}),
        (FieldUpdates(models=()), {"model_limits_enabled": False, "model_limits": ""}),
        (FieldUpdates(allow_ips=("a", "b")), {"allow_ips": "a\nb"}),
        # leaving auto: no auto_groups, no cross-group retry
        (FieldUpdates(group="vip"), {"group": "vip", "cross_group_retry": False}),
    ],
)  # fmt: skip
def test_update_body_is_the_whole_record_with_the_updates(
    updates: FieldUpdates, written: dict[str, object]
) -> None:
    body = update_body(token(), updates)
    assert "key" not in body and "status" not in body and "used_quota" not in body
    assert body["channel_tag"] == "fork-field" and body["id"] == 7
    for field, value in written.items():
        assert body[field] == value, field
    if updates.group == "vip":
        assert "auto_groups" not in body


@pytest.mark.parametrize(
    "updates",
    [
        FieldUpdates(),
        FieldUpdates(budget=1000, unlimited_quota=False),
        FieldUpdates(name="renamed", expired_time=1_900_000_000),
        FieldUpdates(group="vip"),
        FieldUpdates(group="auto", auto_groups=("a", "b"), cross_group_retry=False),
        FieldUpdates(models=("o3",), allow_ips=()),
    ],
)
def test_applied_to_is_what_the_record_holds_after_the_write(updates: FieldUpdates) -> None:
    """The executor checks a write against ``applied_to``: it must be what a server that
    keeps every field stores from ``update_body``."""
    before = token()
    body = update_body(before, updates)
    stored = ObservedToken(**{**RECORD, **body})  # type: ignore[arg-type]
    assert updates.applied_to(before) == TokenFields.of(stored)


def test_joining_auto_writes_an_empty_auto_group_list() -> None:
    """A token that moves to ``auto`` without a list gets ``[]`` (applied_to's rule)."""
    body = update_body(
        token(group="vip", cross_group_retry=False, auto_groups=None), FieldUpdates(group="auto")
    )
    assert body["group"] == "auto" and body["auto_groups"] == []
    assert body["cross_group_retry"] is False


def test_untouched_list_fields_go_back_as_the_server_spelled_them() -> None:
    """Only the written fields take the contract's joined form: a PUT of a rename does not
    rewrite the server's own spelling of the model list or the address lines."""
    before = token(model_limits="gpt-4o, o3", allow_ips="10.0.0.1\r\n\n10.0.0.2")
    body = update_body(before, FieldUpdates(name="renamed"))
    assert body["model_limits"] == "gpt-4o, o3"
    assert body["allow_ips"] == "10.0.0.1\r\n\n10.0.0.2"
    assert update_body(before, FieldUpdates(models=("o3",)))["model_limits"] == "o3"
