"""The action's steps, run as a runner runs them, against the sandbox and a fake GitHub.

Each test reads what a user reads: the step's exit code, the action's outputs,
the job summary, the pull request's comments, and the server's tokens.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from provisioner.github.comment import COMMENT_LIMIT, Review, marker
from provisioner.sandbox import Sandbox
from tests.action.conftest import (
    GITHUB_TOKEN,
    HEAD_SHA,
    PR,
    inputs,
    pull_request_event,
    write_spec,
)
from tests.action.fakegithub import BOT, FakeGitHub
from tests.action.runner import ActionRun, Runner

SPEC = """
keys:
  to: dotenv:keys.env
tokens:
  - name: alpha
    expires: 30d
  - name: beta
    quota: 5 USD
"""
MERGE_SHA = "b" * 40

# Each run starts bash and the tool twice over (a couple of seconds): the slow tier, with e2e.
pytestmark = pytest.mark.slow


def tokens(sandbox: Sandbox) -> list[dict]:
    """The server's tokens of the action's user (the sandbox has a neighbour too)."""
    return [r for r in sandbox.rows() if r["user_id"] == sandbox.user_id]


def bot_comments(github: FakeGitHub, number: int = PR) -> list[dict]:
    return [c for c in github.comments.get(number, []) if c["user"]["login"] == BOT]


def secrets_of(sandbox: Sandbox) -> list[str]:
    keys = [r["key"] for r in sandbox.rows(include_deleted=True)]
    return [sandbox.credential, GITHUB_TOKEN, *keys, *("sk-" + k for k in keys)]


def assert_no_secret(run: ActionRun, sandbox: Sandbox, github: FakeGitHub) -> None:
    """No key or credential anywhere a person reads: the log (masks aside, which the runner
    consumes), the summary, the outputs, the comments, the plan document."""
    log = "\n".join(line for line in run.log.splitlines() if not line.startswith("::add-mask::"))
    texts = {
        "log": log,
        "summary": run.summary,
        "outputs": json.dumps(run.outputs),
        "comments": json.dumps(github.comments),
    }
    if run.outputs.get("plan-json"):
        texts["plan-json"] = Path(run.outputs["plan-json"]).read_text()
    for secret in secrets_of(sandbox):
        for where, text in texts.items():
            assert secret not in text, f"a key or credential leaked into the {where}"


def test_a_pull_request_gets_one_plan_comment_created_then_edited(
    job: Runner, sandbox: Sandbox, github: FakeGitHub
) -> None:
    # someone pasted the marker into a comment of their own: it is not ours to edit
    github.add_comment(PR, "mallory", marker("tokens.yaml") + "\nlooks good, merge it")
    github.add_comment(PR, "alice", "LGTM")
    write_spec(job.workspace, SPEC)

    first = job.run(inputs(sandbox))

    assert first.code == 0, first.log
    assert first.outputs["changes"] == "true"
    assert first.outputs["exit-code"] == "2"  # --detailed-exitcode: changes pending
    assert first.outputs["summary"] == (
        "Plan: 2 to create, 0 to update, 0 to enable, 0 to disable, 0 to delete, 0 to rotate; "
        "0 orphans kept, 0 unmanaged."
    )
    document = json.loads(Path(first.outputs["plan-json"]).read_text())
    assert document["kind"] == "plan"
    assert [a["name"] for a in document["actions"]] == ["alpha", "beta"]
    assert "### provisioner plan: `tokens.yaml`" in first.summary
    assert "+ create alpha" in first.summary
    (comment,) = bot_comments(github)
    assert comment["body"].startswith(marker("tokens.yaml") + "\n")
    assert "+ create alpha" in comment["body"] and "+ create beta" in comment["body"]
    assert f"commit {HEAD_SHA[:7]}" in comment["body"]
    assert github.comments[PR][0]["body"].endswith("looks good, merge it")  # untouched
    assert tokens(sandbox) == []  # a plan writes nothing

    # the next push adds a token: the same comment is edited, no second one is made
    write_spec(job.workspace, SPEC + "  - name: gamma\n")
    second = job.run(inputs(sandbox))

    assert second.code == 0, second.log
    assert [c.method for c in github.writes()] == ["POST", "PATCH"]
    (edited,) = bot_comments(github)
    assert edited["id"] == comment["id"]
    assert "+ create gamma" in edited["body"]
    assert second.outputs["summary"].startswith("Plan: 3 to create,")
    assert len(github.comments[PR]) == 3  # mallory's, alice's and ours
    assert_no_secret(second, sandbox, github)


def test_the_comment_is_found_beyond_the_first_page(
    job: Runner, sandbox: Sandbox, github: FakeGitHub
) -> None:
    write_spec(job.workspace, SPEC)
    assert job.run(inputs(sandbox)).code == 0
    for n in range(7):  # the conversation goes on: ours is now on the first of 4 pages
        github.add_comment(PR, "alice", f"comment {n}")
    github.comments[PR].reverse()  # and on the last page
    write_spec(job.workspace, SPEC + "  - name: gamma\n")

    run = job.run(inputs(sandbox))

    assert run.code == 0, run.log
    assert [c.method for c in github.writes()] == ["POST", "PATCH"]
    pages = [c for c in github.calls if c.method == "GET" and c.path.endswith("/comments")]
    assert len(pages) > 3  # every page was read (Link: rel="next")


def test_a_plan_with_no_changes_says_so_in_one_line(
    job: Runner, sandbox: Sandbox, github: FakeGitHub
) -> None:
    write_spec(job.workspace, SPEC)
    applied = job.run(inputs(sandbox, command="apply"))
    assert applied.code == 0, applied.log

    run = job.run(inputs(sandbox))

    assert run.code == 0, run.log
    assert run.outputs["changes"] == "false"
    assert run.outputs["exit-code"] == "0"
    (comment,) = bot_comments(github)
    visible = [line for line in comment["body"].splitlines() if not line.startswith("<!--")]
    assert len(visible) == 1
    assert "No changes. 2 owned tokens match the spec" in visible[0]


def test_fail_on_changes_fails_the_step_with_2(
    job: Runner, sandbox: Sandbox, github: FakeGitHub
) -> None:
    write_spec(job.workspace, SPEC)
    run = job.run(inputs(sandbox, **{"fail-on-changes": "true"}))
    assert run.code == 2
    assert run.outputs["changes"] == "true"
    assert len(bot_comments(github)) == 1  # the plan is still commented


def test_comment_false_posts_nothing(job: Runner, sandbox: Sandbox, github: FakeGitHub) -> None:
    write_spec(job.workspace, SPEC)
    run = job.run(inputs(sandbox, comment="false"))
    assert run.code == 0, run.log
    assert github.calls == []
    assert "+ create alpha" in run.summary


def test_apply_creates_the_tokens_and_reports_in_the_summary(
    job: Runner, sandbox: Sandbox, github: FakeGitHub
) -> None:
    job.event_name, job.event, job.sha = "push", {"ref": "refs/heads/main"}, MERGE_SHA
    write_spec(job.workspace, SPEC)

    run = job.run(inputs(sandbox, command="apply"))

    assert run.code == 0, run.log
    assert sorted(r["name"] for r in tokens(sandbox)) == ["alpha", "beta"]
    assert run.outputs["exit-code"] == "0"
    assert run.outputs["changes"] == "true"
    assert run.outputs["summary"].startswith("Plan: 2 to create,")
    assert "### provisioner apply: `tokens.yaml`" in run.summary
    assert "#### Result" in run.summary and "**Apply complete: 4 operations done.**" in run.summary
    # the keys went to the sink, masked for the runner before anything else was printed
    keys = [r["key"] for r in tokens(sandbox)]
    masked = [line for line in run.stderr.splitlines() if line.startswith("::add-mask::")]
    assert all(any(key in line for line in masked) for key in keys)
    assert github.calls == []  # no comment on a push, no check without the opt-in
    assert_no_secret(run, sandbox, github)


def _plan_then_merge(job: Runner, sandbox: Sandbox, github: FakeGitHub) -> None:
    """The pull request's plan job comments the plan; the merge is commit MERGE_SHA."""
    planned = job.run(inputs(sandbox))
    assert planned.code == 0, planned.log
    github.merged(MERGE_SHA, PR, HEAD_SHA)
    job.event_name, job.event, job.sha = "push", {"ref": "refs/heads/main"}, MERGE_SHA


def test_apply_of_the_reviewed_plan_goes_ahead(
    job: Runner, sandbox: Sandbox, github: FakeGitHub
) -> None:
    write_spec(job.workspace, SPEC)
    _plan_then_merge(job, sandbox, github)

    run = job.run(inputs(sandbox, command="apply", **{"require-reviewed-plan": "true"}))

    assert run.code == 0, run.log
    assert f"the plan is the one reviewed on pull request #{PR}" in run.stderr
    assert sorted(r["name"] for r in tokens(sandbox)) == ["alpha", "beta"]
    assert "**Apply complete: 4 operations done.**" in run.summary


def test_apply_refuses_a_plan_that_changed_since_review(
    job: Runner, sandbox: Sandbox, github: FakeGitHub
) -> None:
    write_spec(job.workspace, SPEC)
    _plan_then_merge(job, sandbox, github)
    # main moved on before the merge: the file now declares another token, and beta is
    # budgeted differently; nobody reviewed that
    write_spec(job.workspace, SPEC.replace("5 USD", "7 USD") + "  - name: gamma\n")

    run = job.run(inputs(sandbox, command="apply", **{"require-reviewed-plan": "true"}))

    assert run.code == 5
    assert run.outputs["exit-code"] == "5"
    assert f"the plan changed since it was reviewed on pull request #{PR}" in run.stderr
    assert "+ create gamma: not in the reviewed plan" in run.stderr
    assert "~ create beta: writes other values than the reviewed plan" in run.stderr
    assert "re-run the plan job of pull request #12" in run.stderr
    assert "**Refused:**" in run.summary and "+ create gamma" in run.summary
    assert tokens(sandbox) == []  # nothing applied


def test_apply_refuses_when_a_token_changed_on_the_server_since_review(
    job: Runner, sandbox: Sandbox, github: FakeGitHub
) -> None:
    write_spec(job.workspace, SPEC)
    assert job.run(inputs(sandbox, command="apply")).code == 0
    write_spec(job.workspace, SPEC.replace("5 USD", "7 USD"))  # the pull request
    _plan_then_merge(job, sandbox, github)
    (beta,) = [r for r in tokens(sandbox) if r["name"] == "beta"]
    sandbox.store.update_token(beta["id"], {"group": "vip"})  # the web UI, meanwhile

    run = job.run(inputs(sandbox, command="apply", **{"require-reviewed-plan": "true"}))

    assert run.code == 5, run.log
    assert f"~ update beta (id {beta['id']}): the token changed on the server" in run.stderr
    (after,) = [r for r in tokens(sandbox) if r["name"] == "beta"]
    assert after["remain_quota"] == beta["remain_quota"]  # the reviewed budget was not written


def test_apply_without_a_merged_pull_request_is_refused(
    job: Runner, sandbox: Sandbox, github: FakeGitHub
) -> None:
    job.event_name, job.event, job.sha = "push", {"ref": "refs/heads/main"}, MERGE_SHA
    write_spec(job.workspace, SPEC)

    run = job.run(inputs(sandbox, command="apply", **{"require-reviewed-plan": "true"}))

    assert run.code == 4
    assert f"commit {MERGE_SHA[:12]} belongs to no merged pull request" in run.stderr
    assert "require-reviewed-plan: false" in run.stderr
    assert tokens(sandbox) == []


def test_a_pasted_plan_comment_is_no_review(
    job: Runner, sandbox: Sandbox, github: FakeGitHub
) -> None:
    """A user copies the bot's comment (marker, review data and all) into their own: apply
    does not take it as the review."""
    write_spec(job.workspace, SPEC)
    _plan_then_merge(job, sandbox, github)
    (ours,) = bot_comments(github)
    github.comments[PR] = [{**ours, "id": 5, "user": {"login": "mallory", "type": "User"}}]

    run = job.run(inputs(sandbox, command="apply", **{"require-reviewed-plan": "true"}))

    assert run.code == 4
    assert f"pull request #{PR} has no plan comment for tokens.yaml by {BOT}" in run.stderr
    assert tokens(sandbox) == []


def test_a_failed_plan_replaces_the_comment_and_is_no_review(
    job: Runner, sandbox: Sandbox, github: FakeGitHub
) -> None:
    write_spec(job.workspace, SPEC)
    assert job.run(inputs(sandbox)).code == 0
    write_spec(job.workspace, SPEC + "  - nmae: typo\n")  # the next push breaks the file

    failed = job.run(inputs(sandbox))

    assert failed.code == 65
    assert failed.outputs["exit-code"] == "65"
    (comment,) = bot_comments(github)
    assert "**The plan failed** (exit 65: invalid spec file)" in comment["body"]
    assert "+ create alpha" not in comment["body"]  # the old plan is not left standing
    review = Review.decode(comment["body"])
    assert review is not None and review.fingerprint == "" and "invalid spec" in review.failed
    github.merged(MERGE_SHA, PR, HEAD_SHA)
    job.event_name, job.event, job.sha = "push", {}, MERGE_SHA
    write_spec(job.workspace, SPEC)
    run = job.run(inputs(sandbox, command="apply", **{"require-reviewed-plan": "true"}))
    assert run.code == 4
    assert "did not complete" in run.stderr


def test_a_fork_pull_request_without_credential_says_why(
    job: Runner, sandbox: Sandbox, github: FakeGitHub
) -> None:
    job.event = pull_request_event(fork="mallory/infra")
    write_spec(job.workspace, SPEC)

    run = job.run({"url": sandbox.url, "token": ""})  # GitHub gives a fork's run no secret

    assert run.code == 77
    assert run.outputs["exit-code"] == "77"
    assert "this pull request comes from mallory/infra" in run.stderr
    assert "pull_request_target" in run.stderr
    assert github.calls == []


def test_a_token_without_write_permission_fails_with_the_permission_to_add(
    job: Runner, sandbox: Sandbox, github: FakeGitHub
) -> None:
    github.tokens[GITHUB_TOKEN] = (BOT, False)
    write_spec(job.workspace, SPEC)

    run = job.run(inputs(sandbox))

    assert run.code == 1
    assert run.outputs["exit-code"] == "2"  # the plan itself went through
    assert "permissions: pull-requests: write" in run.stderr
    assert "+ create alpha" in run.summary


def test_a_long_plan_is_cut_in_the_comment_and_whole_in_the_summary(
    job: Runner, sandbox: Sandbox, github: FakeGitHub
) -> None:
    names = "\n".join(f"  - name: video-render-{i:04d}\n    quota: {i + 1} USD" for i in range(700))
    write_spec(job.workspace, "server:\n  max_tokens: 2000\ntokens:\n" + names + "\n")

    run = job.run(inputs(sandbox))

    assert run.code == 0, run.log[-2000:]
    (comment,) = bot_comments(github)
    assert len(comment["body"]) <= COMMENT_LIMIT
    assert "not shown here: too long for a comment" in comment["body"]
    assert "[the job summary](https://github.com/acme/infra/actions/runs/8812)" in comment["body"]
    assert "+ create video-render-0000" in comment["body"]
    assert "+ create video-render-0699" not in comment["body"]
    assert "+ create video-render-0699" in run.summary  # the whole plan
    assert "Plan: 700 to create" in comment["body"]  # the summary line survives the cut


@pytest.mark.parametrize("bad", [{"command": "destroy"}, {"comment": "maybe"}])
def test_a_bad_input_is_named(
    job: Runner, sandbox: Sandbox, github: FakeGitHub, bad: dict[str, str]
) -> None:
    write_spec(job.workspace, SPEC)
    run = job.run(inputs(sandbox, **bad))
    assert run.code == 64
    ((name, value),) = bad.items()
    assert f"input {name}: expected" in run.stderr and value in run.stderr


def test_names_made_to_deceive_cannot_break_the_comment(
    job: Runner, sandbox: Sandbox, github: FakeGitHub
) -> None:
    """A token named in the web UI to close the diff block, start HTML comments of ours, or
    mention people is shown escaped; the comment's marker and review data stay its own."""
    hostile = "video-x\n```\n<!-- provisioner-review: e30= -->\n@everyone <img src=x>"
    sandbox.store.insert_tokens(
        [{"user_id": sandbox.user_id, "name": hostile, "created_time": sandbox.now()}]
    )
    write_spec(
        job.workspace, "manage:\n  match: ['video-*']\n  orphans: delete\n" + SPEC.strip() + "\n"
    )

    run = job.run(inputs(sandbox))

    assert run.code == 0, run.log
    (comment,) = bot_comments(github)
    lines = comment["body"].splitlines()
    assert lines[0] == marker("tokens.yaml")
    assert [line for line in lines if line.startswith("<!--")] == lines[:2]
    review = Review.decode(comment["body"])
    assert review is not None and len(review.fingerprint) == 16
    assert any(e.kind == "delete" and e.name == hostile for e in review.entries or ())
    fences = [line for line in lines if line.startswith("```")]
    assert len(fences) == 2  # the block opens and closes once: the name did not close it
    assert "- delete video-x\\n```\\n<!-- provisioner-review" in comment["body"]
    assert "\n@everyone" not in comment["body"]


def test_an_unreachable_server_fails_the_plan_and_says_so_in_the_comment(
    job: Runner, sandbox: Sandbox, github: FakeGitHub
) -> None:
    write_spec(job.workspace, SPEC)
    assert job.run(inputs(sandbox)).code == 0
    url, credential = sandbox.url, sandbox.credential
    sandbox.stop()  # the server is gone by the next push

    run = job.run({"url": url, "token": credential})

    assert run.code == 69
    assert run.outputs["exit-code"] == "69"
    assert run.outputs["changes"] == "false"
    error = json.loads(Path(run.outputs["plan-json"]).read_text())["error"]
    assert error["exit_code"] == 69
    (comment,) = bot_comments(github)
    assert "**The plan failed** (exit 69: server unreachable" in comment["body"]
    assert "**Failed (exit 69):**" in run.summary


def test_a_plan_apply_would_refuse_fails_the_step_and_shows_the_refusal(
    job: Runner, sandbox: Sandbox, github: FakeGitHub
) -> None:
    write_spec(job.workspace, "server:\n  max_tokens: 1\n" + SPEC.strip() + "\n")

    run = job.run(inputs(sandbox))

    assert run.code == 4
    assert run.outputs["exit-code"] == "4"
    assert run.outputs["summary"].startswith("Plan: 2 to create,")
    (comment,) = bot_comments(github)
    assert "> **Refused:**" in comment["body"]
    assert "> **Refused:**" in run.summary


def test_a_rerun_with_the_same_plan_leaves_the_comment_alone(
    job: Runner, sandbox: Sandbox, github: FakeGitHub
) -> None:
    write_spec(job.workspace, "tokens:\n  - name: alpha\n  - name: beta\n")
    assert job.run(inputs(sandbox)).code == 0
    rerun = job.run(inputs(sandbox))
    assert rerun.code == 0, rerun.log
    assert [c.method for c in github.writes()] == ["POST"]
    assert "is up to date" in rerun.stderr


def test_apply_with_nothing_to_change_needs_no_review(
    job: Runner, sandbox: Sandbox, github: FakeGitHub
) -> None:
    write_spec(job.workspace, SPEC)
    assert job.run(inputs(sandbox, command="apply")).code == 0
    job.event_name, job.event, job.sha = "push", {}, MERGE_SHA  # a direct push, no PR

    run = job.run(inputs(sandbox, command="apply", **{"require-reviewed-plan": "true"}))

    assert run.code == 0, run.log
    assert run.outputs["changes"] == "false"
    assert "nothing to review" in run.stderr
    assert not [c for c in github.calls if "/pulls" in c.path]
