"""Keys in use, end to end: ``test``, ``revoke`` and ``scan`` through the real CLI against the
sandbox's dashboard and relay over loopback (docs/keys-in-use.md).

The newest generation masks keys and needs reveals; 2025-10 and one-api list
full keys, say why the relay refuses, and have 30-byte names.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from provisioner.sandbox import Sandbox
from tests.e2e.conftest import Cli, Result, run_in_pty
from tests.e2e.sinkfiles import json_keys

SPEC = """
keys:
  to: json:keys.json
tokens:
  - name: app
  - name: app-off
    status: disabled
  - name: app-fenced
    allow_ips: [203.0.113.7]
"""
NEWEST, OLDER, ONE_API = "new-api-2026-08", "new-api-2025-10", "one-api-2025-02"

MakeCli = Callable[[str], Cli]


@pytest.fixture
def make_cli(tmp_path: Path) -> Iterator[MakeCli]:
    started: list[Sandbox] = []

    def make(profile: str = NEWEST) -> Cli:
        sandbox = Sandbox(db_path=str(tmp_path / f"{profile}.db"), profile=profile)
        started.append(sandbox.start(port=0))
        work = tmp_path / f"work-{profile}"
        work.mkdir()
        cli = Cli(sandbox, work)
        cli.env["NEWAPI_USER_ID"] = str(sandbox.user_id)
        return cli

    yield make
    for sandbox in started:
        sandbox.stop()


def piped(cli: Cli, monkeypatch: pytest.MonkeyPatch, text: str, *argv: str) -> Result:
    """Run the CLI with ``text`` on a stdin that is not a terminal."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))
    return cli(*argv)


def sink(cli: Cli) -> dict[str, str]:
    return json_keys(cli.workdir / "keys.json")


def neighbour_key(cli: Cli) -> str:
    """A key of another account on the same server."""
    return next(r["key"] for r in cli.sandbox.rows() if r["user_id"] != cli.sandbox.user_id)


def today(cli: Cli) -> str:
    return datetime.fromtimestamp(cli.sandbox.now(), UTC).strftime("%Y%m%d")


def writes(cli: Cli, since: int) -> list[tuple[str, str, int]]:
    return [
        r
        for r in cli.sandbox.requests[since:]
        if r[0] in ("PUT", "DELETE") or (r[0] == "POST" and not r[1].endswith("/keys"))
    ]


@pytest.mark.parametrize("profile", [NEWEST, OLDER, ONE_API])
def test_test_revoke_scan(make_cli: MakeCli, profile: str, monkeypatch: pytest.MonkeyPatch) -> None:
    cli = make_cli(profile)
    cli.spec(SPEC)
    assert cli("apply", "--yes").code == 0

    # test: every declared token, with the reason for each refusal
    tested = cli("--output", "json", "test")
    assert tested.code == 8, tested.all
    results = json.loads(tested.out)["results"]
    assert {r["name"]: (r["outcome"], r["reason"]) for r in results} == {
        "app": ("works", ""),
        "app-off": ("as-declared", "disabled"),  # the file declares it disabled
        "app-fenced": ("refused", "ip-not-allowed"),
    }
    works = next(r for r in results if r["name"] == "app")
    assert works["models"] == 5 and works["http_status"] == 200 and works["key_source"] == "sink"
    assert cli("test", "app").code == 0

    # revoke: the enabled token's key leaked
    old = cli.row("app")
    before = len(cli.sandbox.requests)
    revoked = piped(cli, monkeypatch, f"\nsk-{old['key']}\n\n", "revoke", "--yes")
    assert revoked.code == 0, revoked.all
    assert f"is app (id {old['id']})" in revoked.out
    assert not cli.sandbox.relay_auth("sk-" + old["key"])  # refused at once
    new = cli.row("app")
    assert new["id"] != old["id"] and new["status"] == 1
    assert cli.sandbox.relay_auth("sk-" + new["key"])
    assert sink(cli)["APP"] == "sk-" + new["key"]
    leftover = cli.row(f"app.leaked-{today(cli)}")
    assert (leftover["id"], leftover["status"]) == (old["id"], 2)
    reveals = [r for r in cli.sandbox.requests[before:] if r[1].endswith("/keys")]
    # one batch to confirm the key's token, one for the new key; none where keys are listed
    assert len(reveals) == (2 if profile == NEWEST else 0)
    assert cli("plan", "--detailed-exitcode").code == 0

    # scan: the new key on line 3, another account's on line 5
    stranger = neighbour_key(cli)
    leak = cli.workdir / "leak"
    leak.mkdir()
    (leak / "settings.py").write_text(
        f"a = 1\nb = 2\nKEY = 'sk-{new['key']}'\nc = 3\nOTHER = 'sk-{stranger}'\n"
    )
    scanned = cli("scan", "leak")
    assert scanned.code == 8, scanned.all
    assert f"leak/settings.py:3: a key of app (id {new['id']}, enabled)" in scanned.out
    assert "settings.py:5" not in scanned.out
    assert "1 other key-shaped string" in scanned.out
    assert new["key"] not in scanned.all and stranger not in scanned.all
    clean = cli.workdir / "clean"
    clean.mkdir()
    (clean / "notes.txt").write_text("nothing here\n")
    before = len(cli.sandbox.requests)
    assert cli("scan", "clean").code == 0
    assert len(cli.sandbox.requests) == before  # nothing key-shaped: the server is not asked


def test_a_key_of_no_token_of_this_account_changes_nothing(
    make_cli: MakeCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli = make_cli(NEWEST)
    cli.spec(SPEC)
    assert cli("apply", "--yes").code == 0
    rows = {r["id"]: r["status"] for r in cli.sandbox.rows()}
    before = len(cli.sandbox.requests)
    stranger = neighbour_key(cli)
    result = piped(cli, monkeypatch, f"sk-{stranger}\n", "--output", "json", "revoke", "--yes")
    assert result.code == 8, result.all
    document = json.loads(result.out)
    assert document["keys"] == [
        {"key": f"sk-{stranger[:4]}...{stranger[-4:]}", "found": False, "token": None}
    ]
    assert writes(cli, before) == [] and {r["id"]: r["status"] for r in cli.sandbox.rows()} == rows
    assert "belongs to no token of sandbox (#1)" in result.err


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        ("", "no key on stdin"),
        ("\n  \n", "no key on stdin"),
        ("sk-" + "a" * 48 + "\nnot a key at all\n", "stdin line 2 is not a key"),
    ],
)
def test_revoke_refuses_bad_input_before_anything_is_sent(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, stdin: str, message: str
) -> None:
    result = piped(cli, monkeypatch, stdin, "revoke", "--yes")
    assert result.code == 64 and message in result.err
    assert "not a key at all" not in result.all  # a bad line is named, never echoed
    assert cli.sandbox.requests == []


def test_revoke_without_yes_on_a_pipe_refuses_and_changes_nothing(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli.spec("tokens:\n  - name: app\n")
    assert cli("apply", "--yes").code == 0
    before = len(cli.sandbox.requests)
    result = piped(cli, monkeypatch, cli.row("app")["key"], "revoke")
    assert result.code == 64 and "--yes" in result.err
    assert writes(cli, before) == [] and cli.row("app")["status"] == 1


def test_protected_undeclared_and_30_byte_names(
    make_cli: MakeCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli = make_cli(OLDER)  # names of at most 30 bytes
    long_name = "storyboard-video-api"  # + .leaked-YYYYMMDD = 36 bytes
    cli.spec(
        f"keys:\n  to: json:keys.json\ntokens:\n  - name: vault\n    protected: true\n"
        f"  - name: {long_name}\n"
    )
    assert cli("apply", "--yes").code == 0
    cli.spec("tokens:\n  - name: by-hand\n", name="other.yaml")  # a token this file does not own
    assert cli("-f", "other.yaml", "apply", "--yes").code == 0
    keys = [cli.row(n)["key"] for n in ("vault", long_name, "by-hand")]
    result = piped(cli, monkeypatch, "\n".join(keys), "--output", "json", "revoke", "--yes")
    assert result.code == 0, result.all
    found = {k["token"]["name"]: k for k in json.loads(result.out)["keys"]}
    assert any("outranks" in note for note in found["vault"]["notes"])
    assert found["vault"]["replacement"] == "vault"
    cut = f"storyboard-vid.leaked-{today(cli)}"  # cut to fit the 30-byte names
    assert found[long_name]["new_name"] == cut and found[long_name]["replacement"] == long_name
    assert any("30-byte" in note for note in found[long_name]["notes"])
    assert found["by-hand"]["replacement"] is None
    assert any("does not declare by-hand" in note for note in found["by-hand"]["notes"])
    day = today(cli)
    assert cli.names() == sorted(
        ["vault", f"vault.leaked-{day}", long_name, cut, f"by-hand.leaked-{day}"]
    )
    assert cli.row(cut)["status"] == 2  # disabled under its cut name
    assert cli.row(long_name)["status"] == 1  # the replacement
    assert cli("plan", "--detailed-exitcode").code == 0  # the leaked one is not managed
    assert not any(cli.sandbox.relay_auth("sk-" + key) for key in keys)


def test_scan_revoke_in_a_git_repo_is_one_json_document(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli.spec("keys:\n  to: json:keys.json\ntokens:\n  - name: app\n")
    assert cli("apply", "--yes").code == 0
    key = cli.row("app")["key"]
    repo = cli.workdir
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    (repo / ".gitignore").write_text("keys.json\n.provisioner/\n")
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    subprocess.run([*git, "add", "."], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "start"], cwd=repo, check=True)
    (repo / "app.env").write_text(f"# config\nAPP_KEY=sk-{key}\n")
    result = cli("--output", "json", "scan", ".", "--since", "HEAD", "--revoke", "--yes")
    assert result.code == 8, result.all
    document = json.loads(result.out)  # one document, the revoke inside it
    assert [(f["file"], f["line"]) for f in document["findings"]] == [("app.env", 2)]
    assert document["revoke"]["summary"]["revoked"] == 1
    assert not cli.sandbox.relay_auth("sk-" + key)
    assert sink(cli)["APP"] == "sk-" + cli.row("app")["key"]


@pytest.mark.parametrize("profile", [NEWEST, OLDER])
def test_no_key_in_any_output(
    make_cli: MakeCli, profile: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli = make_cli(profile)
    cli.spec(SPEC)
    assert cli("apply", "--yes").code == 0
    other = sink(cli)
    other["APP_FENCED"] = "sk-" + "Q" * 48  # the sink holds another key
    (cli.workdir / "keys.json").write_text(json.dumps(other))
    leak = cli.workdir / "leak"
    leak.mkdir()
    (leak / "a.txt").write_text(f"sk-{cli.row('app-off')['key']}\nsk-{neighbour_key(cli)}\n")
    for fmt in ("text", "json", "markdown"):
        cli("-vv", "--output", fmt, "test")
        cli("-vv", "--output", fmt, "test", "app", "--model", "gpt-4o-mini")
        cli(
            "-vv", "--output", fmt, "test", "app", "--model", "no-such-model", "--keys-to", "stdout"
        )
        cli("-vv", "--output", fmt, "scan", "leak")
        stdin = f"sk-{cli.row('app')['key']}\n{neighbour_key(cli)}\n"
        piped(cli, monkeypatch, stdin, "-vv", "--output", fmt, "revoke", "--yes")
    cli("-vv", "scan", "leak", "--revoke", "--yes")
    cli("-vv", "test", env={"NEWAPI_TOKEN": "wrong-credential-value"})
    keys = [r["key"] for r in cli.sandbox.rows(include_deleted=True)]
    secrets = [cli.sandbox.credential, *keys, *("sk-" + k for k in keys)]
    assert len(cli.history) > 15
    for number, result in enumerate(cli.history):
        for secret in secrets:
            assert secret not in result.all, f"a full key or the credential leaked in run #{number}"
    assert "refused" in cli.history[1].out and "sk-" in cli.history[5].out  # masked, from revoke


def _pty(cli: Cli, answers: list[tuple[bytes, bytes]]) -> tuple[int, str]:
    """Run ``provisioner revoke`` on a pseudo-terminal, answering each prompt in turn."""
    return run_in_pty(cli, ["revoke"], answers)


def test_revoke_on_a_terminal_prompts_hidden_and_asks(cli: Cli) -> None:
    cli.spec("keys:\n  to: json:keys.json\ntokens:\n  - name: app\n")
    assert cli("apply", "--yes").code == 0
    old = cli.row("app")
    prompt = b"leaked key (input hidden"
    code, screen = _pty(
        cli,
        [
            (prompt, b"sk-" + old["key"].encode() + b"\n"),
            (prompt, b"\n"),
            (b"Enter a value", b"yes\n"),
        ],
    )
    assert code == 0, screen
    assert old["key"] not in screen  # no echo
    assert f"is app (id {old['id']})" in screen and "Only 'yes' will be accepted" in screen
    assert cli.row("app")["id"] != old["id"] and not cli.sandbox.relay_auth("sk-" + old["key"])


def test_test_exit_codes_for_a_missing_name_a_relay_failure_and_no_file(cli: Cli) -> None:
    assert cli("test").code == 64  # no file and no names: nothing to test
    cli.spec("tokens:\n  - name: app\n")
    assert cli("apply", "--yes").code == 0
    missing = cli("--output", "json", "test", "app", "nope")
    assert missing.code == 8
    assert [r["outcome"] for r in json.loads(missing.out)["results"]] == ["works", "missing"]
    cli.sandbox.inject("GET /v1/models", status=502, times=1)
    failed = cli("test", "app")
    assert failed.code == 1 and "relay error: unexpected HTTP 502" in failed.out
