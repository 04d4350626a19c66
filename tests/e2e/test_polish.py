"""The polish a new user hit (issue 21, "Polish, each reproduced"), through the real CLI.

Each test runs ``provisioner`` in-process (against the real sandbox over HTTP where a
server is involved) and checks what the user sees: the exit code, the words, the files.
"""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from provisioner.keystore.sinks import read_dotenv
from tests.builders import git
from tests.e2e.conftest import Cli, profile_cli, run_main


def _validate(workdir: Path, body: str) -> tuple[int, str]:
    (workdir / "tokens.yaml").write_text(body, encoding="utf-8")
    result = run_main(["validate"], {"NO_COLOR": "1"}, workdir)
    return result.code, result.err


def test_quota_inf_suggests_a_value_that_validates(tmp_path: Path) -> None:
    code, err = _validate(tmp_path, "version: 1\ntokens:\n  - name: a\n    quota: .inf\n")
    assert code == 65
    assert (
        "tokens.yaml:4:12: quota .inf is not an amount: for no budget limit write unlimited" in err
    )
    assert "inf USD" not in err
    code, err = _validate(tmp_path, "version: 1\ntokens:\n  - name: a\n    quota: unlimited\n")
    assert code == 0, err

    code, err = _validate(tmp_path, "version: 1\ntokens:\n  - name: a\n    quota: 10.1234567\n")
    assert code == 65 and 'write "10.123457 USD" (dollars take up to 6 decimals)' in err
    code, err = _validate(
        tmp_path, 'version: 1\ntokens:\n  - name: a\n    quota: "10.123457 USD"\n'
    )
    assert code == 0, err


def test_a_duplicate_through_an_alias_names_the_alias_and_the_anchor(tmp_path: Path) -> None:
    body = "version: 1\ntokens:\n  - &t1\n    name: one\n    quota: 1 USD\n  - name: two\n  - *t1\n"
    code, err = _validate(tmp_path, body)
    assert code == 65
    # located at the alias (line 7), naming the anchored token (line 3) and its name (line 4)
    assert (
        "tokens.yaml:7:5: duplicate token name 'one' (the alias *t1 repeats the token at "
        "line 3): already declared at line 4"
    ) in err


def test_top_level_x_keys_hold_anchors_and_are_ignored(cli: Cli) -> None:
    cli.spec(
        """\
        x-base: &base
          quota: 5 USD
          models: [gpt-4o-mini]
        x-notes: owned by the video team
        tokens:
          - <<: *base
            name: worker
        """
    )
    assert cli("validate").code == 0
    applied = cli("apply", "--yes")
    assert applied.code == 0, applied.all
    assert cli.names() == ["worker"]
    assert cli.row("worker")["remain_quota"] == 5 * 500_000
    assert cli("plan", "--detailed-exitcode").code == 0  # nothing of x- reaches the server


def test_dotenv_sink_keeps_export_so_source_still_works(cli: Cli) -> None:
    cli.spec(
        """\
        keys: {to: "dotenv:keys.env"}
        tokens:
          - name: worker
          - name: batch
        """
    )
    sink = cli.workdir / "keys.env"
    sink.write_text("# sourced by run.sh\nexport WORKER='stale'  # rotated by CI\nexport OTHER=1\n")
    result = cli("apply", "--yes")
    assert result.code == 0, result.all
    keys = {r["name"]: r["key"] for r in cli.rows()}
    lines = sink.read_text().splitlines()
    worker = next(line for line in lines if "WORKER=" in line)
    assert worker.startswith("export WORKER='") and worker.endswith("'  # rotated by CI")
    assert lines[-1].startswith("export BATCH=")  # a new key follows the file's habit
    env = subprocess.run(
        ["sh", "-c", ". ./keys.env && env"],
        cwd=cli.workdir,
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": os.environ["PATH"]},
    ).stdout.splitlines()
    for name, variable in (("worker", "WORKER"), ("batch", "BATCH")):
        (full,) = [k for n, k in keys.items() if n == name]
        assert any(line.startswith(f"{variable}=") and line.endswith(full[-8:]) for line in env)
    assert "OTHER=1" in env


def test_a_sink_in_new_nested_folders_makes_them_0700(cli: Cli) -> None:
    cli.spec(
        """\
        keys: {to: "dotenv:secrets/ci/prod/keys.env"}
        tokens:
          - name: worker
        """
    )
    cli.workdir.chmod(0o755)
    old_umask = os.umask(0o022)
    try:
        result = cli("apply", "--yes")
    finally:
        os.umask(old_umask)
    assert result.code == 0, result.all
    for folder in ("secrets", "secrets/ci", "secrets/ci/prod"):
        assert stat.S_IMODE((cli.workdir / folder).stat().st_mode) == 0o700, folder
    assert stat.S_IMODE((cli.workdir / "secrets/ci/prod/keys.env").stat().st_mode) == 0o600
    assert stat.S_IMODE(cli.workdir.stat().st_mode) == 0o755  # made by the user: left alone


def test_renamed_from_and_a_new_key_name_move_the_key_in_the_sink(cli: Cli) -> None:
    cli.spec(
        """\
        keys: {to: "dotenv:keys.env"}
        tokens:
          - name: old-name
          - name: other
        """
    )
    assert cli("apply", "--yes").code == 0
    sink = cli.workdir / "keys.env"
    held = read_dotenv(sink.read_text())
    with sink.open("a") as handle:
        handle.write(f"HAND_COPY={held['OTHER']}\n")  # the user's own copy: stays
    cli.spec(
        """\
        keys: {to: "dotenv:keys.env"}
        tokens:
          - name: new-name
            renamed_from: old-name
          - name: other
            key_name: OTHER_KEY
        """
    )
    result = cli("apply", "--yes")
    assert result.code == 0, result.all
    assert (
        "Moved in dotenv:keys.env (same key, new key name; the old entry removed): "
        "OLD_NAME -> NEW_NAME, OTHER -> OTHER_KEY."
    ) in result.out
    after = read_dotenv(sink.read_text())
    assert after == {
        "NEW_NAME": held["OLD_NAME"],
        "OTHER_KEY": held["OTHER"],
        "HAND_COPY": held["OTHER"],
    }
    assert "# OLD_NAME:" not in sink.read_text() and "# OTHER:" not in sink.read_text()
    assert cli("plan", "--detailed-exitcode").code == 0


def test_moved_keys_in_the_json_report(cli: Cli) -> None:
    cli.spec('keys: {to: "json:keys.json"}\ntokens:\n  - name: app\n')
    assert cli("apply", "--yes").code == 0
    cli.spec('keys: {to: "json:keys.json"}\ntokens:\n  - name: app\n    key_name: APP_KEY\n')
    result = cli("apply", "--yes", "--output", "json")
    assert result.code == 0, result.all
    assert json.loads(result.out)["keys_moved"] == [{"from": "APP", "to": "APP_KEY"}]
    held = json.loads((cli.workdir / "keys.json").read_text())
    assert "APP" not in held and "APP" not in held["provisioner:origins"]


def test_reveal_moves_a_key_to_its_new_key_name(cli: Cli) -> None:
    cli.spec('keys: {to: "dotenv:keys.env"}\ntokens:\n  - name: app\n')
    assert cli("apply", "--yes").code == 0
    cli.spec('keys: {to: "dotenv:keys.env"}\ntokens:\n  - name: app\n    key_name: APP_KEY\n')
    result = cli("reveal", "app", "--output", "json")
    assert result.code == 0, result.all
    assert json.loads(result.out)["keys_moved"] == [{"from": "APP", "to": "APP_KEY"}]
    assert set(read_dotenv((cli.workdir / "keys.env").read_text())) == {"APP_KEY"}
    again = cli("reveal", "app")
    assert again.code == 0 and "Moved" not in again.all


def test_a_spec_from_stdin_is_named_stdin(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    body = "version: 1\ntokens:\n  - name: piped\n"
    for argv in (("plan",), ("plan", "--output", "json"), ("plan", "--output", "markdown")):
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(body.encode())))
        result = cli(*argv, "-f", "-")
        assert result.code == 0, result.all
        assert "- ->" not in result.out and '"file": "-"' not in result.out
        if "json" in argv:
            assert json.loads(result.out)["file"] == "<stdin>"
        elif "markdown" in argv:
            assert "`<stdin>`" in result.out
        else:
            assert result.out.startswith(f"<stdin> -> {cli.sandbox.url}")


def test_wording_counts_lists_and_the_past(cli: Cli) -> None:
    # a saved plan one token of which moved: "1 token moved", not "1 tokens moved"
    cli.spec("tokens:\n  - name: alpha\n    quota: 10 USD\n")
    assert cli("apply", "--yes").code == 0
    cli.spec("tokens:\n  - name: alpha\n    quota: 20 USD\n")
    assert cli("plan", "--out", "plan.json").code == 0
    cli.sandbox.store.update_token(cli.row("alpha")["id"], {"expired_time": cli.sandbox.now() + 99})
    stale = cli("apply", "plan.json", "--yes")
    assert stale.code == 5, stale.all
    assert "is stale: 1 token moved since it was made" in stale.err

    # two tokens with one name: their ids as words, not a Python list
    made = {"name": "twin", "remain_quota": 500_000, "created_time": cli.sandbox.now() - 3600}
    first, second = cli.insert(**made), cli.insert(**made)
    cli.spec('keys: {to: "dotenv:keys.env"}\ntokens:\n  - name: twin\n')
    revealed = cli("reveal", "twin")
    assert f"(ids {first}, {second})" in revealed.err and "[" not in revealed.err

    # used this very second, by a server whose clock runs a little ahead of ours: "just now",
    # never "in 0 seconds" (a use is in the past, whatever the clocks say)
    cli.sandbox.store.update_token(first, {"accessed_time": cli.sandbox.now() + 30})
    listed = cli("list")
    twin = next(
        line for line in listed.out.splitlines() if line.split()[:2] == ["twin", str(first)]
    )
    assert "just now" in twin and "in 0 seconds" not in listed.out


def test_chinese_server_messages_get_their_meaning_beside_them(tmp_path: Path) -> None:
    with profile_cli(tmp_path, "new-api-2025-10") as cli:
        cli.spec(
            """\
            keys: {to: "json:keys.json"}
            tokens:
              - name: fenced
                allow_ips: [203.0.113.7]
            """
        )
        assert cli("apply", "--yes").code == 0
        tested = cli("test", "fenced")
        assert tested.code == 8, tested.all
        assert (
            '"您的 IP 不在令牌允许访问的列表中'  # the server's words, as it wrote them
            in tested.all
        )
        assert "(in English: your IP is not in the key's allowed list)" in tested.all


def test_a_wrong_user_id_is_called_wrong_not_missing(tmp_path: Path) -> None:
    with profile_cli(tmp_path, "new-api-2025-10") as cli:
        cli.spec("tokens: []\n")
        wrong = cli("plan", env={"NEWAPI_USER_ID": str(cli.sandbox.user_id + 1)})
        assert wrong.code == 77
        said = wrong.err
        assert f"NEWAPI_USER_ID={cli.sandbox.user_id + 1} is wrong" in said
        assert "set NEWAPI_USER_ID to your own id" in said and "personal settings" in said
        assert "与登录用户不匹配" in said  # the server's words, with their meaning
        assert (
            "(in English: not allowed: New-Api-User is not the id of the credential's user)" in said
        )
        assert "check the management credential" not in said  # the credential is fine

        del cli.env["NEWAPI_USER_ID"]
        missing = cli("plan")
        assert missing.code == 77
        assert "this server needs your user id in the New-Api-User header" in missing.err
        assert "is wrong" not in missing.err

        cli.env["NEWAPI_USER_ID"] = str(cli.sandbox.user_id)
        assert cli("plan").code == 0


def test_a_user_id_a_bearer_server_ignores_is_still_checked(tmp_path: Path) -> None:
    with profile_cli(tmp_path, "new-api-2026-08") as cli:
        cli.spec("tokens: []\n")
        wrong = cli("plan", env={"NEWAPI_USER_ID": str(cli.sandbox.user_id + 1)})
        assert wrong.code == 77
        assert (
            f"NEWAPI_USER_ID={cli.sandbox.user_id + 1}, but the credential belongs to user "
            f"{cli.sandbox.user_id}: the user id is wrong; set it to {cli.sandbox.user_id}"
        ) in wrong.err


def test_a_timed_out_create_says_so_once(cli: Cli) -> None:
    """The create's POST is held on the server past --timeout (the lock's create goes
    through first): the report line says what happened and what to do, once."""
    from tests.faults.helpers import Traffic

    traffic = Traffic(cli.sandbox)
    cli.spec("tokens:\n  - name: slow\n")
    traffic.hold(lambda r: r.method == "POST" and r.path == "/api/token/", after=1)
    try:
        result = cli("apply", "--yes", "--timeout", "0.3")
    finally:
        traffic.landed()  # the held create now lands, as it would on a slow server
    assert result.code == 6, result.all
    (line,) = [line for line in result.out.splitlines() if "✗ create" in line]
    assert line == (
        "  ✗ create  slow: no answer within 0.3 s (timeout) and not listed yet: the server "
        "may still create it; rerun apply later (it then delivers the key of slow if it exists)"
    )
    assert cli.names() == ["slow"]  # it landed after all
    assert cli("apply", "--yes").code == 0 and cli.names() == ["slow"]  # no second one


def test_scan_points_at_the_gitignore_line_the_sink_needs(cli: Cli) -> None:
    git(cli.workdir, "init", "-q")
    cli.spec('keys: {to: "dotenv:secrets/keys.env"}\ntokens:\n  - name: app\n')
    assert cli("apply", "--yes").code == 0
    result = cli("scan", ".")
    assert result.code == 8, result.all
    assert "secrets/keys.env:2: a key of app" in result.out
    assert (
        "secrets/keys.env is the key sink (keys.to) and git does not ignore it: the next "
        "`git add` takes its keys. Add the line /secrets/keys.env to .gitignore "
        "(echo /secrets/keys.env >> .gitignore)"
    ) in result.err
    assert "has leaked" not in result.err  # not committed: nothing to revoke yet
    document = json.loads(cli("scan", ".", "--output", "json").out)
    (entry,) = document["sinks_not_ignored"]
    assert entry == {
        "file": "secrets/keys.env",
        "tracked": False,
        "gitignore": ".gitignore",
        "line": "/secrets/keys.env",
    }

    # committed: its keys are in the history, so revoke them too
    git(cli.workdir, "add", "secrets/keys.env")
    tracked = cli("scan", ".")
    assert tracked.code == 8
    assert "git tracks it: its keys are committed, or staged to be" in tracked.err
    assert "git rm --cached secrets/keys.env" in tracked.err and "has leaked" in tracked.err
    git(cli.workdir, "rm", "-q", "--cached", "secrets/keys.env")

    # the line added as told: the sink is ignored, scan finds nothing
    with (cli.workdir / ".gitignore").open("a") as handle:
        handle.write("/secrets/keys.env\n")
    clean = cli("scan", ".")
    assert clean.code == 0, clean.all
    assert "secrets/keys.env" not in clean.all


def test_scan_says_once_what_it_does_not_read_and_never_waits(cli: Cli) -> None:
    tree = cli.workdir / "tree"
    for repo in ("a", "b", "c", "d"):
        (tree / repo / ".git").mkdir(parents=True)  # copies of repos, outside any work tree
        (tree / repo / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (cli.workdir / "elsewhere").mkdir()
    (tree / "linked").symlink_to(cli.workdir / "elsewhere")
    os.mkfifo(tree / "pipe")  # reading it would wait for a writer forever
    (tree / "notes.txt").write_text("nothing key-shaped\n")
    result = cli("scan", "tree")
    assert result.code == 0, result.all
    err = result.err.splitlines()
    assert (
        err.count(
            "skipped 4 (git's own folder (.git), not read): tree/a/.git/, tree/b/.git/, "
            "tree/c/.git/ and 1 more"
        )
        == 1
    )
    assert "skipped tree/linked/: symbolic link to a folder (not followed)" in err
    assert "skipped tree/pipe: not a regular file (a FIFO), not read" in err
    assert "1 file read, 6 skipped" in result.out
    if Path("/proc/kmsg").exists():  # a read of it waits for the kernel's next message
        kernel = cli("scan", "/proc/kmsg", "/proc")
        assert kernel.code == 0, kernel.all
        assert "skipped /proc/kmsg: a kernel file (/proc, /sys), not read" in kernel.err
        assert "skipped /proc/: a kernel file system (/proc, /sys: no storage), not read" in (
            kernel.err
        )


def test_test_says_when_no_declared_model_is_served(cli: Cli) -> None:
    cli.spec(
        """\
        keys: {to: "json:keys.json"}
        tokens:
          - name: typo
            models: [gpt-4o-mni]
          - name: one
            models: [gpt-4o-mini]
        """
    )
    assert cli("apply", "--yes").code == 0
    result = cli("test")
    assert result.code == 8, result.all
    typo = next(line for line in result.all.splitlines() if "typo" in line)
    assert "no declared model is served: the relay lists none of gpt-4o-mni" in typo
    assert "✓" not in typo and "0 models" not in result.all
    one = next(line for line in result.all.splitlines() if " one" in line)
    assert "1 model" in one and "1 models" not in one
    document = json.loads(cli("test", "--output", "json").out)
    verdicts = {r["name"]: (r["outcome"], r["reason"], r["models"]) for r in document["results"]}
    assert verdicts == {"typo": ("refused", "no-model-served", 0), "one": ("works", "", 1)}


def test_a_rotation_shows_both_budgets_and_the_old_keeps_its_remainder(cli: Cli) -> None:
    cli.spec('keys: {to: "json:keys.json"}\ntokens:\n  - name: app\n    quota: 20 USD\n')
    assert cli("apply", "--yes").code == 0
    old = cli.row("app")
    assert cli.sandbox.consume(old["id"], 16 * 500_000)  # $16 of $20 spent
    planned = cli("rotate", "app", "--yes")
    assert planned.code == 0, planned.all
    assert "new token's budget: $20.00 (10,000,000 units)\n" in planned.out  # the file's
    assert "the old token keeps its remaining $4.00 (2,000,000 units) until it expires" in (
        planned.out
    )
    new = cli.row("app")
    moved = next(r for r in cli.rows() if r["name"].startswith("app.old-"))
    assert new["remain_quota"] == 20 * 500_000 and new["id"] != old["id"]
    assert moved["id"] == old["id"] and moved["remain_quota"] == 4 * 500_000


def test_a_rotation_of_an_undeclared_token_shows_the_copied_budget(cli: Cli) -> None:
    cli.spec('keys: {to: "json:keys.json"}\ntokens: []\n')
    cli.insert(name="by-hand", remain_quota=2 * 500_000, used_quota=3 * 500_000)
    result = cli("rotate", "by-hand", "--yes")
    assert result.code == 0, result.all
    assert "new token's budget: $2.00 (1,000,000 units)\n" in result.out  # what is left
    assert "the old token keeps its remaining $2.00 (1,000,000 units) until it expires" in (
        result.out
    )


def test_paths_in_the_spec_are_relative_to_its_folder(cli: Cli) -> None:
    """CI runs `-f infra/tokens.yaml` from the root, a person runs from infra/: one sink."""
    infra = cli.workdir / "infra"
    infra.mkdir()
    (infra / "tokens.yaml").write_text(
        'version: 1\nkeys: {to: "dotenv:keys.env"}\ntokens:\n  - name: app\n'
    )
    from_root = cli("apply", "--yes", "-f", "infra/tokens.yaml")
    assert from_root.code == 0, from_root.all
    assert "1 key delivered to dotenv:infra/keys.env" in from_root.out
    assert (infra / "keys.env").exists() and not (cli.workdir / "keys.env").exists()
    planned = cli("plan", "-f", "infra/tokens.yaml", "--detailed-exitcode")
    assert planned.code == 0, planned.all
    assert (
        "keys go to dotenv:infra/keys.env (paths in the file are relative to its folder)"
        in planned.err
    )
    from_infra = run_main(
        ["plan", "--detailed-exitcode"], {**cli.env}, infra
    )  # the same sink, found from the spec's own folder
    assert from_infra.code == 0, from_infra.all
    assert "keys go to" not in from_infra.err


def test_an_old_sink_in_the_working_folder_keeps_its_keys(cli: Cli) -> None:
    """Written before sink paths followed the spec: found, used, and the move suggested."""
    cli.spec('keys: {to: "dotenv:keys.env"}\ntokens:\n  - name: app\n')
    assert cli("apply", "--yes").code == 0  # the spec in the working folder: keys.env here
    infra = cli.workdir / "infra"
    infra.mkdir()
    (cli.workdir / "tokens.yaml").rename(infra / "tokens.yaml")
    held = read_dotenv((cli.workdir / "keys.env").read_text())
    result = cli("plan", "-f", "infra/tokens.yaml", "--detailed-exitcode")
    assert result.code == 0, result.all  # the key is found: nothing to deliver again
    assert "mv keys.env infra/keys.env" in result.err
    (cli.workdir / "keys.env").rename(infra / "keys.env")
    moved = cli("plan", "-f", "infra/tokens.yaml", "--detailed-exitcode")
    assert moved.code == 0 and "warning" not in moved.err
    assert read_dotenv((infra / "keys.env").read_text()) == held


def test_the_embedded_sandbox_keeps_its_state_next_to_the_spec(cli: Cli) -> None:
    infra = cli.workdir / "infra"
    infra.mkdir()
    (infra / "tokens.yaml").write_text(
        'version: 1\nkeys: {to: "dotenv:keys.env"}\ntokens:\n  - name: app\n'
    )
    first = cli("apply", "--sandbox", "--yes", "-f", "infra/tokens.yaml")
    assert first.code == 0, first.all
    assert "(state in infra/.provisioner/sandbox.db)" in first.err
    assert (infra / ".provisioner" / "sandbox.db").exists()
    # from the spec's own folder: the same sandbox, the same sink, nothing to do
    again = run_main(["plan", "--sandbox", "--detailed-exitcode"], {**cli.env}, infra)
    assert again.code == 0, again.all


def test_every_command_opens_the_sandbox_next_to_the_spec(cli: Cli) -> None:
    """check, unlock, export, list and ``apply PLAN`` open the sandbox plan and apply open:
    the one next to the spec -f names (or the saved plan's spec), loaded or not."""
    infra = cli.workdir / "infra"
    infra.mkdir()
    spec = infra / "tokens.yaml"
    spec.write_text("version: 1\ntokens:\n  - name: app\n")
    assert cli("apply", "--sandbox", "--yes", "-f", "infra/tokens.yaml").code == 0
    state = "(state in infra/.provisioner/sandbox.db)"
    for command in ("check", "unlock", "export", "list"):
        result = cli(command, "--sandbox", "-f", "infra/tokens.yaml")
        assert result.code == 0, result.all
        assert state in result.err, command
    assert "name: app\n" in cli("export", "--sandbox", "-f", "infra/tokens.yaml").out
    spec.write_text("version: 1\ntokens:\n  - name: app\n  - name: web\n")
    planned = cli("plan", "--sandbox", "-f", "infra/tokens.yaml", "--out", "plan.json")
    assert planned.code == 0, planned.all
    applied = cli("apply", "plan.json", "--sandbox", "--yes")  # no -f: the plan's spec
    assert applied.code == 0, applied.all
    assert state in applied.err
    exported = cli("export", "--sandbox", "-f", "infra/tokens.yaml", "--output", "json")
    assert [t["name"] for t in json.loads(exported.out)["spec"]["tokens"]] == ["app", "web"]
    assert not (cli.workdir / ".provisioner").exists()  # no second sandbox was started


def test_export_leaves_out_leftovers_unless_asked(cli: Cli) -> None:
    cli.insert(name="app", remain_quota=500_000)
    cli.insert(name="app.leaked-20261203", remain_quota=500_000, status=2)
    cli.insert(name="ci.new-20261203", remain_quota=500_000, status=2)
    result = cli("export")
    assert result.code == 0, result.all
    assert "name: app\n" in result.out and "leaked" not in result.out.split("tokens:")[1]
    assert "ci.new-" not in result.out
    assert (
        "left out 2 leftovers (app.leaked-20261203, ci.new-20261203): .leaked- tokens revoke "
        "disabled and .new- tokens of unfinished rotations; --include-leftovers exports them"
    ) in result.err
    assert "# Left out 2 leftovers" in result.out  # the file says so too
    (cli.workdir / "tokens.yaml").write_text(result.out)
    assert cli("validate").code == 0

    document = json.loads(cli("export", "--output", "json").out)
    assert document["left_out"] == ["app.leaked-20261203", "ci.new-20261203"]
    assert [t["name"] for t in document["spec"]["tokens"]] == ["app"]

    everything = cli("export", "--include-leftovers")
    assert everything.code == 0, everything.all
    assert "name: app.leaked-20261203" in everything.out and "left out" not in everything.err
