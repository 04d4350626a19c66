"""``provisioner export``: observed tokens as a tokens.yaml that plans no change.

The property (provisioner/render/export.py): the text loads with the real spec
loader, and ``diff`` of it against the same tokens plans nothing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest
import yaml

from provisioner.observed import ObservedToken, TokenStatus
from provisioner.plan.diff import diff
from provisioner.plan.model import Plan
from provisioner.render.export import Exported, export_tokens
from provisioner.render.safe import text
from provisioner.spec import Spec, load_spec_text
from tests.builders import observed

NOW = 1_800_000_000  # 2027-01-15T08:00:00Z
DAY = 86400
QPU = 500_000

tok = observed


def round_trip(
    tokens: Sequence[ObservedToken], *, quota_per_unit: int = QPU, **kw: Any
) -> tuple[Exported, Spec, Plan]:
    exported = export_tokens(tokens, NOW, **kw)
    # export --output json's "spec": what YAML reads from the text, key for key, in order
    assert json.dumps(yaml.safe_load(exported.text)) == json.dumps(exported.data)
    spec = load_spec_text(exported.text, "tokens.yaml", now=NOW)
    return exported, spec, diff(spec, tokens, NOW, quota_per_unit=quota_per_unit)


def assert_no_change(plan: Plan) -> None:
    assert [(a.kind, a.name, a.reason) for a in plan.actions] == []
    assert plan.conflicts == []


def token_block(text: str, name_line: str) -> list[str]:
    """The lines of one exported token, from its ``- name:`` line to the next one."""
    lines = text.splitlines()
    start = lines.index(f"  - name: {name_line}")
    block = [lines[start]]
    for line in lines[start + 1 :]:
        if line.startswith("  - "):
            break
        block.append(line)
    return block


# -- the round trip, field by field ---------------------------------------------------


@pytest.mark.parametrize(
    ("token", "lines"),
    [
        pytest.param(
            tok("plain"),
            ["expires: never", "quota: unlimited", 'group: ""'],
            id="unlimited, never",
        ),
        pytest.param(
            tok("raw", unlimited_quota=False, used_quota=100, remain_quota=900),
            ["quota: 1000   # used 100 + remaining 900 units"],
            id="raw budget is used + remaining",
        ),
        pytest.param(
            tok("usd", unlimited_quota=False, used_quota=QPU, remain_quota=19 * QPU),
            ["quota: 10000000   # used 500000 + remaining 9500000 units"],
            id="a whole USD amount stays raw units",
        ),
        pytest.param(
            tok("future", expired_time=NOW + 30 * DAY + 17),
            ['expires: "2027-02-14T08:00:17Z"'],
            id="future expiry: an absolute UTC instant to the second",
        ),
        pytest.param(
            tok("passed", created_time=NOW - 25 * DAY, expired_time=NOW - 5 * DAY),
            ["expires: 20d   # expired 2027-01-10", "# expired on the server"],
            id="passed expiry: a duration from creation",
        ),
        pytest.param(
            tok("weeks", created_time=NOW - 20 * DAY, expired_time=NOW - 6 * DAY),
            ["expires: 2w   # expired 2027-01-09"],
            id="passed expiry in the largest whole unit",
        ),
        pytest.param(
            tok(
                "seconds",
                created_time=NOW - 10 * DAY,
                expired_time=NOW - 10 * DAY + 3601,
                status=TokenStatus.EXPIRED,
            ),
            ["expires: 3601s   # expired 2027-01-05"],
            id="passed expiry, odd seconds, status expired",
        ),
        pytest.param(
            tok("spent", unlimited_quota=False, used_quota=5000, remain_quota=0),
            ["quota: 5000   # used 5000 + remaining 0 units", "# exhausted on the server"],
            id="exhausted, listed enabled",
        ),
        pytest.param(
            tok(
                "spent4",
                unlimited_quota=False,
                used_quota=5000,
                remain_quota=0,
                status=TokenStatus.EXHAUSTED,
            ),
            ["quota: 5000   # used 5000 + remaining 0 units", "# exhausted on the server"],
            id="exhausted, status 4",
        ),
        pytest.param(
            tok("stopped", status=TokenStatus.DISABLED), ["status: disabled"], id="disabled"
        ),
        pytest.param(
            tok("odd", status=7),
            ["status: disabled   # unknown server status 7"],
            id="an unknown status is kept off",
        ),
        pytest.param(
            tok(
                "gone-off",
                status=TokenStatus.DISABLED,
                created_time=NOW - 3 * DAY,
                expired_time=NOW - DAY,
            ),
            ["expires: 2d   # expired 2027-01-14", "status: disabled"],
            id="disabled and expired",
        ),
        pytest.param(tok("grp", group="vip"), ["group: vip"], id="group"),
        pytest.param(
            tok("auto", group="auto", auto_groups=["vip", "default"], cross_group_retry=True),
            ["group: auto", "auto_groups: [vip, default]", "cross_group_retry: true"],
            id="auto groups, in order",
        ),
        pytest.param(
            tok("auto2", group="auto"),
            ["group: auto", "cross_group_retry: false"],
            id="group auto without auto groups",
        ),
        pytest.param(
            tok(
                "models",
                model_limits_enabled=True,
                model_limits="gpt-4o,claude-3.5-sonnet:beta",
            ),
            ['models: [gpt-4o, "claude-3.5-sonnet:beta"]'],
            id="models",
        ),
        pytest.param(
            tok("nomodels", model_limits_enabled=False, model_limits="gpt-4o"),
            [],
            id="a model list that is not enabled is no list",
        ),
        pytest.param(
            tok("ips", allow_ips="10.0.0.0/8\n203.0.113.7\n2001:db8::/32\n::1"),
            ['allow_ips: ["10.0.0.0/8", "203.0.113.7", "2001:db8::/32", "::1"]'],
            id="allow_ips",
        ),
        pytest.param(tok("noips", allow_ips=None), [], id="allow_ips null"),
    ],
)
def test_export_writes_each_field_so_that_plan_shows_no_change(
    token: ObservedToken, lines: list[str]
) -> None:
    exported, spec, plan = round_trip([token])
    assert (exported.count, exported.skipped) == (1, [])
    block = [line.strip() for line in token_block(exported.text, token.name)]
    for line in lines:
        assert line in block
    if "status" not in " ".join(lines):
        assert not any(line.startswith("status:") for line in block)
    assert [t.name for t in spec.tokens] == [token.name]
    assert_no_change(plan)


def test_raw_budgets_do_not_depend_on_the_servers_quota_per_unit() -> None:
    token = tok("usd", unlimited_quota=False, used_quota=QPU, remain_quota=19 * QPU)
    for qpu in (QPU, 1000, 1):
        assert_no_change(round_trip([token], quota_per_unit=qpu)[2])


def test_a_passed_expiry_is_noticed_not_planned() -> None:
    token = tok("passed", created_time=NOW - 25 * DAY, expired_time=NOW - 5 * DAY)
    _, _, plan = round_trip([token])
    assert [(n.kind, n.name) for n in plan.notices] == [("expired", "passed")]


def test_an_export_of_many_tokens_round_trips() -> None:
    tokens = [
        tok("b", group="vip"),
        tok("a", unlimited_quota=False, remain_quota=10, used_quota=5),
        tok("c", status=TokenStatus.DISABLED),
        tok("d", expired_time=NOW + DAY),
    ]
    exported, spec, plan = round_trip(tokens)
    assert [t.name for t in spec.tokens] == ["a", "b", "c", "d"]  # sorted by name
    assert exported.count == 4
    assert_no_change(plan)


def test_header_server_and_manage_blocks() -> None:
    tokens = [tok("ci-1"), tok("ci-2")]
    exported, spec, plan = round_trip(tokens, match=["ci-*"], url="https://gw.example.com")
    lines = exported.text.splitlines()
    assert lines[2] == "# Exported by `provisioner export` on 2027-01-15."
    assert lines[5:10] == [
        "server:",
        '  url: "https://gw.example.com"',
        "manage:",
        '  match: ["ci-*"]',
        "  orphans: keep",
    ]
    assert spec.server_url == "https://gw.example.com"
    assert spec.manage.match == ("ci-*",) and spec.manage.orphans == "keep"
    assert_no_change(plan)


def test_nothing_to_export_is_an_empty_valid_spec() -> None:
    exported, spec, plan = round_trip([])
    assert "tokens: []" in exported.text.splitlines()
    assert exported.count == 0 and spec.tokens == () and not plan.has_changes


# -- names ----------------------------------------------------------------------------

_YAML_WORDS = ("Yes", "TRUE", "Null", "Off", ".inf", ".NaN")


@pytest.mark.parametrize(
    "name",
    [
        "yes",
        "no",
        "null",
        "true",
        "never",
        "unlimited",
        "y",
        "N",
        "~",
        "123",
        "0x1F",
        "2027-01-01",
        "1e3",
        "a b",
        "-x",
        "a#b",
        "key: value",
        "[x]",
        "{x}",
        "*",
        "&anchor",
        "!tag",
        "'q'",
        '"dq"',
        "%x",
        "@x",
        "? x",
        "视频生成接口",
        "中 文",
        "x.leaked-20260101",
        "a\u00a0b",
        "evil\u202etxt.exe",  # a right-to-left override: written escaped, read back exact
        "zero\u200bwidth",
        *(
            pytest.param(
                word,
            )
            for word in _YAML_WORDS
        ),
    ],
)
def test_any_exportable_name_reads_back_as_itself(name: str) -> None:
    exported, spec, plan = round_trip([tok(name)], include_leftovers=True)  # .leaked- too
    assert exported.skipped == []
    assert [t.name for t in spec.tokens] == [name]
    assert_no_change(plan)


@pytest.mark.parametrize(
    ("names", "reason"),
    [
        ([""], "the name is empty or has surrounding spaces"),
        ([" pad"], "the name is empty or has surrounding spaces"),
        (["pad "], "the name is empty or has surrounding spaces"),
        (["x" * 51], "the name is longer than 50 bytes"),
        (["视" * 17], "the name is longer than 50 bytes"),  # 51 bytes
        (["a\tb"], "the name has control characters"),
        (["twin", "twin"], "several tokens share this name (a conflict: rename one on the server)"),
        (["live.old-20270110"], "a rotation predecessor (.old-); it is owned by its live name"),
        pytest.param(
            ["a\x7fb"],
            "the name has control characters",
        ),
        pytest.param(
            ["a\x85b"],
            "the name has control characters",
        ),
        (["a\x1b[31mb"], "the name has control characters"),
    ],
)
def test_names_that_cannot_be_exported_are_skipped_with_a_reason(
    names: list[str], reason: str
) -> None:
    tokens = [tok(name) for name in names] + [tok("kept")]
    exported, spec, plan = round_trip(tokens)
    assert exported.skipped == [f"'{text(t.name)}' (id {t.id}): {reason}" for t in tokens[:-1]]
    assert all(line.isprintable() for line in exported.skipped)
    assert [t.name for t in spec.tokens] == ["kept"] and exported.count == 1
    assert_no_change(plan)


_NOT_IP = "allow_ips entry {} is not an IP address or network"
_AUTO_GROUPS = "auto_groups has duplicates or more than 5 entries"


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"allow_ips": "10.0.0.1/8"}, _NOT_IP.format("'10.0.0.1/8'")),
        ({"allow_ips": "example.com"}, _NOT_IP.format("'example.com'")),
        ({"group": "auto", "auto_groups": ["a", "b", "c", "d", "e", "f"]}, _AUTO_GROUPS),
        ({"group": "auto", "auto_groups": ["a", "a"]}, _AUTO_GROUPS),
        (
            {"unlimited_quota": False, "remain_quota": 0, "used_quota": 0},
            "its budget is 0 units, which a file may not declare (it can never make a call): "
            "give it a budget or delete it",
        ),
    ],
)
def test_tokens_whose_settings_a_spec_cannot_hold_are_skipped(
    fields: dict[str, Any], reason: str
) -> None:
    token = tok("odd", **fields)
    exported, _, _ = round_trip([token, tok("kept")])
    assert exported.skipped == [f"'odd' (id {token.id}): {reason}"]


def test_rotation_predecessors_are_owned_by_their_live_name() -> None:
    live = tok("live")
    old = tok("live.old-20270114", expired_time=NOW + 3600)  # within its overlap
    exported, _, plan = round_trip([live, old])
    assert exported.count == 1
    assert_no_change(plan)
    assert [(n.kind, n.name) for n in plan.notices] == [("predecessor", "live.old-20270114")]


def test_an_expired_predecessor_is_the_only_thing_the_next_plan_does() -> None:
    # Not a change export could avoid: the live name owns it, and apply cleans it up.
    old = tok("live.old-20270101", expired_time=NOW - DAY)
    _, _, plan = round_trip([tok("live"), old])
    assert [(a.kind, a.name, a.cleanup) for a in plan.actions] == [
        ("delete", "live.old-20270101", True)
    ]


def test_key_names_that_collide_get_the_id() -> None:
    a, b = tok("a-b", id=5), tok("a_b", id=6)
    exported, spec, plan = round_trip([a, b])
    assert token_block(exported.text, "a-b")[-1] == "    key_name: A_B_5"
    assert token_block(exported.text, "a_b")[-1] == "    key_name: A_B_6"
    assert sorted(t.key_name for t in spec.tokens) == ["A_B_5", "A_B_6"]
    assert_no_change(plan)


# -- once known gaps, now closed ---------------------------------------------------


@pytest.mark.parametrize(
    "tokens",
    [
        pytest.param(
            [tok("a-b", id=5), tok("a_b", id=6), tok("a-b-5", id=7)],
            id="a suffixed key name that is another token's key name",
        ),
        pytest.param(
            [tok("z", created_time=NOW - DAY, expired_time=NOW - 2 * DAY)],
            id="expired before it was created",
        ),
        pytest.param(
            [tok("q", unlimited_quota=False, used_quota=2_000_000_000, remain_quota=500_000_000)],
            id="budget above the server maximum after much use",
        ),
        pytest.param(
            [tok("e", status=TokenStatus.EXPIRED, expired_time=NOW + DAY)],
            id="status expired, expiry extended since",
        ),
        pytest.param(
            [tok("t", status=TokenStatus.EXHAUSTED, unlimited_quota=False, remain_quota=10)],
            id="status exhausted, topped up since",
        ),
    ],
)
def test_round_trips_of_hard_cases(tokens: list[ObservedToken]) -> None:
    _, _, plan = round_trip(tokens)
    assert_no_change(plan)


@pytest.mark.parametrize(
    "leftover", ["app.leaked-20270115", "app.leaked-20270115-2", "app.new-20270115"]
)
def test_leftovers_are_left_out_unless_asked(leftover: str) -> None:
    tokens = [tok("app"), tok(leftover, status=TokenStatus.DISABLED)]
    exported, spec, _ = round_trip(tokens)
    assert [t.name for t in spec.tokens] == ["app"]
    assert exported.left_out == [leftover] and exported.skipped == []
    assert "# Left out 1 leftover (" in exported.text
    everything, spec, plan = round_trip(tokens, include_leftovers=True)
    assert [t.name for t in spec.tokens] == ["app", leftover] and everything.left_out == []
    assert "Left out" not in everything.text
    assert_no_change(plan)


def test_a_rotation_predecessor_stays_skipped_with_its_reason() -> None:
    exported = export_tokens([tok("app.old-20270115")], NOW, include_leftovers=True)
    assert exported.left_out == [] and "rotation predecessor" in exported.skipped[0]
