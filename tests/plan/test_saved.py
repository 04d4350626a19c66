"""Saved plans (docs/reconcile.md#saved-plans): ``plan --out PLAN`` then ``apply PLAN``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from provisioner.cli.planfile import load, save
from provisioner.exitcodes import ExitCode
from provisioner.observed import ObservedToken, TokenStatus
from provisioner.plan.actions import (
    ORDER,
    Create,
    Delete,
    FieldChange,
    FieldUpdates,
    Rename,
    Rotate,
    Update,
)
from provisioner.plan.diff import diff
from provisioner.plan.model import Conflict, Notice, Plan, fingerprint
from provisioner.plan.saved import SavedPlanError, dumps, staleness
from provisioner.spec.desired import Budget, DesiredToken, Safety, Spec, derive_key_name
from tests.action_builder import make_action
from tests.builders import observed

NOW = 1_800_000_000
DAY = 86400
KEY = "abcd" + "q" * 40 + "wxyz"


def tok(token_id: int, name: str, **kw: Any) -> ObservedToken:
    return observed(name, id=token_id, key=KEY, **kw)


def want(name: str, **kw: Any) -> DesiredToken:
    return DesiredToken(
        name=name, base_name=name, index=1, count=1, key_name=derive_key_name(name), **kw
    )


def every_kind() -> Plan:
    old = tok(3, "r")
    actions = [
        make_action(
            "create",
            "a",
            set={"name": "a", "expired_time": -1, "auto_groups": ["x", "y"]},
            changes=(FieldChange("budget", None, "unlimited"),),
            reason="declared",
            key_name="A",
            protected=True,
        ),
        make_action(
            "rotate",
            "r",
            token_id=3,
            set={"name": "r", "remain_quota": 10},
            reason="requested",
            fingerprint=fingerprint(old),
            key_name="R",
            accessed_time=NOW - DAY,
            rotation_name="r.old-20270115",
            rotation_expiry=NOW + DAY,
            scheduled=True,
        ),
        make_action("rename", "old", token_id=4, set={"name": "new"},
               changes=(FieldChange("name", "old", "new"),), fingerprint="f4"),
        make_action("update", "b", token_id=1, set={"budget": 1000, "group": "vip"},
               changes=(FieldChange("models", ["a"], ["a", "b"]),), fingerprint="f1"),
        make_action("enable", "c", token_id=2, reason="declared enabled", fingerprint="f2"),
        make_action("deliver", "d", token_id=6, key_name="D", fingerprint="f6"),
        make_action("disable", "e", token_id=7, fingerprint="f7"),
        make_action("delete", "f.old-20270101", token_id=5, cleanup=True, fingerprint="f5"),
    ]  # fmt: skip
    return Plan(
        actions=actions[::-1],
        conflicts=[Conflict("x", (8, 9))],
        notices=[Notice("n", 10, "orphan", "kept"), Notice("m", None, "unconfirmed", "?")],
        owned=11,
        unmanaged=3,
        now=NOW,
        quota_per_unit=1000,
    )


def _save(path: Path, plan: Plan, **kw: Any) -> None:
    options: dict[str, Any] = {
        "spec_path": "tokens.yaml",
        "spec_digest": "sha256-digest",
        "server_url": "https://gw.example.com",
        "user_id": 7,
        "server_version": "v0.10.8",
        "safety": Safety(max_deletes=3, max_disables=None, max_changes_pct=12.5, min_idle=3600),
        "keys_to": "dotenv:.env.keys",
    }
    options.update(kw)
    save(path, dumps(plan, **options))


# -- round trip -----------------------------------------------------------------------


def test_a_saved_plan_loads_back_with_every_action_kind(tmp_path: Path) -> None:
    plan = every_kind()
    path = tmp_path / "plan.json"
    _save(path, plan)

    saved = load(path)

    assert [a.kind for a in saved.plan.actions] == list(ORDER)  # stored in apply's order
    assert saved.plan.actions == plan.ordered()
    assert saved.plan.conflicts == plan.conflicts and saved.plan.notices == plan.notices
    assert (saved.plan.owned, saved.plan.unmanaged) == (11, 3)
    assert (saved.plan.now, saved.plan.quota_per_unit) == (NOW, 1000)
    assert (saved.spec_path, saved.spec_digest) == ("tokens.yaml", "sha256-digest")
    assert (saved.server_url, saved.user_id, saved.keys_to) == (
        "https://gw.example.com",
        7,
        "dotenv:.env.keys",
    )
    assert saved.safety == Safety(max_deletes=3, max_changes_pct=12.5, min_idle=3600)
    assert not list(tmp_path.glob("*.tmp"))  # written through a temporary file


# A plan saved by 0.2 (format 1): each action as the plan document writes it, `set` in the
# contract's words (a create's POST body; an update's fields, `budget` a total).
FORMAT_1 = {
    "kind": "provisioner-plan",
    "format_version": 1,
    "provisioner_version": "0.2.0",
    "created": NOW,
    "spec": {"path": "tokens.yaml", "digest": "sha256-digest"},
    "server": {"url": "https://gw.example.com", "user_id": 7, "version": "v0.10.8"},
    "quota_per_unit": 1000,
    "owned": 4,
    "unmanaged": 0,
    "safety": {"max_deletes": 3, "max_disables": None, "max_changes_pct": None, "min_idle": None},
    "keys_to": "dotenv:.env.keys",
    "actions": [
        {"kind": "rotate", "name": "r", "id": 3, "reason": "requested", "changes": [],
         "set": {"name": "r", "expired_time": -1, "remain_quota": 5000, "unlimited_quota": False,
                 "model_limits_enabled": True, "model_limits": "gpt-4o,o3",
                 "allow_ips": "10.0.0.1\n10.0.0.0/24", "group": "auto", "cross_group_retry": True,
                 "auto_groups": ["vip"]},
         "fingerprint": "f3", "protected": False, "key_name": "R", "accessed_time": 0,
         "rotation_name": "r.old-20270115", "rotation_expiry": NOW + DAY, "scheduled": False},
        {"kind": "create", "name": "a", "id": None, "reason": "declared", "changes": [],
         "set": {"name": "a", "expired_time": NOW + 30 * DAY, "remain_quota": 0,
                 "unlimited_quota": True, "model_limits_enabled": False, "model_limits": "",
                 "allow_ips": "", "group": "", "cross_group_retry": False},
         "fingerprint": "", "protected": True, "key_name": "A", "accessed_time": 0,
         "unconfirmed": ["allow_ips"]},
        {"kind": "rename", "name": "new", "id": 4, "reason": "renamed_from: old",
         "changes": [{"field": "name", "before": "old", "after": "new"}],
         "set": {"name": "new"}, "fingerprint": "f4", "protected": False, "key_name": "NEW",
         "accessed_time": 0},
        {"kind": "update", "name": "b", "id": 1, "reason": "",
         "changes": [{"field": "budget", "before": 100, "after": 1000}],
         "set": {"unlimited_quota": False, "budget": 1000, "model_limits_enabled": False,
                 "model_limits": ""},
         "fingerprint": "f1", "protected": False, "key_name": "B", "accessed_time": 5},
        {"kind": "delete", "name": "f.old-20270101", "id": 5, "reason": "expired", "changes": [],
         "set": {}, "fingerprint": "f5", "protected": False, "key_name": "",
         "accessed_time": 0, "cleanup": True},
    ],
    "conflicts": [],
    "notices": [],
}  # fmt: skip


def test_a_plan_saved_by_the_previous_format_still_loads_and_writes_what_it_said(
    tmp_path: Path,
) -> None:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(FORMAT_1), encoding="utf-8")

    plan = load(path).plan

    assert [a.kind for a in plan.actions] == ["rotate", "create", "rename", "update", "delete"]
    rotate, create, rename, update, delete = plan.actions
    assert isinstance(rotate, Rotate) and isinstance(create, Create)
    assert rotate.settings.model_limits == ("gpt-4o", "o3")
    assert rotate.settings.allow_ips == ("10.0.0.1", "10.0.0.0/24")
    assert rotate.settings.auto_groups == ("vip",) and rotate.old_remaining == -1
    assert create.unconfirmed == ("allow_ips",) and create.protected
    assert isinstance(rename, Rename) and rename.set == FieldUpdates(name="new")
    assert isinstance(update, Update)
    assert update.set == FieldUpdates(unlimited_quota=False, budget=1000, models=())
    assert isinstance(delete, Delete) and delete.cleanup
    # what it writes is what the old file said, field for field
    assert [a.to_json() for a in plan.actions] == [
        {**a, "old_remaining": -1} if a["kind"] == "rotate" else a for a in FORMAT_1["actions"]
    ]
    # saved again, it is format 2 and loads back the same
    again = tmp_path / "again.json"
    _save(again, plan)
    assert json.loads(again.read_text(encoding="utf-8"))["format_version"] == 2
    assert load(again).plan.actions == plan.actions


def test_a_saved_plan_holds_no_key(tmp_path: Path) -> None:
    inventory = [tok(1, "a"), tok(2, "b", status=TokenStatus.DISABLED)]
    spec = Spec(path="t.yaml", digest="d", tokens=(want("a", group="vip"), want("b"), want("c")))
    plan = diff(spec, inventory, NOW, sink_keys={"A": None, "B": None, "C": None})
    path = tmp_path / "plan.json"
    _save(path, plan, keys_to="keyring")
    text = path.read_text(encoding="utf-8")
    assert {a.kind for a in plan.actions} >= {"create", "update", "enable", "deliver"}
    for shown in (KEY, KEY[:4] + "*" * 10 + KEY[-4:], "sk-abcd...wxyz", "abcd"):
        assert shown not in text


def test_save_replaces_an_older_plan(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    _save(path, every_kind())
    _save(path, Plan(now=NOW + 1))
    assert load(path).plan.actions == [] and load(path).plan.now == NOW + 1


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (lambda d: d, "is a directory; name a file, e.g. {d}/plan.json"),
        (lambda d: d / "nope" / "plan.json", "the folder {d}/nope does not exist; create it first"),
    ],
)
def test_save_refuses_a_target_it_cannot_write(
    tmp_path: Path, target: Callable[[Path], Path], message: str
) -> None:
    with pytest.raises(SavedPlanError) as caught:
        _save(target(tmp_path), every_kind())
    assert message.format(d=tmp_path) in str(caught.value)
    assert caught.value.exit_code == ExitCode.USAGE


# -- files that are not a plan --------------------------------------------------------


def _plan_data(tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "good.json"
    _save(path, every_kind())
    return json.loads(path.read_text(encoding="utf-8"))


def _with(**changes: Any) -> Callable[[dict[str, Any]], Any]:
    def edit(data: dict[str, Any]) -> Any:
        data.update(changes)
        return data

    return edit


def _without(key: str) -> Callable[[dict[str, Any]], Any]:
    def edit(data: dict[str, Any]) -> Any:
        del data[key]
        return data

    return edit


def _first_action(**changes: Any) -> Callable[[dict[str, Any]], Any]:
    def edit(data: dict[str, Any]) -> Any:
        data["actions"][0].update(changes)
        return data

    return edit


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_with(format_version=3), "plan.json: plan format 3 is not supported (this provisioner "
         "reads 1 and 2); run `provisioner plan --out` again"),
        (_without("format_version"), "plan.json: plan format None is not supported"),
        (_with(kind="terraform-plan"), "plan.json: not a provisioner plan (kind 'terraform-plan')"),
        (_without("kind"), "plan.json: not a provisioner plan (kind None)"),
        (lambda data: [data], "plan.json: not a provisioner plan"),
        (_without("actions"), "plan.json: damaged plan file (KeyError('actions'))"),
        (_without("created"), "plan.json: damaged plan file (KeyError('created'))"),
        (_without("spec"), "plan.json: damaged plan file (KeyError('spec'))"),
        (_with(created="yesterday"), "plan.json: damaged plan file (ValueError("),
        (_with(safety={"max_deletes": 1, "colour": "red"}), "plan.json: damaged plan file "
         "(TypeError("),
        (_with(conflicts=[{"name": "x", "ids": 5}]), "plan.json: damaged plan file (TypeError("),
        (_with(actions=[{"kind": "create"}]),
         "plan.json: damaged plan file (KeyError('name'))"),
    ],
)  # fmt: skip
def test_load_refuses_a_damaged_or_foreign_plan(
    tmp_path: Path, edit: Callable[[dict[str, Any]], Any], message: str
) -> None:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(edit(_plan_data(tmp_path))), encoding="utf-8")
    with pytest.raises(SavedPlanError) as caught:
        load(path)
    assert str(caught.value).startswith(f"{tmp_path}/{message}")
    assert caught.value.exit_code == ExitCode.USAGE


def test_load_refuses_an_unknown_action_kind(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(_first_action(kind="explode")(_plan_data(tmp_path))))
    with pytest.raises(SavedPlanError, match="damaged plan file"):
        load(path).plan.ordered()


_SPEC = "version: 1\ntokens:\n  - name: ci\n    quota: 10 USD\n"
_HINT = (
    "{p} is a spec file, not a saved plan: `apply PLAN` takes a file written by "
    "`plan --out PLAN`. Did you mean `provisioner apply -f {p}`?"
)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("tokens.yaml", _SPEC, _HINT),
        ("tokens.yml", "tokens: []\n", _HINT),
        ("plan.txt", _SPEC, _HINT),  # recognised by its content
        ("plan.json", '{"kind": "provisioner-plan", "format_version": 1, "act', "{p}: not a "
         "saved plan (Unterminated string starting at: line 1 column 51"),
        ("plan.json", "", "{p}: not a saved plan (Expecting value: line 1 column 1 (char 0))"),
        ("plan.json", b"\xff\xfe\x00garbage", "{p}: not a saved plan ("),
    ],
)  # fmt: skip
def test_load_says_what_a_file_that_is_not_a_plan_is(
    tmp_path: Path, name: str, content: str | bytes, message: str
) -> None:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(SavedPlanError) as caught:
        load(path)
    assert str(caught.value).startswith(message.format(p=path))


@pytest.mark.parametrize(
    ("where", "message"),
    [
        (lambda d: d / "missing.json", "{d}/missing.json: no such plan file"),
        (lambda d: d, "{d}: is a directory, not a saved plan"),
    ],
)
def test_load_of_a_missing_file_or_a_folder(
    tmp_path: Path, where: Callable[[Path], Path], message: str
) -> None:
    with pytest.raises(SavedPlanError) as caught:
        load(where(tmp_path))
    assert str(caught.value) == message.format(d=tmp_path)
    assert caught.value.exit_code == ExitCode.USAGE


# -- staleness ------------------------------------------------------------------------


def _inventory() -> list[ObservedToken]:
    return [
        tok(1, "a", unlimited_quota=False, remain_quota=900, used_quota=100),  # updated
        tok(2, "b"),  # deleted (declared absent)
        tok(3, "c", status=TokenStatus.DISABLED),  # enabled and updated
        tok(4, "d"),  # declared and matching: not touched
        tok(5, "unrelated"),  # not the file's
    ]


_SPEC_TOKENS = (
    want("a", quota=Budget(False, units=5000)),
    want("b", status="absent"),
    want("c", group="vip"),
    want("d"),
    want("n"),  # created
    want("m", status="disabled"),  # created, then disabled (no id yet)
)


def _replace(token_id: int, **changes: Any) -> Callable[[list[ObservedToken]], list[ObservedToken]]:
    def edit(tokens: list[ObservedToken]) -> list[ObservedToken]:
        return [t.model_copy(update=changes) if t.id == token_id else t for t in tokens]

    return edit


def _drop(token_id: int) -> Callable[[list[ObservedToken]], list[ObservedToken]]:
    return lambda tokens: [t for t in tokens if t.id != token_id]


def _add(*tokens: ObservedToken) -> Callable[[list[ObservedToken]], list[ObservedToken]]:
    return lambda existing: [*existing, *tokens]


@pytest.mark.parametrize(
    ("edit", "moved"),
    [
        pytest.param(lambda ts: ts, [], id="nothing moved"),
        pytest.param(
            _replace(1, used_quota=600, remain_quota=400, accessed_time=NOW),
            [],
            id="traffic only: used and remaining moved, the budget did not",
        ),
        pytest.param(_replace(4, group="other"), [], id="an untouched token changed"),
        pytest.param(_replace(5, name="renamed"), [], id="an unrelated token changed"),
        pytest.param(_add(tok(9, "z")), [], id="an unrelated token appeared"),
        pytest.param(_drop(5), [], id="an unrelated token vanished"),
        pytest.param(
            _replace(1, remain_quota=1900),
            ["a (id 1): changed since the plan"],
            id="budget raised by hand",
        ),
        pytest.param(
            _replace(1, group="vip"), ["a (id 1): changed since the plan"], id="group changed"
        ),
        pytest.param(
            _replace(3, status=TokenStatus.ENABLED),
            ["c (id 3): changed since the plan"],  # two actions touch c: named once
            id="status changed by hand",
        ),
        pytest.param(
            _replace(3, expired_time=NOW + DAY),
            ["c (id 3): changed since the plan"],
            id="expiry changed",
        ),
        pytest.param(_drop(2), ["b (id 2): deleted since the plan"], id="vanished"),
        pytest.param(
            _add(tok(9, "n")), ["n: now exists on the server (id 9)"], id="a create now exists"
        ),
        pytest.param(
            _add(tok(9, "n"), tok(10, "n")),
            ["n: now exists on the server (ids 9, 10)"],
            id="a create now exists twice",
        ),
        pytest.param(
            lambda ts: _drop(2)(_replace(1, group="vip")(ts)),
            ["a (id 1): changed since the plan", "b (id 2): deleted since the plan"],
            id="several moved",
        ),
    ],
)
def test_staleness(
    edit: Callable[[list[ObservedToken]], list[ObservedToken]], moved: list[str]
) -> None:
    inventory = _inventory()
    plan = diff(Spec(path="t.yaml", digest="d", tokens=_SPEC_TOKENS), inventory, NOW)
    assert [(a.kind, a.name) for a in plan.ordered()] == [
        ("create", "m"),
        ("create", "n"),
        ("update", "a"),
        ("update", "c"),
        ("enable", "c"),
        ("disable", "m"),
        ("delete", "b"),
    ]
    assert staleness(plan, edit(inventory)) == moved


def test_staleness_survives_saving(tmp_path: Path) -> None:
    inventory = _inventory()
    plan = diff(Spec(path="t.yaml", digest="d", tokens=_SPEC_TOKENS), inventory, NOW)
    path = tmp_path / "plan.json"
    _save(path, plan)
    loaded = load(path).plan
    assert staleness(loaded, inventory) == []
    assert staleness(loaded, _replace(1, group="vip")(inventory)) == [
        "a (id 1): changed since the plan"
    ]
