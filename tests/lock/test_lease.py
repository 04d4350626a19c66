"""The account lock's records (lease.py) and the reserved namespace (spec/reserved.py)."""

from __future__ import annotations

from typing import Any

import pytest

from provisioner.lease import (
    HOLDER_MARK,
    Holder,
    describe_lock,
    expired_locks,
    holder_from,
    is_lock_token,
    live_locks,
    split_locks,
)
from provisioner.newapi.bodies import lock_body
from provisioner.observed import ObservedToken
from provisioner.plan.ownership import Ownership
from provisioner.spec import load_spec_text
from provisioner.spec.reserved import is_reserved_name, reserved_name_message

NOW = 1_780_000_000


def lock(token_id: int, **fields: Any) -> ObservedToken:
    holder = Holder.of(host="runner-1", pid=4242)
    body = lock_body(f"provisioner.lock.{token_id:08x}", NOW + 100, holder)
    return ObservedToken(id=token_id, created_time=NOW - 20, **{**body, **fields})


@pytest.mark.parametrize(
    "name",
    [
        "provisioner.lock.ab12cd34",
        "provisioner.lock.",
        "provisioner.lock",
        "provisioner.locks",
        "Provisioner.Lock.x",
        "PROVISIONER.LOCK.AB12CD34",
        "provisioner-lock-staging",
        "provisioner_lock",
        "provisioner lock",
        "provisioner\u200b.lock.x",  # zero-width space
        "ｐｒｏｖｉｓｉｏｎｅｒ.lock.1",  # full-width
        "prоvisioner.lock.1",  # Cyrillic o
        "provіsioner.lock.1",  # Cyrillic i
        "pr0visi0ner.l0ck",
        "províśioner.lock",  # accents
        "provisioner.1ock",
    ],
)
def test_reserved_names(name: str) -> None:
    assert is_reserved_name(name)
    assert "provisioner.lock.*" in reserved_name_message(name)


@pytest.mark.parametrize(
    "name",
    ["app", "provisioner", "provisioning-lock", "lock.provisioner", "my.provisioner.lock", "prov"],
)
def test_names_outside_the_namespace(name: str) -> None:
    assert not is_reserved_name(name)


def test_a_look_alike_message_names_the_hidden_characters() -> None:
    message = reserved_name_message("prоvisioner.lock.1")
    assert "looks like" in message and "U+043E" in message


def test_holder_record_round_trips_and_never_carries_a_separator() -> None:
    holder = holder_from(
        {
            "GITHUB_ACTIONS": "true",
            "GITHUB_REPOSITORY": "acme/infra",
            "GITHUB_RUN_ID": "991",
            "GITHUB_RUN_ATTEMPT": "2",
            "GITHUB_WORKFLOW": "deploy tokens, prod;x=1",
            "GITHUB_TOKEN": "ghs_secret",  # never read
        },
        host="ci runner\n7",
        pid=4242,
        user="runner",
    )
    text = holder.encode()
    assert text.startswith(HOLDER_MARK) and "," not in text and "\n" not in text
    assert "ghs_secret" not in text
    assert Holder.decode(text) == holder
    described = holder.describe()
    assert described == (
        "pid 4242 on ci_runner_7 (user runner), GitHub Actions run 991 (attempt 2) of "
        "acme/infra (workflow deploy_tokens__prod_x_1)"
    )


def test_a_forged_holder_record_is_cut_to_the_safe_alphabet() -> None:
    holder = Holder.decode(HOLDER_MARK + ";host=\x1b[31mevil\u202e;pid=" + "9" * 500 + ";bogus=1")
    assert holder is not None
    assert holder.get("host") == "__31mevil_" and len(holder.get("pid")) == 64
    assert "bogus" not in holder.fields
    assert Holder.decode("gpt-4o") is None


def test_the_lock_body_is_never_a_usable_key() -> None:
    body = lock_body("provisioner.lock.0000abcd", NOW + 120, Holder.of(host="h"))
    assert body["remain_quota"] == 0 and body["unlimited_quota"] is False
    assert body["model_limits_enabled"] is True and body["model_limits"].startswith(HOLDER_MARK)
    assert len(body["name"].encode()) <= 30


@pytest.mark.parametrize(
    ("fields", "is_lock"),
    [
        ({}, True),
        ({"status": 1}, True),  # a crash between create and disable
        ({"model_limits": "", "model_limits_enabled": False}, True),  # a server dropped it
        ({"expired_time": NOW - 10_000}, True),  # lease over: still a lock (removable)
        ({"name": "provisioner.lock.handmade"}, False),
        ({"name": "Provisioner.Lock.0000abcd"}, False),
        ({"name": "provisioner.lock.0000ABCD"}, False),
        ({"remain_quota": 500_000}, False),  # a usable key: made by hand
        ({"unlimited_quota": True}, False),
        ({"used_quota": 3}, False),
        ({"expired_time": -1}, False),
        ({"model_limits": "gpt-4o"}, False),
    ],
)
def test_what_is_a_lock_token(fields: dict[str, Any], is_lock: bool) -> None:
    assert is_lock_token(lock(7, **fields)) is is_lock


def test_lowest_live_id_holds_and_expired_ones_are_apart() -> None:
    tokens = [
        lock(9),
        lock(5, expired_time=NOW - 1),
        lock(7),
        ObservedToken(id=3, name="provisioner.lock.handmade", remain_quota=10),
        ObservedToken(id=4, name="app"),
    ]
    others, locks = split_locks(tokens)
    assert [t.id for t in others] == [3, 4]
    assert [t.id for t in live_locks(locks, NOW)] == [7, 9]
    assert [t.id for t in expired_locks(locks, NOW)] == [5]


def test_describe_names_the_holder_since_and_lease() -> None:
    text = describe_lock(lock(7), NOW)
    assert text.startswith("lock 7 (provisioner.lock.00000007) held by pid 4242 on runner-1")
    assert "20 seconds ago" in text and "lease until" in text and "in 1 minute" in text
    dead = describe_lock(lock(7, expired_time=NOW - 300), NOW)
    assert "lease ended" in dead and "5 minutes ago" in dead
    unknown = describe_lock(lock(7, model_limits="", model_limits_enabled=False), NOW)
    assert "this server keeps no details" in unknown


def test_manage_match_never_owns_the_namespace() -> None:
    spec = load_spec_text(
        "version: 1\nmanage:\n  match: ['*']\n  orphans: delete\ntokens:\n  - name: app\n",
        "tokens.yaml",
        now=NOW,
    )
    owner = Ownership(spec)
    assert owner.owns("app") and owner.owns("other")
    for name in (
        "provisioner.lock.ab12cd34",
        "Provisioner.Lock.x",
        "provisioner.lock.x.old-20260101",
    ):
        assert not owner.owns(name)
