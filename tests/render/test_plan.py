"""The plan renderers: text (Terraform-like), JSON (schema_version 1), Markdown, summary."""

from __future__ import annotations

import json

import pytest

from provisioner.plan.actions import ORDER, Action, FieldChange
from provisioner.plan.model import Conflict, Notice, Plan
from provisioner.plan.safety import Violation
from provisioner.render.plan import (
    MARKDOWN_LIMIT,
    SCHEMA_VERSION,
    Header,
    dumps,
    plan_json,
    plan_summary,
    render_markdown,
    render_text,
)
from provisioner.render.style import Style
from provisioner.secret import Secret
from tests.action_builder import make_action

NOW = 1_800_000_000  # 2027-01-15T08:00:00Z
DAY = 86400
HEAD = Header(file="tokens.yaml", url="http://127.0.0.1:3000", version="v0.10.8", user="root (#1)")
PLAIN = Style(False)
FULL_KEY = "sk-" + "abcd" + "S3cr3t" * 7 + "wxyz"


def _create() -> Action:
    return make_action(
        "create",
        "a",
        set={"name": "a", "expired_time": -1},
        changes=(
            FieldChange("expired_time", None, "never"),
            FieldChange("budget", None, "unlimited"),
            FieldChange("group", None, ""),
            FieldChange("models", None, ["gpt-4o", "sora-2"]),
        ),
        reason="declared",
        key_name="A",
    )


# one action of each kind, with the lines the text plan shows for it
KINDS: dict[str, tuple[Action, list[str]]] = {
    "create": (
        _create(),
        [
            "  + create  a",  # a create's reason ("declared") is not shown
            "      expired_time: never",
            "      budget: unlimited",
            '      group: ""',
            "      models: [gpt-4o, sora-2]",
        ],
    ),
    "rotate": (
        make_action(
            "rotate",
            "r",
            token_id=3,
            reason="rotate.every elapsed (created 2026-12-01T00:00:00Z)",
            rotation_name="r.old-20270115",
            rotation_expiry=NOW + DAY,
            key_name="R",
            scheduled=True,
            set={"name": "r", "remain_quota": 10_000_000, "unlimited_quota": False},
            old_remaining=1_600_000,
        ),
        [
            "  ↻ rotate  r (id 3)  # rotate.every elapsed (created 2026-12-01T00:00:00Z)",
            "      new r created, key delivered as R",
            "      then old token -> r.old-20270115, expires 2027-01-16 08:00 UTC",
            "      new token's budget: $20.00 (10,000,000 units)",
            "      the old token keeps its remaining $3.20 (1,600,000 units) until it expires",
        ],
    ),
    "rename": (
        make_action(
            "rename",
            "new",  # a rename action carries the new name (renamed_from: old)
            token_id=4,
            set={"name": "new"},
            changes=(FieldChange("name", "old", "new"),),
        ),
        ["  ~ rename  old -> new (id 4)", "      name: old -> new"],
    ),
    "update": (
        make_action(
            "update",
            "b",
            token_id=1,
            changes=(
                FieldChange("budget", "unlimited", 1_000_000),
                FieldChange("budget", 1_000_000, 2_000_000),
                FieldChange("models", ["gpt-4o"], []),
                FieldChange("cross_group_retry", False, True),
                FieldChange("group", "", "vip"),
                FieldChange("expired_time", "never", "2027-02-14T08:00:00Z"),
            ),
        ),
        [
            "  ~ update  b (id 1)",
            "      budget: unlimited -> $2.00 (1,000,000 units)",
            "      budget: $2.00 (1,000,000 units) -> $4.00 (2,000,000 units)",
            "      models: [gpt-4o] -> []",
            "      cross_group_retry: false -> true",
            '      group: "" -> vip',
            "      expired_time: never -> 2027-02-14T08:00:00Z",
        ],
    ),
    "enable": (
        make_action(
            "enable", "c", token_id=2, reason="revive: was expired; fields are fixed first"
        ),
        ["  > enable  c (id 2)  # revive: was expired; fields are fixed first"],
    ),
    "deliver": (
        make_action(
            "deliver",
            "d",
            token_id=6,
            reason="its key is missing from the sink",
            key_name="D_KEY",
        ),
        [
            "  → deliver d (id 6)  # its key is missing from the sink",
            "      key revealed and delivered as D_KEY",
        ],
    ),
    "disable": (
        make_action("disable", "e", token_id=7, reason="declared disabled"),
        ["  ! disable e (id 7)  # declared disabled"],
    ),
    "delete": (
        make_action("delete", "f", token_id=5, reason="declared absent"),
        ["  - delete  f (id 5)  # declared absent"],
    ),
}


def _lines(plan: Plan, violations: list[Violation] | None = None) -> list[str]:
    return render_text(plan, HEAD, violations or [], PLAIN).splitlines()


def _all_kinds() -> Plan:
    # listed backwards: every renderer shows them in apply's order
    actions = [KINDS[kind][0] for kind in reversed(ORDER)]
    return Plan(actions=actions, owned=8, unmanaged=2, now=NOW)


# -- text -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(KINDS))
def test_text_shows_each_action_kind(kind: str) -> None:
    action, expected = KINDS[kind]
    lines = _lines(Plan(actions=[action], owned=1, now=NOW))
    assert lines[0] == "tokens.yaml -> http://127.0.0.1:3000 (v0.10.8) as root (#1)"
    assert lines[2 : 2 + len(expected)] == expected
    assert lines[2 + len(expected)] == ""


def test_text_lists_actions_in_apply_order_then_conflicts_notices_refusals_summary() -> None:
    plan = _all_kinds()
    plan.conflicts = [Conflict("x", (8, 9))]
    plan.notices = [
        Notice("n", 10, "orphan", "owned but not declared; kept (manage.orphans: keep)"),
        Notice("p", None, "expired", "expires 2027-01-01T00:00:00Z, which has passed"),
    ]
    refused = Violation("safety.max_deletes", "the plan deletes 7 tokens, more than the limit of 5")
    lines = _lines(plan, [refused])

    kinds = [line.split()[1] for line in lines if line.startswith("  ") and line[2] != " "]
    assert kinds[: len(ORDER)] == list(ORDER)
    assert lines[-6:] == [
        "  ✗ conflict x: 2 server tokens (ids 8, 9)",
        "  # orphan n (id 10): owned but not declared; kept (manage.orphans: keep)",
        "  # expired p: expires 2027-01-01T00:00:00Z, which has passed",
        "",
        "Refused: safety.max_deletes: the plan deletes 7 tokens, more than the limit of 5 "
        "(override: --force)",
        "Plan: 1 to create, 1 to update, 1 to enable, 1 to disable, 1 to delete, 1 to rotate, "
        "1 to rename, 1 key to deliver; 1 orphan kept, 2 unmanaged, 1 conflict.",
    ]


@pytest.mark.parametrize(
    ("header", "first"),
    [
        (HEAD, "tokens.yaml -> http://127.0.0.1:3000 (v0.10.8) as root (#1)"),
        (Header("t.yaml", "https://gw"), "t.yaml -> https://gw"),
    ],
)
def test_text_header(header: Header, first: str) -> None:
    assert render_text(Plan(), header, [], PLAIN).splitlines()[0] == first


def test_an_empty_plan_is_the_header_and_the_summary() -> None:
    assert _lines(Plan(owned=3)) == [
        "tokens.yaml -> http://127.0.0.1:3000 (v0.10.8) as root (#1)",
        "",
        "No changes. 3 owned tokens match the spec; 0 orphans kept, 0 unmanaged.",
    ]


def test_a_plain_style_has_no_escape_codes_and_a_colour_style_has() -> None:
    plan = _all_kinds()
    plan.conflicts = [Conflict("x", (8, 9))]
    plan.notices = [Notice("n", 10, "orphan", "kept")]
    refused = [Violation("conflict", "two tokens share a name", overridable=False)]
    assert "\x1b" not in render_text(plan, HEAD, refused, Style(False))
    coloured = render_text(plan, HEAD, refused, Style(True))
    assert "\x1b[31m  - delete  f (id 5)\x1b[0m" in coloured
    # the words are the same once the codes are gone
    import re

    plain = re.sub(r"\x1b\[[0-9;]*m", "", coloured)
    assert plain == render_text(plan, HEAD, refused, Style(False))


# -- summary --------------------------------------------------------------------------


def _plan_of(*kinds: str, **kw: object) -> Plan:
    actions = [make_action(kind, f"{kind}{i}", token_id=i) for i, kind in enumerate(kinds)]  # type: ignore[arg-type]
    return Plan(actions=actions, now=NOW, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("plan", "line"),
    [
        (Plan(), "No changes. 0 owned tokens match the spec; 0 orphans kept, 0 unmanaged."),
        (Plan(owned=1), "No changes. 1 owned token matches the spec; 0 orphans kept, 0 unmanaged."),
        (
            Plan(owned=2, unmanaged=1, notices=[Notice("o", 1, "orphan", "kept")]),
            "No changes. 2 owned tokens match the spec; 1 orphan kept, 1 unmanaged.",
        ),
        (
            Plan(notices=[Notice("o", 1, "orphan", "k"), Notice("p", 2, "orphan", "k"),
                          Notice("q", 3, "expired", "k")]),
            "No changes. 0 owned tokens match the spec; 2 orphans kept, 0 unmanaged.",
        ),
        (
            _plan_of("create"),
            "Plan: 1 to create, 0 to update, 0 to enable, 0 to disable, 0 to delete, "
            "0 to rotate; 0 orphans kept, 0 unmanaged.",
        ),
        (
            _plan_of("deliver"),
            "Plan: 0 to create, 0 to update, 0 to enable, 0 to disable, 0 to delete, "
            "0 to rotate, 1 key to deliver; 0 orphans kept, 0 unmanaged.",
        ),
        (
            _plan_of("deliver", "deliver", "rename"),
            "Plan: 0 to create, 0 to update, 0 to enable, 0 to disable, 0 to delete, "
            "0 to rotate, 1 to rename, 2 keys to deliver; 0 orphans kept, 0 unmanaged.",
        ),
        (
            _plan_of("delete", "delete", "update", conflicts=[Conflict("x", (1, 2))]),
            "Plan: 0 to create, 1 to update, 0 to enable, 0 to disable, 2 to delete, "
            "0 to rotate; 0 orphans kept, 0 unmanaged, 1 conflict.",
        ),
        (
            Plan(conflicts=[Conflict("x", (1, 2)), Conflict("y", (3, 4))], owned=4),
            "Plan: 0 to create, 0 to update, 0 to enable, 0 to disable, 0 to delete, "
            "0 to rotate; 0 orphans kept, 0 unmanaged, 2 conflicts.",
        ),
    ],
)  # fmt: skip
def test_plan_summary_wording(plan: Plan, line: str) -> None:
    assert plan_summary(plan) == line


# -- JSON -----------------------------------------------------------------------------

_TOP = {
    "schema_version", "kind", "file", "server", "now", "quota_per_unit", "has_changes",
    "summary", "actions", "conflicts", "notices", "violations",
}  # fmt: skip
_ACTION = {
    "kind", "name", "id", "reason", "changes", "set", "fingerprint", "protected", "key_name",
    "accessed_time",
}  # fmt: skip


def test_json_schema_keys_are_stable() -> None:
    plan = _all_kinds()
    plan.conflicts = [Conflict("x", (8, 9))]
    plan.notices = [Notice("n", None, "orphan", "kept")]
    plan.actions.append(make_action("delete", "g.old-20270101", token_id=11, cleanup=True))
    refused = [
        Violation("server.max_tokens", "too many", overridable=False),
        Violation("safety.max_deletes", "7 deletes", override="--force or safety.max_deletes"),
    ]
    data = json.loads(dumps(plan_json(plan, HEAD, refused)))

    assert set(data) == _TOP
    assert (data["schema_version"], data["kind"], SCHEMA_VERSION) == (1, "plan", 1)
    assert data["server"] == {"url": HEAD.url, "version": "v0.10.8", "user": "root (#1)"}
    assert (data["now"], data["quota_per_unit"], data["has_changes"]) == (NOW, 500_000, True)
    assert data["summary"] == {
        **{kind: 1 for kind in ORDER},
        "delete": 2,
        "owned": 8,
        "unmanaged": 2,
        "conflicts": 1,
    }
    assert [a["kind"] for a in data["actions"]] == [*ORDER, "delete"]
    for action in data["actions"]:
        extra = set()
        if action["kind"] == "rotate":
            extra = {"rotation_name", "rotation_expiry", "scheduled", "old_remaining"}
        if action["name"].startswith("g.old"):
            extra = {"cleanup"}
        assert set(action) == _ACTION | extra, action["kind"]
    rotate = data["actions"][0]
    assert (rotate["rotation_name"], rotate["rotation_expiry"], rotate["scheduled"]) == (
        "r.old-20270115",
        NOW + DAY,
        True,
    )
    assert data["actions"][3]["changes"][0] == {
        "field": "budget",
        "before": "unlimited",
        "after": 1_000_000,
    }
    assert data["conflicts"] == [{"name": "x", "ids": [8, 9]}]
    assert data["notices"] == [{"kind": "orphan", "name": "n", "id": None, "message": "kept"}]
    assert data["violations"] == [
        {"rule": "server.max_tokens", "message": "too many", "overridable": False,
         "override": None},
        {"rule": "safety.max_deletes", "message": "7 deletes", "overridable": True,
         "override": "--force or safety.max_deletes"},
    ]  # fmt: skip


def test_json_of_an_empty_plan() -> None:
    data = plan_json(Plan(owned=2), HEAD, [])
    assert data["has_changes"] is False and data["actions"] == []
    assert data["summary"] == {**{kind: 0 for kind in ORDER}, "owned": 2, "unmanaged": 0,
                               "conflicts": 0}  # fmt: skip


# -- Markdown -------------------------------------------------------------------------


def test_markdown_has_a_count_table_a_diff_block_and_the_summary() -> None:
    plan = _all_kinds()
    plan.conflicts = [Conflict("x", (8, 9))]
    plan.notices = [Notice("n", 10, "orphan", "kept")]
    refused = Violation("safety.max_deletes", "the plan deletes 7 tokens")
    lines = render_markdown(plan, HEAD, [refused]).splitlines()

    assert lines[:4] == [
        "### provisioner plan: `tokens.yaml`",
        "",
        "Server: `http://127.0.0.1:3000` v0.10.8",
        "",
    ]
    assert lines[4:7] == [
        "| create | update | enable | disable | delete | rotate | rename | deliver | unmanaged |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        "| 1 | 1 | 1 | 1 | 1 | 1 | 1 | 1 | 2 |",
    ]
    assert (
        "> **Refused:** safety.max\\_deletes: the plan deletes 7 tokens (override: --force)"
        in lines
    )
    block = lines[lines.index("```diff") + 1 : lines.index("```")]
    heads = [line for line in block if not line.startswith("  ")]
    assert heads == [
        "! rotate r (id 3)",
        "+ create a",
        "! rename old -> new (id 4)",
        "! update b (id 1)",
        "+ enable c (id 2)",
        "+ deliver d (id 6)",
        "- disable e (id 7)",
        "- delete f (id 5)",
        "- conflict x: ids 8, 9",
        "# orphan n: kept",
    ]
    assert "  budget: unlimited -> $2.00 (1,000,000 units)" in block
    assert lines[-1] == f"**{plan_summary(plan)}**"


def test_markdown_without_changes_has_no_details_and_only_the_fixed_columns() -> None:
    text = render_markdown(Plan(owned=1), HEAD, [])
    assert "<details" not in text and "```" not in text
    assert "| create | update | enable | disable | delete | rotate | unmanaged |" in text
    assert text.endswith("**No changes. 1 owned token matches the spec; 0 orphans kept, "
                         "0 unmanaged.**\n")  # fmt: skip


def test_a_long_markdown_plan_is_truncated_under_the_limit() -> None:
    actions = [
        make_action(
            "update",
            f"token-{i:05d}",
            token_id=i,
            changes=(FieldChange("models", ["a"] * 5, ["b"] * 5),),
        )
        for i in range(3000)
    ]
    plan = Plan(actions=actions, owned=3000, now=NOW)
    text = render_markdown(plan, HEAD, [])

    assert len(text) <= MARKDOWN_LIMIT
    assert "*(truncated; run `provisioner plan` for all)*" in text
    assert text.count("```") == 2 and text.count("</details>") == 1  # blocks stay closed
    assert text.endswith(f"**{plan_summary(plan)}**\n")
    assert "3000 to update" in text
    assert "token-00000" in text and "token-02999" not in text


def test_a_short_markdown_plan_is_not_truncated() -> None:
    assert "truncated" not in render_markdown(_all_kinds(), HEAD, [])


def test_markdown_cut_inside_the_refusals_keeps_fences_balanced() -> None:
    refused = [Violation("server.name_length", "x" * 200 + f" {i}") for i in range(400)]
    text = render_markdown(_all_kinds(), HEAD, refused)
    assert len(text) <= MARKDOWN_LIMIT
    assert text.count("```") % 2 == 0


# -- no key ever leaks ----------------------------------------------------------------


def test_a_secret_in_a_body_is_masked_in_every_output() -> None:
    secret = Secret(FULL_KEY)
    action = make_action("create", "a", set={"name": "a", "key": secret}, key_name="A")
    plan = Plan(actions=[action], now=NOW)
    outputs = {
        "json": dumps(plan_json(plan, HEAD, [])),
        "text": render_text(plan, HEAD, [], PLAIN),
        "markdown": render_markdown(plan, HEAD, []),
    }
    for form, text in outputs.items():
        assert FULL_KEY not in text and FULL_KEY[3:] not in text, form
    assert json.loads(outputs["json"])["actions"][0]["set"]["key"] == secret.masked
    assert secret.masked == "sk-abcd...wxyz"


def test_a_secret_in_a_change_is_shown_masked() -> None:
    change = FieldChange("key", None, Secret(FULL_KEY))
    plan = Plan(actions=[make_action("update", "a", token_id=1, changes=(change,))], now=NOW)
    text = render_text(plan, HEAD, [], PLAIN) + render_markdown(plan, HEAD, [])
    assert "sk-abcd...wxyz" in text and FULL_KEY not in text


def test_a_rotation_of_an_unlimited_token_says_both_stay_unlimited() -> None:
    action = make_action(
        "rotate",
        "w",
        token_id=5,
        rotation_name="w.old-20270115",
        rotation_expiry=NOW + DAY,
        key_name="W",
        set={"name": "w", "remain_quota": 0, "unlimited_quota": True},
        old_remaining=None,
    )
    lines = _lines(Plan(actions=[action], owned=1, now=NOW))
    assert "      new token's budget: unlimited" in lines
    assert "      the old token stays unlimited until it expires" in lines
    assert Action.from_json(action.to_json()) == action  # saved plans keep it
    older = action.to_json()
    del older["old_remaining"]  # a plan saved before it was recorded: not guessed
    lines = _lines(Plan(actions=[Action.from_json(older)], owned=1, now=NOW))
    assert "      new token's budget: unlimited" in lines
    assert not any("old token stays" in line or "keeps its" in line for line in lines)
