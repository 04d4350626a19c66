"""Safe by default, end to end through the real CLI against the sandbox.

Default safety limits and protection (docs/reconcile.md#safety), rotation needs
a sink and dates do not rot (docs/spec.md#rules-across-fields), keys never go
to the wrong place (docs/sinks.md), ``provisioner delete``, ``export --out`` and
``plan --out`` that lose nothing, and the small things a user trips over.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from provisioner.listing.findings import FINDING_KINDS
from tests.e2e.conftest import Cli, run_in_pty
from tests.e2e.sinkfiles import json_keys

DAY = 86400
WRITES = ("POST", "PUT", "DELETE")


def _writes(cli: Cli) -> list[tuple[str, str, int]]:
    return [r for r in cli.sandbox.requests if r[0] in WRITES]


def _user_names(cli: Cli) -> list[str]:
    return [n for n in cli.names() if not n.startswith("provisioner.lock.")]


# --------------------------------------------------------------------------- 1. safety


def test_no_safety_block_refuses_a_mass_delete_until_forced(cli: Cli) -> None:
    cli.spec("tokens:\n  - name: svc\n    count: 8\n")
    assert cli("apply", "--yes").code == 0
    cli.spec("manage: {match: ['svc*'], orphans: delete}\ntokens:\n  - name: svc\n")
    refused = cli("apply", "--yes")
    assert refused.code == 4, refused.all
    assert "safety.max_deletes (default): the plan deletes 7 tokens" in refused.err
    assert "max(5, 25% of 8 owned tokens) = 5" in refused.err
    assert "set `safety: {max_deletes: 7}` in the file, or pass --force" in refused.err
    assert len(_user_names(cli)) == 8  # nothing was deleted
    forced = cli("apply", "--yes", "--force")
    assert forced.code == 0, forced.all
    assert _user_names(cli) == ["svc"]


def test_an_explicit_safety_value_replaces_the_default(cli: Cli) -> None:
    cli.spec("tokens:\n  - name: svc\n    count: 8\n")
    assert cli("apply", "--yes").code == 0
    cli.spec(
        "manage: {match: ['svc*'], orphans: delete}\nsafety: {max_deletes: 7}\n"
        "tokens:\n  - name: svc\n"
    )
    result = cli("apply", "--yes")
    assert result.code == 0, result.all
    assert _user_names(cli) == ["svc"]


def test_no_safety_block_refuses_a_mass_disable(cli: Cli) -> None:
    cli.spec("tokens:\n  - name: svc\n    count: 7\n")
    assert cli("apply", "--yes").code == 0
    cli.spec("manage: {match: ['svc*'], orphans: disable}\ntokens:\n  - name: svc\n")
    refused = cli("apply", "--yes")
    assert refused.code == 4
    assert "safety.max_disables (default): the plan disables 6 tokens" in refused.err
    assert [r["status"] for r in cli.rows()] == [1] * 7


def test_expired_rotation_leftovers_do_not_count(cli: Cli) -> None:
    cli.spec(
        "keys: {to: json:keys.json}\n"
        "tokens:\n  - name: job\n    count: 6\n    rotate: {every: 1d, overlap: 1h}\n"
    )
    assert cli("apply", "--yes").code == 0
    cli.sandbox.advance(DAY + 60)
    rotated = cli("apply", "--yes")
    assert rotated.code == 0, rotated.all
    assert len([n for n in _user_names(cli) if ".old-" in n]) == 6
    cli.sandbox.advance(2 * 3600)
    cleanup = cli("apply", "--yes")  # six deletes, all expired predecessors: not refused
    assert cleanup.code == 0, cleanup.all
    assert not [n for n in _user_names(cli) if ".old-" in n]


README_TOKEN = """
keys: {to: json:keys.json}
tokens:
  - name: storyboard-video
    protected: true
    rotate: {every: 90d, overlap: 7d}
"""


def test_a_protected_token_rotates_on_its_own_schedule_only(cli: Cli) -> None:
    cli.spec(README_TOKEN)
    assert cli("apply", "--yes").code == 0
    first = cli.row("storyboard-video")
    cli.sandbox.advance(91 * DAY)
    due = cli("apply", "--yes")
    assert due.code == 0, due.all
    second = cli.row("storyboard-video")
    assert second["id"] != first["id"]
    keys = json_keys(cli.workdir / "keys.json")
    assert keys["STORYBOARD_VIDEO"] == "sk-" + second["key"]

    asked = cli("rotate", "storyboard-video", "--yes")  # not due: protection refuses
    assert asked.code == 4, asked.all
    assert "protected" in asked.err and "rotate.every schedule" in asked.err
    assert cli.row("storyboard-video")["id"] == second["id"]
    assert cli("rotate", "storyboard-video", "--yes", "--force").code == 0


def test_a_protected_token_is_never_disabled_or_deleted(cli: Cli) -> None:
    cli.spec("tokens:\n  - name: keep\n    protected: true\n")
    assert cli("apply", "--yes").code == 0
    for status in ("disabled", "absent"):
        cli.spec(f"tokens:\n  - name: keep\n    protected: true\n    status: {status}\n")
        result = cli("apply", "--yes")
        assert result.code == 4, result.all
        assert "'keep' is protected: true" in result.err
        assert cli.row("keep")["status"] == 1


def test_a_name_conflict_names_the_ids_and_the_way_out(cli: Cli) -> None:
    cli.spec("tokens:\n  - name: dup\n")
    first = cli.insert(name="dup", remain_quota=0, unlimited_quota=True)
    second = cli.insert(name="dup", remain_quota=0, unlimited_quota=True)
    refused = cli("apply", "--yes")
    assert refused.code == 4
    assert f"(ids {first}, {second})" in refused.err
    assert "provisioner delete ID..." in refused.err
    deleted = cli("delete", str(second), "--yes")
    assert deleted.code == 0, deleted.all
    assert cli("apply", "--yes").code == 0
    assert cli.row("dup")["id"] == first


# --------------------------------------------------------------------------- 2, 3. the file


def test_rotate_without_keys_to_is_invalid_before_any_request(cli: Cli) -> None:
    path = cli.spec("tokens:\n  - name: a\n  - name: b\n    rotate: {every: 30d}\n")
    result = cli("validate")
    assert result.code == 65
    assert "tokens.yaml:5:5: rotate needs keys.to" in result.err
    assert "keys: {to: keyring}" in result.err
    assert cli("plan").code == 65 and cli.sandbox.requests == []
    path.write_text(path.read_text() + "keys: {to: keyring}\n")
    assert cli("validate").code == 0


def test_a_date_that_has_passed_warns_and_fails_nothing(cli: Cli) -> None:
    cli.spec("keys: {to: json:keys.json}\ntokens:\n  - name: old\n    expires: 2021-06-01\n")
    validated = cli("validate")
    assert validated.code == 0, validated.err
    assert "tokens.yaml:5:14: token 'old': expiry 2021-06-01" in validated.err
    assert "has passed" in validated.err and "(warning)" in validated.err
    cli.insert(name="old", remain_quota=0, unlimited_quota=True)
    for argv in (["list"], ["check"], ["reveal", "old"]):
        result = cli(*argv)
        assert result.code == 0, (argv, result.all)
    assert "OLD" in json_keys(cli.workdir / "keys.json")


# --------------------------------------------------------------------------- 4. sinks


@pytest.mark.parametrize("command", [["apply", "--yes"], ["rotate", "a", "--yes"], ["reveal", "a"]])
@pytest.mark.parametrize("output", ["json", "markdown"])
def test_stdout_sink_with_data_output_is_refused_before_anything_is_sent(
    cli: Cli, command: list[str], output: str
) -> None:
    cli.spec("tokens:\n  - name: a\n")
    result = cli(*command, "--keys-to", "stdout", "--output", output)
    assert result.code == 64
    assert f"--keys-to stdout cannot be used with --output {output}" in result.err
    assert cli.sandbox.requests == []


def test_keys_to_stdout_in_the_file_with_json_is_refused_by_reveal(cli: Cli) -> None:
    cli.spec("keys: {to: stdout}\ntokens:\n  - name: a\n")
    result = cli("reveal", "a", "--output", "json")
    assert result.code == 64 and "key sink stdout cannot be used" in result.err
    assert cli.sandbox.requests == []
    assert json.loads(result.out)["error"]["exit_code"] == 64  # and no key, of course


@pytest.mark.parametrize(
    ("sink", "content", "expected"),
    [
        ("dotenv:tokens.yaml", None, "tokens.yaml is a .yaml file, not a dotenv file"),
        ("dotenv:config.json", None, "config.json is a .json file, not a dotenv file"),
        ("dotenv:notes", "# notes\nhello world\n", "line 2 is not KEY=VALUE"),
        ("json:keys.json", "[1, 2]\n", "holds JSON that is not an object"),
        ("json:keys.json", "KEY=sk-1\n", "is not valid JSON"),
    ],
)
def test_a_sink_file_that_is_something_else_is_refused(
    cli: Cli, sink: str, content: str | None, expected: str
) -> None:
    spec = cli.spec("tokens:\n  - name: a\n")
    target = cli.workdir / sink.split(":", 1)[1]
    if content is not None:
        target.write_text(content)
    before = spec.read_text(), target.read_text() if target.exists() else None
    cli.insert(name="a", remain_quota=0, unlimited_quota=True)
    result = cli("reveal", "a", "--keys-to", sink)
    assert result.code == 64, result.all
    assert expected in result.err
    assert cli.sandbox.requests == []  # refused before the server was asked anything
    assert (spec.read_text(), target.read_text() if target.exists() else None) == before
    applied = cli("apply", "--yes", "--keys-to", sink)  # apply refuses it too, before any change
    assert applied.code == 64 and expected in applied.err
    assert _user_names(cli) == ["a"]
    assert (spec.read_text(), target.read_text() if target.exists() else None) == before


def test_the_spec_file_is_never_a_sink_whatever_its_name(cli: Cli) -> None:
    spec = cli.spec("tokens:\n  - name: a\n", name="spec.env")
    before = spec.read_text()
    result = cli("reveal", "a", "-f", "spec.env", "--keys-to", "dotenv:./spec.env")
    assert result.code == 64 and "is the spec file itself" in result.err
    applied = cli("apply", "--yes", "-f", "spec.env", "--keys-to", "dotenv:spec.env")
    assert applied.code == 64 and "is the spec file itself" in applied.err
    assert spec.read_text() == before and _user_names(cli) == []


def test_a_dotenv_file_with_other_entries_is_merged(cli: Cli) -> None:
    cli.spec("tokens:\n  - name: a\n")
    keys = cli.workdir / "keys.env"
    keys.write_text("# mine\nexport OTHER='x y'\nMULTI=\"one\ntwo\"\n\n")
    assert cli("apply", "--yes", "--keys-to", "dotenv:keys.env").code == 0
    text = keys.read_text()
    assert text.startswith("# mine\nexport OTHER='x y'\nMULTI=\"one\ntwo\"\n")
    assert f"A=sk-{cli.row('a')['key']}\n" in text


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def test_a_sink_file_git_would_commit_gets_a_warning(cli: Cli) -> None:
    _git(cli.workdir, "init", "-q")
    cli.spec("keys: {to: dotenv:secrets/keys.env}\ntokens:\n  - name: a\n")
    result = cli("apply", "--yes")
    assert result.code == 0, result.all
    assert (
        "warning: secrets/keys.env is inside a git work tree and not ignored: "
        "add it to .gitignore" in result.err
    )
    (cli.workdir / ".gitignore").write_text("secrets/\n")
    quiet = cli("reveal", "a")
    assert quiet.code == 0 and "git work tree" not in quiet.err


def test_no_git_work_tree_no_warning(cli: Cli) -> None:
    cli.spec("keys: {to: dotenv:keys.env}\ntokens:\n  - name: a\n")
    result = cli("apply", "--yes")
    assert result.code == 0 and "git" not in result.err


# --------------------------------------------------------------------------- 5. delete


def test_delete_shows_asks_and_deletes(cli: Cli) -> None:
    keep = cli.insert(name="twin", remain_quota=0, unlimited_quota=True)
    extra = cli.insert(name="twin", remain_quota=0, unlimited_quota=True, status=2)
    refused = cli("delete", str(extra))  # stdin is not a terminal
    assert refused.code == 64 and "pass --yes" in refused.err
    assert f"delete  twin (id {extra})  disabled, last used never" in refused.out
    assert sorted(r["id"] for r in cli.rows()) == [keep, extra]

    done = cli("delete", str(extra), "--yes")
    assert done.code == 0, done.all
    assert f"✓ delete  twin (id {extra})" in done.out and "Deleted 1 token." in done.out
    assert [r["id"] for r in cli.rows()] == [keep]


def test_delete_of_an_id_not_on_the_account_deletes_nothing(cli: Cli) -> None:
    mine = cli.insert(name="mine", remain_quota=0, unlimited_quota=True)
    other = cli.sandbox.store.insert_tokens(
        [{"user_id": cli.sandbox.user_id + 1, "name": "theirs", "created_time": 0}]
    )[0]
    for missing in (other, 999_999):
        result = cli("delete", str(mine), str(missing), "--yes")
        assert result.code == 1
        assert f"id {missing}: not a token of this account" in result.err
        assert "nothing was deleted" in result.err
    assert _writes(cli) == [] and [r["id"] for r in cli.rows()] == [mine]


def test_delete_json(cli: Cli) -> None:
    token_id = cli.insert(name="gone", remain_quota=0, unlimited_quota=True)
    result = cli("delete", str(token_id), "--yes", "--output", "json")
    assert result.code == 0, result.all
    data = json.loads(result.out)
    assert data["kind"] == "delete" and data["summary"] == {
        "requested": 1,
        "deleted": 1,
        "failed": 0,
    }
    assert data["tokens"] == [
        {
            "id": token_id,
            "name": "gone",
            "status": "enabled",
            "last_used_time": None,
            "deleted": True,
            "error": "",
        }
    ]


def test_delete_asks_on_a_terminal(cli: Cli) -> None:
    token_id = cli.insert(name="asked", remain_quota=0, unlimited_quota=True)
    code, screen = run_in_pty(cli, ["delete", str(token_id)], [(b"Enter a value", b"yes\n")])
    assert code == 0, screen
    assert f"delete  asked (id {token_id})" in screen and cli.rows() == []


# --------------------------------------------------------------------------- 6. files


def test_export_never_overwrites_without_force(cli: Cli) -> None:
    cli.insert(name="a", remain_quota=0, unlimited_quota=True)
    spec = cli.spec("tokens: []\n")
    refused = cli("export", "--out", "tokens.yaml")
    assert refused.code == 64
    assert "--out tokens.yaml: the file exists" in refused.err and "--force" in refused.err
    assert spec.read_text() == "version: 1\ntokens: []\n" and cli.sandbox.requests == []
    forced = cli("export", "--out", "tokens.yaml", "--force")
    assert forced.code == 0 and "name: a" in spec.read_text()
    fresh = cli("export", "--out", "exported.yaml")
    assert fresh.code == 0 and "wrote 1 token to exported.yaml" in fresh.err


@pytest.mark.parametrize(
    ("out", "expected"),
    [
        ("missing/plan.json", "the folder missing does not exist"),
        (".", "is a directory"),
    ],
)
def test_plan_out_to_a_place_that_cannot_hold_it(cli: Cli, out: str, expected: str) -> None:
    cli.spec("tokens:\n  - name: a\n")
    result = cli("plan", "--out", out)
    assert result.code == 64, result.all
    assert f"--out {out}" in result.err and expected in result.err
    assert "internal error" not in result.err


# --------------------------------------------------------------------------- 7. polish


def test_apply_of_a_spec_file_says_what_was_meant(cli: Cli) -> None:
    cli.spec("tokens:\n  - name: a\n")
    result = cli("apply", "tokens.yaml")
    assert result.code == 64
    assert "tokens.yaml is a spec file, not a saved plan" in result.err
    assert "did you mean `provisioner apply -f tokens.yaml`?" in result.err.lower()
    assert cli.sandbox.requests == []


def test_url_and_sandbox_together_are_refused(cli: Cli) -> None:
    result = cli("plan", "--sandbox", "--url", "https://api.example.com")
    assert result.code == 64 and "--sandbox" in result.err and "--url" in result.err


def test_spec_from_stdin(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    def stdin(text: str) -> None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode())))

    stdin("version: 1\ntokens:\n  - name: a\n    quota: 1.5\n")
    bad = cli("validate", "-f", "-")
    assert bad.code == 65 and "<stdin>:4:12: quota 1.5 is not a whole number" in bad.err
    stdin("version: 1\ntokens:\n  - name: piped\n")
    planned = cli("plan", "-f", "-")
    assert planned.code == 0 and "+ create  piped" in planned.out


def test_an_empty_newapi_token_is_named_as_such(cli: Cli) -> None:
    cli.spec("tokens: []\n")
    result = cli("plan", env={"NEWAPI_TOKEN": ""})
    assert result.code == 77
    assert "NEWAPI_TOKEN is set but empty" in result.err and "are not set" not in result.err


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["plan", "--no-such-flag"], 64),
        (["delete", "999"], 1),
        (["plan", "--sandbox", "--url", "https://x.example"], 64),
    ],
)
def test_json_output_errors_are_json(cli: Cli, argv: list[str], code: int) -> None:
    cli.spec("tokens: []\n")
    result = cli(*argv, "--output", "json")
    assert result.code == code
    data = json.loads(result.out)
    assert data["schema_version"] == 1 and data["error"]["exit_code"] == code
    assert data["error"]["message"] and data["error"]["message"] in result.err


def test_a_json_error_escapes_what_could_disguise_it(cli: Cli) -> None:
    """The error document is escaped as every other one (render.safe.json_text): a bidi
    override in a file name is ``\\u202e`` on stdout, and reads back exact."""
    name = "bad\u202egnp.yaml"
    result = cli("plan", "-f", name, "--output", "json")
    assert result.code == 65, result.all
    assert "\u202e" not in result.out and "\\u202e" in result.out
    assert json.loads(result.out)["error"]["message"].startswith(f"{name}: invalid spec")


def test_a_refusal_in_json_stays_one_document(cli: Cli) -> None:
    cli.spec("tokens:\n  - name: a\n    protected: true\n")
    assert cli("apply", "--yes").code == 0
    cli.spec("tokens:\n  - name: a\n    protected: true\n    status: absent\n")
    result = cli("apply", "--yes", "--output", "json")
    assert result.code == 4
    assert "error" not in json.loads(result.out)  # the plan, with its violations


def test_a_huge_value_is_not_echoed_whole(cli: Cli) -> None:
    name = "n" * 5_000_000
    cli.spec(f"tokens:\n  - name: {name}\n")
    result = cli("validate")
    assert result.code == 65
    assert "'" + "n" * 60 + "...'" in result.err
    assert len(result.err) < 1000


def test_counts_are_in_good_grammar(cli: Cli) -> None:
    cli.spec("tokens:\n  - name: a\n")
    assert "tokens.yaml: valid, 1 token\n" in cli("validate").err
    cli.spec("tokens:\n  - name: a\n    quota: 1.5\n")
    assert "tokens.yaml: 1 error\n" in cli("validate").err


def test_help_explains_every_flag() -> None:
    from provisioner.cli import build_parser

    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for name in ("rotate", "list", "delete", "export"):
        for action in commands[name]._actions:
            assert action.help, f"{name} {action.option_strings or action.dest} has no help"
    text = re.sub(r"\s+", " ", re.sub(r"-\n\s+", "-", commands["list"].format_help()))
    fail_on = text.split("--fail-on FINDING[,FINDING...] ", 1)[1]
    assert fail_on.startswith(
        "exit 8 when any of these findings is present: any, " + ", ".join(FINDING_KINDS)
    )


def test_list_waits_a_day_before_never_used_and_says_predecessor(cli: Cli) -> None:
    cli.spec("keys: {to: json:keys.json}\ntokens:\n  - name: fresh\n")
    assert cli("apply", "--yes").code == 0
    assert cli("rotate", "fresh", "--yes").code == 0
    data = json.loads(cli("list", "--output", "json").out)
    assert not [f for f in data["findings"] if f["kind"] in ("never-used", "undeclared")]
    owner = {t["name"]: t["ownership"] for t in data["tokens"]}
    (old,) = [n for n in owner if n.startswith("fresh.old-")]
    assert owner == {"fresh": "managed", old: "predecessor"}
    cli.sandbox.advance(2 * DAY)
    later = json.loads(cli("list", "--output", "json").out)
    assert {f["name"] for f in later["findings"] if f["kind"] == "never-used"} >= {"fresh"}


def test_names_without_ascii_letters_get_distinct_key_names(cli: Cli) -> None:
    cli.spec(
        "keys: {to: json:keys.json}\n"
        "tokens:\n  - name: 视频生成接口\n    count: 2\n  - name: 图片生成接口\n"
    )
    assert cli("apply", "--yes").code == 0
    keys = json_keys(cli.workdir / "keys.json")
    assert len(keys) == 3
    video = [k for k in keys if k.startswith("TOKEN_") and k.endswith("_2")]
    assert len(video) == 1 and video[0].removesuffix("_2") in keys
    assert all(k.startswith("TOKEN_") for k in keys)


def test_more_tokens_than_the_cap_is_a_warning_naming_where_the_cap_comes_from(
    cli: Cli,
) -> None:
    cli.spec(
        "tokens:\n  - name: t\n    count: 100\n"
        + "".join(f"  - name: u{i}\n    count: 100\n" for i in range(10))
    )
    result = cli("validate")
    assert result.code == 0
    assert "declares 1,100 tokens (after count), more than 1,000" in result.err
    assert "MaxUserTokens" in result.err and "server.max_tokens" in result.err
    cli.spec(
        "server: {max_tokens: 2000}\ntokens:\n"
        + "".join(f"  - name: u{i}\n    count: 100\n" for i in range(11))
    )
    assert "more than" not in cli("validate").err
