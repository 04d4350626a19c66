"""Plan and apply end to end: the README's story and every reconcile rule (docs/reconcile.md)."""

from __future__ import annotations

import json

from tests.e2e.conftest import Cli
from tests.e2e.sinkfiles import json_keys
from tests.faults.helpers import NthFault

DAY = 86400

BASIC = """
keys:
  to: json:keys.json
tokens:
  - name: alpha
    quota: 10 USD
    expires: 30d
  - name: beta
    group: vip
    models: [gpt-4o]
    allow_ips: [10.0.0.0/8]
  - name: gamma
    count: 2
"""


def test_create_then_no_op_replan(cli: Cli) -> None:
    cli.spec(BASIC)
    first = cli("apply", "--yes")
    assert first.code == 0, first.all
    assert cli.names() == ["alpha", "beta", "gamma", "gamma-2"]
    alpha = cli.row("alpha")
    assert alpha["remain_quota"] == 10 * 500_000 and not alpha["unlimited_quota"]
    assert alpha["expired_time"] - alpha["created_time"] in range(30 * DAY - 5, 30 * DAY + 5)
    beta = cli.row("beta")
    assert beta["model_limits"] == "gpt-4o" and beta["allow_ips"] == "10.0.0.0/8"
    keys = json_keys(cli.workdir / "keys.json")
    assert sorted(keys) == ["ALPHA", "BETA", "GAMMA", "GAMMA_2"]
    assert keys["ALPHA"] == "sk-" + alpha["key"]
    again = cli("plan", "--detailed-exitcode")
    assert again.code == 0, again.all
    assert "No changes" in again.out


def test_plan_is_read_only_and_detailed_exitcode(cli: Cli) -> None:
    cli.spec(BASIC)
    result = cli("plan", "--detailed-exitcode")
    assert result.code == 2
    assert "+ create  alpha" in result.out and "4 to create" in result.out
    assert cli.names() == []
    assert cli("plan").code == 0


def test_no_diff_after_time_passes_and_traffic(cli: Cli) -> None:
    cli.spec(BASIC)
    assert cli("apply", "--yes").code == 0
    alpha = cli.row("alpha")
    cli.sandbox.consume(alpha["id"], 1_234_567)
    cli.sandbox.advance(3 * DAY)
    result = cli("plan", "--detailed-exitcode")
    assert result.code == 0, result.all


def test_update_budget_tops_up_and_fields(cli: Cli) -> None:
    cli.spec(BASIC)
    assert cli("apply", "--yes").code == 0
    alpha = cli.row("alpha")
    cli.sandbox.consume(alpha["id"], 1_000_000)
    cli.spec(BASIC.replace("10 USD", "20 USD").replace("group: vip", "group: default"))
    plan = cli("plan")
    assert "~ update  alpha" in plan.out and "budget: $10.00" in plan.out
    assert "group: vip -> default" in plan.out
    assert cli("apply", "--yes").code == 0
    alpha = cli.row("alpha")
    assert alpha["used_quota"] == 1_000_000 and alpha["remain_quota"] == 9_000_000
    assert cli.row("beta")["group"] == "default"
    assert cli.row("beta")["model_limits"] == "gpt-4o"  # the rest of the record survived the PUT
    assert cli("plan", "--detailed-exitcode").code == 0


def test_disable_enable_delete(cli: Cli) -> None:
    cli.spec(BASIC)
    assert cli("apply", "--yes").code == 0
    cli.spec(BASIC.replace("  - name: beta\n", "  - name: beta\n    status: disabled\n"))
    result = cli("apply", "--yes")
    assert result.code == 0 and "disable beta" in result.out.replace("  ", " ")
    assert cli.row("beta")["status"] == 2
    cli.spec(BASIC)
    assert cli("apply", "--yes").code == 0
    assert cli.row("beta")["status"] == 1
    cli.spec(BASIC.replace("  - name: beta\n", "  - name: beta\n    status: absent\n"))
    assert cli("apply", "--yes").code == 0
    assert "beta" not in cli.names()
    assert cli("plan", "--detailed-exitcode").code == 0


def test_expired_token_is_revived_by_a_new_expiry(cli: Cli) -> None:
    cli.spec("tokens:\n  - name: old\n    expires: 1d\n")
    assert cli("apply", "--yes").code == 0
    row = cli.row("old")
    cli.sandbox.advance(2 * DAY)
    assert not cli.sandbox.relay_auth(row["key"])  # marks it expired (status 3), lazily
    assert cli.row("old")["status"] == 3
    stuck = cli("plan", "--detailed-exitcode")
    assert stuck.code == 0 and "expired" in stuck.out  # a notice, not an endless diff
    cli.spec("tokens:\n  - name: old\n    expires: 30d\n")
    result = cli("apply", "--yes")
    assert result.code == 0, result.all
    assert "update" in result.out and "enable" in result.out
    assert cli.row("old")["status"] == 1
    assert cli.sandbox.relay_auth(row["key"])


def test_orphans_keep_disable_delete_and_unmanaged(cli: Cli) -> None:
    for name in ("video-a", "video-b", "other"):
        cli.spec(f"tokens:\n  - name: {name}\n", name="seed.yaml")
        assert cli("apply", "--yes", "-f", "seed.yaml").code == 0
    body = 'manage:\n  match: ["video-*"]\n  orphans: {policy}\ntokens:\n  - name: video-a\n'
    cli.spec(body.format(policy="keep"))
    kept = cli("plan", "--detailed-exitcode")
    assert kept.code == 0 and "orphan" in kept.out and "1 unmanaged" in kept.out
    cli.spec(body.format(policy="disable"))
    assert cli("apply", "--yes").code == 0
    assert cli.row("video-b")["status"] == 2 and cli.row("other")["status"] == 1
    cli.spec(body.format(policy="delete"))
    assert cli("apply", "--yes").code == 0
    assert cli.names() == ["other", "video-a"]


def test_count_shrink_removes_the_copies_under_orphans_delete(cli: Cli) -> None:
    # docs/reconcile.md#counted-families; every generation: tests/e2e/test_counted_families.py
    cli.spec("manage:\n  orphans: delete\ntokens:\n  - name: w\n    count: 3\n")
    assert cli("apply", "--yes").code == 0
    assert cli.names() == ["w", "w-2", "w-3"]
    cli.spec("manage:\n  orphans: delete\ntokens:\n  - name: w\n    count: 1\n")
    plan = cli("plan", "--detailed-exitcode")
    assert plan.code == 2, plan.all
    assert "copy of w beyond its count" in plan.out
    assert cli("apply", "--yes").code == 0
    assert cli.names() == ["w"]
    assert cli("plan", "--detailed-exitcode").code == 0


def test_conflict_is_shown_and_refused(cli: Cli) -> None:
    cli.spec("tokens:\n  - name: dup\n", name="one.yaml")
    assert cli("apply", "--yes", "-f", "one.yaml").code == 0
    cli.spec("tokens:\n  - name: dup\n", name="two.yaml")
    # a second copy made by hand (the server does not enforce unique names)
    cli.sandbox.seed(1, prefix="dup-seed-")
    seeded = next(r for r in cli.rows() if r["name"].startswith("dup-seed-"))
    cli.sandbox.store.update_token(seeded["id"], {"name": "dup"})
    cli.spec("tokens:\n  - name: dup\n    group: vip\n")
    plan = cli("plan")
    assert "conflict dup" in plan.out
    result = cli("apply", "--yes", "--force")
    assert result.code == 4 and "conflict" in result.err
    assert all(r["group"] == "" for r in cli.rows() if r["name"] == "dup")


def test_safety_refusal_prints_plan_then_force(cli: Cli) -> None:
    cli.spec("tokens:\n  - name: a\n  - name: b\n")
    assert cli("apply", "--yes").code == 0
    cli.spec(
        "safety:\n  max_deletes: 1\ntokens:\n  - name: a\n    status: absent\n"
        "  - name: b\n    status: absent\n"
    )
    refused = cli("apply", "--yes")
    assert refused.code == 4
    assert "- delete  a" in refused.out  # the plan is printed first
    assert "safety.max_deletes" in refused.err and "2" in refused.err and "--force" in refused.err
    assert cli.names() == ["a", "b"]
    assert cli("apply", "--yes", "--force").code == 0
    assert cli.names() == []


def test_min_idle_refuses_recently_used(cli: Cli) -> None:
    cli.spec("tokens:\n  - name: busy\n")
    assert cli("apply", "--yes").code == 0
    cli.sandbox.advance(60)
    cli.sandbox.consume(cli.row("busy")["id"], 10)
    cli.spec("safety:\n  min_idle: 1h\ntokens:\n  - name: busy\n    status: disabled\n")
    refused = cli("apply", "--yes")
    assert refused.code == 4 and "min_idle" in refused.err
    assert cli.row("busy")["status"] == 1


def test_refuses_without_yes_when_not_a_tty(cli: Cli) -> None:
    cli.spec(BASIC)
    result = cli("apply")
    assert result.code == 64 and "--yes" in result.err
    assert cli.names() == []


def test_saved_plan_applies_and_goes_stale(cli: Cli) -> None:
    cli.spec(BASIC)
    assert cli("apply", "--yes").code == 0
    cli.spec(BASIC.replace("10 USD", "15 USD").replace("group: vip", "group: default"))
    assert cli("plan", "--out", "plan.json").code == 0
    saved = (cli.workdir / "plan.json").read_text()
    assert cli.sandbox.credential not in saved
    # an unrelated change does not make it stale
    cli.sandbox.store.update_token(cli.row("gamma")["id"], {"group": "vip"})
    # traffic does not either
    cli.sandbox.consume(cli.row("alpha")["id"], 100)
    ok = cli("apply", "plan.json", "--yes")
    assert ok.code == 0, ok.all
    assert cli.row("alpha")["remain_quota"] == 15 * 500_000 - 100
    # a plan whose token moved is refused, naming it
    cli.spec(BASIC.replace("10 USD", "25 USD"))
    assert cli("plan", "--out", "plan2.json").code == 0
    cli.sandbox.store.update_token(cli.row("alpha")["id"], {"expired_time": -1})
    stale = cli("apply", "plan2.json", "--yes")
    assert stale.code == 5 and "alpha" in stale.err
    assert cli.row("alpha")["remain_quota"] == 15 * 500_000 - 100


def test_failed_create_is_retried_after_relist_in_the_same_run(cli: Cli) -> None:
    cli.spec(BASIC)
    # after the lock token's POST: ambiguous (may have committed), then committed, no answer
    cli.sandbox.add_fault(NthFault(route="POST /api/token/", status=500, times=1, skip=1))
    cli.sandbox.add_fault(NthFault(route="POST /api/token/", drop="after", times=1, skip=2))
    first = cli("apply", "--yes")
    assert first.code == 0, first.all
    assert "checked by re-listing" in first.out
    assert cli.names() == ["alpha", "beta", "gamma", "gamma-2"]  # no duplicates
    assert cli("plan", "--detailed-exitcode").code == 0


def test_partial_failure_then_rerun_converges(cli: Cli) -> None:
    cli.spec(BASIC)
    assert cli("apply", "--yes").code == 0
    changed = BASIC.replace("10 USD", "20 USD").replace("group: vip", "group: default")
    cli.spec(changed + "  - name: delta\n")
    # the first PUT is rate-limited for an hour: more than this run will wait, so it fails now
    cli.env["PROVISIONER_RETRY"] = "rate_wait=5"
    # (the PUT after the account lock's own: docs/reconcile.md#one-apply-at-a-time)
    cli.sandbox.add_fault(
        NthFault(route="PUT /api/token/", status=429, retry_after=3600, times=1, skip=1)
    )
    first = cli("apply", "--yes")
    assert first.code == 6, first.all
    assert "✗ update  alpha" in first.out and "Apply partly failed" in first.out
    assert cli.row("beta")["group"] == "default" and "delta" in cli.names()
    second = cli("apply", "--yes")
    assert second.code == 0, second.all
    assert cli.names() == ["alpha", "beta", "delta", "gamma", "gamma-2"]
    assert cli.row("alpha")["remain_quota"] == 20 * 500_000
    assert cli("plan", "--detailed-exitcode").code == 0


def test_ambiguous_create_is_resolved_by_relisting(cli: Cli) -> None:
    cli.spec("keys:\n  to: json:keys.json\ntokens:\n  - name: solo\n")
    cli.sandbox.add_fault(NthFault(route="POST /api/token/", drop="after", times=1, skip=1))
    result = cli("apply", "--yes")
    assert result.code == 0, result.all
    assert cli.names() == ["solo"]
    posts = [r for r in cli.sandbox.requests if r[0] == "POST" and r[1] == "/api/token/"]
    assert len(posts) == 2  # the lock token's, and solo's: never sent twice


def test_dropped_before_commit_is_created_once_after_relist(cli: Cli) -> None:
    cli.spec("tokens:\n  - name: solo\n")
    cli.sandbox.add_fault(NthFault(route="POST /api/token/", drop="before", times=1, skip=1))
    result = cli("apply", "--yes")
    assert result.code == 0, result.all
    assert cli.names() == ["solo"]


def test_export_round_trip(cli: Cli) -> None:
    cli.spec(BASIC)
    assert cli("apply", "--yes").code == 0
    cli.sandbox.consume(cli.row("alpha")["id"], 777)
    assert cli("apply", "--yes", "-f", "tokens.yaml").code == 0
    exported = cli("export", "--out", "exported.yaml")
    assert exported.code == 0, exported.all
    assert cli("validate", "-f", "exported.yaml").code == 0
    again = cli("plan", "-f", "exported.yaml", "--detailed-exitcode")
    assert again.code == 0, again.all + (cli.workdir / "exported.yaml").read_text()


def test_json_and_markdown_plans(cli: Cli, tmp_path) -> None:
    cli.spec(BASIC)
    data = json.loads(cli("plan", "--output", "json").out)
    assert data["schema_version"] == 1 and data["summary"]["create"] == 4
    assert [a["name"] for a in data["actions"]] == ["alpha", "beta", "gamma", "gamma-2"]
    summary = tmp_path / "summary.md"
    md = cli(
        "plan",
        "--output",
        "markdown",
        env={"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)},
    )
    assert md.code == 0 and "| create |" in md.out
    assert "provisioner plan" in summary.read_text()


def test_apply_json_report(cli: Cli) -> None:
    cli.spec(BASIC)
    data = json.loads(cli("apply", "--yes", "--output", "json").out)
    assert data["kind"] == "apply"
    assert {r["status"] for r in data["results"]} == {"ok"}
    assert sorted(r["name"] for r in data["results"] if r["kind"] == "deliver") == [
        "alpha",
        "beta",
        "gamma",
        "gamma-2",
    ]


def test_invalid_spec_sends_nothing(cli: Cli) -> None:
    cli.spec("tokens:\n  - name: a\n    qouta: 5\n")
    result = cli("apply", "--yes")
    assert result.code == 65 and "tokens.yaml:4:5" in result.err
    assert cli.sandbox.requests == []


def test_apply_appends_plan_and_outcome_to_the_step_summary(cli: Cli, tmp_path) -> None:
    cli.spec("tokens:\n  - name: summed\n")
    summary = tmp_path / "summary.md"
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    assert cli("apply", "--yes", env=env).code == 0
    text = summary.read_text()
    assert "+ create summed" in text and "Apply complete" in text


def test_renamed_from_renames_in_place_and_keeps_the_key(cli: Cli) -> None:
    cli.spec("keys:\n  to: json:keys.json\ntokens:\n  - name: old-name\n    quota: 1 USD\n")
    assert cli("apply", "--yes").code == 0
    before = cli.row("old-name")
    cli.spec(
        "keys:\n  to: json:keys.json\ntokens:\n  - name: new-name\n    quota: 2 USD\n"
        "    renamed_from: old-name\n"
    )
    plan = cli("plan", "--detailed-exitcode")
    assert plan.code == 2, plan.all
    assert "rename  old-name -> new-name" in plan.out and "create" not in plan.out.split("Plan:")[0]
    assert json.loads(cli("--output", "json", "plan").out)["actions"][0]["kind"] == "rename"
    applied = cli("apply", "--yes")
    assert applied.code == 0, applied.all
    after = cli.row("new-name")
    assert (after["id"], after["key"]) == (before["id"], before["key"])  # the same key
    assert after["remain_quota"] == 2 * 500_000
    assert "old-name" not in cli.names()
    keys = json_keys(cli.workdir / "keys.json")
    assert keys["NEW_NAME"] == "sk-" + after["key"]  # delivered under its new key name
    again = cli("plan", "--detailed-exitcode")
    assert again.code == 0, again.all
    # renamed_from can stay in the file (it names a token that no longer exists), or go
    cli.spec("keys:\n  to: json:keys.json\ntokens:\n  - name: new-name\n    quota: 2 USD\n")
    assert cli("plan", "--detailed-exitcode").code == 0


def test_renamed_from_is_refused_where_it_cannot_mean_one_thing(cli: Cli) -> None:
    cli.spec("tokens:\n  - name: a\n    renamed_from: a\n")
    assert cli("validate").code == 65
    cli.spec("tokens:\n  - name: a\n  - name: b\n    renamed_from: a\n")
    result = cli("validate")
    assert result.code == 65 and "declared too" in result.err
    cli.spec("tokens:\n  - name: a\n    count: 2\n    renamed_from: z\n")
    assert cli("validate").code == 65


def test_keys_of_deleted_tokens_leave_the_sink(cli: Cli) -> None:
    cli.spec("keys:\n  to: dotenv:keys.env\ntokens:\n  - name: stays\n  - name: goes\n")
    assert cli("apply", "--yes").code == 0
    keys = cli.workdir / "keys.env"
    keys.write_text(keys.read_text() + "MINE=kept-by-hand\n")
    cli.spec(
        "keys:\n  to: dotenv:keys.env\ntokens:\n  - name: stays\n  - name: goes\n"
        "    status: absent\n"
    )
    applied = cli("apply", "--yes")
    assert applied.code == 0, applied.all
    assert "Removed from dotenv:keys.env, their tokens being deleted: GOES" in applied.out
    text = keys.read_text()
    assert "GOES=" not in text and "STAYS=sk-" in text and "MINE=kept-by-hand" in text
