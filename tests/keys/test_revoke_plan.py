"""What revoke does to each leaked key's token (docs/keys-in-use.md#revoke): pure table tests."""

from __future__ import annotations

from provisioner.keys.revoke import Revocation, plan_revocations, replacement_plan
from provisioner.observed import ObservedToken
from provisioner.secret import Secret
from provisioner.spec.desired import DesiredToken, Spec

NOW = 1_800_000_000  # 2027-01-15
DAY = "20270115"
KEY = Secret("k" * 48)


def want(name: str, **kw: object) -> DesiredToken:
    return DesiredToken(name=name, base_name=name, index=1, count=1, key_name=name.upper(), **kw)  # type: ignore[arg-type]


def spec(*tokens: DesiredToken) -> Spec:
    return Spec(path="tokens.yaml", digest="", tokens=tokens)


def tok(i: int, name: str, **fields: object) -> ObservedToken:
    return ObservedToken(id=i, name=name, **fields)  # type: ignore[arg-type]


def one(
    token: ObservedToken,
    the_spec: Spec | None,
    inventory: list[ObservedToken] | None = None,
    limit: int | None = 50,
) -> Revocation:
    inventory = inventory if inventory is not None else [token]
    (item,) = plan_revocations([(KEY, token)], the_spec, inventory, NOW, name_max_bytes=limit)
    return item


def test_a_declared_token_is_disabled_renamed_and_replaced() -> None:
    item = one(tok(4, "app"), spec(want("app")))
    assert item.disable and item.new_name == f"app.leaked-{DAY}"
    assert item.replacement is not None and item.replacement.name == "app"
    plan = replacement_plan([item], NOW, 500_000)
    assert [(a.kind, a.name, a.key_name) for a in plan.actions] == [("create", "app", "APP")]
    assert plan.actions[0].written()["name"] == "app"


def test_an_undeclared_token_is_disabled_and_renamed_with_no_replacement() -> None:
    item = one(tok(4, "hand-made"), spec(want("app")))
    assert item.disable and item.new_name == f"hand-made.leaked-{DAY}"
    assert item.replacement is None
    assert any("does not declare hand-made" in note for note in item.notes)
    assert replacement_plan([item], NOW, 500_000).actions == []


def test_no_file_means_no_replacement() -> None:
    item = one(tok(4, "app"), None)
    assert item.replacement is None and item.new_name


def test_protection_does_not_stop_a_revoke_and_the_report_says_so() -> None:
    item = one(tok(4, "app"), spec(want("app", protected=True)))
    assert item.disable and item.replacement is not None
    assert any("protected" in note and "outranks" in note for note in item.notes)


def test_a_name_too_long_for_the_suffix_is_cut_so_the_replacement_can_be_made() -> None:
    name = "storyboard-video-api"  # 20 bytes + 16 of .leaked-YYYYMMDD > 30
    item = one(tok(4, name), spec(want(name)), limit=30)
    assert item.disable and item.new_name == f"storyboard-vid.leaked-{DAY}"
    assert len(item.new_name.encode()) == 30
    # the cut name is no longer the declared one: no apply brings the leaked key back
    assert item.replacement is not None and item.replacement.name == name
    assert "cut to fit this server's 30-byte limit" in " ".join(item.notes)


def test_the_leaked_name_is_unique_for_a_second_leak_the_same_day() -> None:
    taken = tok(3, f"app.leaked-{DAY}", status=2)
    item = one(tok(4, "app"), spec(want("app")), [taken, tok(4, "app")])
    assert item.new_name == f"app.leaked-{DAY}-2"


def test_an_already_revoked_token_needs_nothing() -> None:
    item = one(tok(3, f"app.leaked-{DAY}", status=2), spec(want("app")))
    assert item.already and not item.disable and item.replacement is None


def test_a_re_enabled_leaked_token_is_disabled_again_without_a_new_name() -> None:
    item = one(tok(3, f"app.leaked-{DAY}", status=1), spec(want("app")))
    assert item.disable and item.new_name == "" and item.replacement is None


def test_a_second_token_of_the_same_name_means_no_replacement() -> None:
    inventory = [tok(4, "app"), tok(5, "app")]
    item = one(inventory[0], spec(want("app")), inventory)
    assert item.replacement is None
    assert any("id 5" in note for note in item.notes)


def test_a_token_declared_disabled_is_replaced_disabled_and_absent_not_at_all() -> None:
    off = one(tok(4, "off"), spec(want("off", status="disabled")))
    assert [a.kind for a in replacement_plan([off], NOW, 500_000).actions] == ["create", "disable"]
    gone = one(tok(4, "gone"), spec(want("gone", status="absent")))
    assert gone.replacement is None
