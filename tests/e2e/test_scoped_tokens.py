"""new-api v1.0.0-rc.41 and later (sandbox profile new-api-2026-10, read from source):
the CLI with a scoped nap_ access token and with the legacy one (docs/credentials.md).

A token lacking a scope is named by ``check`` and refused (77) by every command before
anything is written; the legacy credential works until the server retires it, with a
warning from ``check``, then fails with the way forward; every auth code has its message.
"""

from __future__ import annotations

import io
import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from provisioner.sandbox.access import SESSION
from tests.e2e.conftest import Cli, Result, profile_cli, sandbox_cli

PROFILE = "new-api-2026-10"
DAY = 24 * 60 * 60
ALL = ("profile:read", "api_key:read", "api_key:write", "api_key:reveal")
SPEC = """
keys:
  to: json:keys.json
tokens:
  - name: alpha
    quota: 1 USD
  - name: beta
    count: 2
"""
WRITES = ("POST", "PUT", "DELETE", "PATCH")


@pytest.fixture
def rc41(tmp_path: Path) -> Iterator[Cli]:
    """A Cli on the rc.41 profile with its nap_ token and no NEWAPI_USER_ID: this
    generation does not read New-Api-User, and the client must not depend on it."""
    with sandbox_cli(tmp_path, profile=PROFILE, auto_group=True) as cli:
        yield cli


def token_without(cli: Cli, scope: str) -> str:
    return cli.sandbox.issue_access_token([s for s in ALL if s != scope])


def writes_since(cli: Cli, start: int) -> list[tuple[str, str, int]]:
    """Every request since ``start`` with a method that could change something."""
    return [r for r in cli.sandbox.requests[start:] if r[0] in WRITES]


def audit_mark(cli: Cli) -> int:
    return max((e["id"] for e in cli.sandbox.audit()), default=0)


def changes_since(cli: Cli, mark: int) -> list[tuple[str, object]]:
    """The token changes and key reveals the server did since ``mark``, from its own
    audit log (a scope probe's PUT for id 0 or empty batch reveal is a failed entry)."""
    return [
        (e["action"], e["other"]["op"]["params"])
        for e in cli.sandbox.audit()
        if e["id"] > mark and e["category"] == "security" and e["success"]
    ]


def no_secret_in(cli: Cli, *results: Result) -> None:
    with cli.sandbox.store.lock:
        users = cli.sandbox.store.conn.execute("SELECT access_token FROM users").fetchall()
    secrets = [cli.sandbox.credential, cli.env["NEWAPI_TOKEN"], *(u[0] for u in users)]
    secrets += [r["key"] for r in cli.sandbox.rows(include_deleted=True)]
    for result in results:
        for secret in secrets:
            assert secret not in result.all


# -- the story, and what the client never does on this generation --


def test_the_story_without_new_api_user_and_never_api_user_token(rc41: Cli) -> None:
    cli = rc41
    assert "NEWAPI_USER_ID" not in cli.env
    cli.spec(SPEC)
    applied = cli("apply", "--yes")
    assert applied.code == 0, applied.all
    assert cli("plan", "--detailed-exitcode").code == 0
    assert sorted(cli.names()) == ["alpha", "beta", "beta-2"]
    cli.spec(SPEC.replace("quota: 1 USD", "quota: 2 USD"))
    assert cli("plan", "--detailed-exitcode").code == 2
    assert cli("apply", "--yes").code == 0
    assert cli("rotate", "alpha", "--yes").code == 0
    assert cli("plan", "--detailed-exitcode").code == 0
    paths = {target.split("?")[0] for _, target, _ in cli.sandbox.requests}
    assert "/api/user/token" not in paths
    no_secret_in(cli, *cli.history)


def test_a_plan_without_changes_sends_no_probe(rc41: Cli) -> None:
    cli = rc41
    cli.spec(SPEC)
    assert cli("apply", "--yes").code == 0
    start = len(cli.sandbox.requests)
    settled = cli("plan", "--detailed-exitcode")
    assert settled.code == 0, settled.all
    assert writes_since(cli, start) == []  # plan only reads: no scope to learn


# -- each missing scope --


@pytest.mark.parametrize("scope", ["api_key:read", "api_key:write", "api_key:reveal"])
def test_check_names_the_missing_scope_and_what_it_blocks(rc41: Cli, scope: str) -> None:
    cli = rc41
    cli.env["NEWAPI_TOKEN"] = token_without(cli, scope)
    result = cli("check")
    assert result.code == 77, result.all
    assert f"{scope} MISSING (blocks " in result.out
    for other in ALL:
        if other != scope and scope != "api_key:read":
            assert f"{other} yes" in result.out
    assert scope in result.err and "Settings -> Access tokens" in result.err
    if scope != "api_key:read":  # a token that can list: the whole report, as JSON too
        data = cli("check", "--output", "json")
        report = json.loads(data.out)
        assert data.code == 77 and report["credential"]["missing_scopes"] == [scope]
        assert report["credential"]["kind"] == "scoped"
        assert report["credential"]["scopes"][scope] is False
    no_secret_in(cli, *cli.history)


@pytest.mark.parametrize("scope", ["api_key:read", "api_key:write", "api_key:reveal"])
def test_plan_and_apply_refuse_before_any_write(rc41: Cli, scope: str) -> None:
    cli = rc41
    cli.env["NEWAPI_TOKEN"] = token_without(cli, scope)
    cli.spec(SPEC)
    mark = audit_mark(cli)
    plan = cli("plan")
    assert plan.code == 77, plan.all
    assert scope in plan.err and "Nothing was changed" in plan.err
    applied = cli("apply", "--yes")
    assert applied.code == 77, applied.all
    assert scope in applied.err
    assert cli.sandbox.rows(include_deleted=True) == [
        r for r in cli.sandbox.rows(include_deleted=True) if r["user_id"] != 1
    ]  # no token created, not even the account lock's
    assert changes_since(cli, mark) == []
    assert not (cli.workdir / "keys.json").exists()


def test_without_reveal_a_file_without_keys_to_still_applies(rc41: Cli) -> None:
    """Reveal is needed only to deliver keys: with no sink, apply creates and says how to
    fetch the keys later (docs/credentials.md#scoped-access-tokens)."""
    cli = rc41
    cli.env["NEWAPI_TOKEN"] = token_without(cli, "api_key:reveal")
    cli.spec("tokens:\n  - name: alpha\n")
    applied = cli("apply", "--yes")
    assert applied.code == 0, applied.all
    assert cli.names() == ["alpha"]


def test_without_write_a_settled_file_plans_clean(rc41: Cli) -> None:
    cli = rc41
    cli.spec(SPEC)
    assert cli("apply", "--yes").code == 0
    cli.env["NEWAPI_TOKEN"] = token_without(cli, "api_key:write")
    assert cli("plan", "--detailed-exitcode").code == 0  # plan only reads
    assert cli("export").code == 0 and cli("list").code == 0


@pytest.mark.parametrize(
    ("scope", "argv"),
    [
        ("api_key:reveal", ["reveal", "alpha", "--keys-to", "json:more.json"]),
        ("api_key:write", ["rotate", "alpha", "--yes"]),
        ("api_key:reveal", ["rotate", "alpha", "--yes"]),
        ("api_key:write", ["delete", "ALPHA_ID", "--yes"]),
        ("api_key:reveal", ["test", "alpha"]),
        ("api_key:reveal", ["scan", "leak.txt"]),
        ("api_key:write", ["scan", "leak.txt", "--revoke", "--yes"]),
    ],
)
def test_commands_that_need_a_scope_refuse_first(rc41: Cli, scope: str, argv: list[str]) -> None:
    cli = rc41
    cli.spec(SPEC)
    assert cli("apply", "--yes").code == 0
    before = sorted((r["id"], r["name"], r["status"]) for r in cli.rows())
    cli.env["NEWAPI_TOKEN"] = token_without(cli, scope)
    argv = [str(cli.row("alpha")["id"]) if a == "ALPHA_ID" else a for a in argv]
    (cli.workdir / "leak.txt").write_text(f"KEY=sk-{cli.row('alpha')['key']}\n")
    mark = audit_mark(cli)
    result = cli(*argv)
    assert result.code == 77, result.all
    assert scope in result.err
    assert sorted((r["id"], r["name"], r["status"]) for r in cli.rows()) == before
    assert changes_since(cli, mark) == []
    assert not (cli.workdir / "more.json").exists()


@pytest.mark.parametrize("scope", ["api_key:write", "api_key:reveal"])
def test_revoke_refuses_before_disabling_anything(
    rc41: Cli, scope: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli = rc41
    cli.spec(SPEC)
    assert cli("apply", "--yes").code == 0
    key = "sk-" + cli.row("alpha")["key"]
    cli.env["NEWAPI_TOKEN"] = token_without(cli, scope)
    mark = audit_mark(cli)
    monkeypatch.setattr(sys, "stdin", io.StringIO(key + "\n"))
    result = cli("revoke", "--yes")
    assert result.code == 77, result.all
    assert changes_since(cli, mark) == []
    assert scope in result.err
    assert cli.row("alpha")["status"] == 1  # nothing half-done
    assert key not in result.all


# -- the legacy credential --


def test_the_legacy_credential_works_then_is_retired(rc41: Cli) -> None:
    cli = rc41
    cli.env["NEWAPI_TOKEN"] = cli.sandbox.legacy_credential
    cli.spec(SPEC)
    checked = cli("check")
    assert checked.code == 0, checked.all
    assert "warning: this credential is a legacy access token" in checked.err
    assert "30 days after the upgrade's first start" in checked.err
    assert "legacy access token" in checked.out
    assert cli("apply", "--yes").code == 0
    assert cli("plan", "--detailed-exitcode").code == 0
    retire_at = cli.sandbox.legacy_retire_at
    assert retire_at is not None
    cli.sandbox.advance(retire_at - cli.sandbox.now())
    retired = cli("plan")
    assert retired.code == 77, retired.all
    assert "no longer accepts legacy access tokens" in retired.err
    day = time.strftime("%Y-%m-%d", time.gmtime(cli.sandbox.now()))
    assert f"today, {day}, by the server's clock" in retired.err
    assert "Settings -> Access tokens" in retired.err and "provisioner login" in retired.err
    assert "ACCESS_TOKEN_LEGACY_RETIRED" in retired.err
    assert cli("check").code == 77
    no_secret_in(cli, *cli.history)


def test_a_nap_token_gets_no_legacy_warning_and_older_servers_neither(
    rc41: Cli, tmp_path: Path
) -> None:
    assert "legacy" not in rc41("check").err
    with profile_cli(tmp_path / "old", "new-api-2026-08") as old:
        checked = old("check")
        assert checked.code == 0 and "legacy" not in checked.all


# -- every auth code, in the user's words --


def _unknown(cli: Cli) -> None:
    cli.env["NEWAPI_TOKEN"] = "nap_" + "x" * 43


def _expired(cli: Cli) -> None:
    cli.env["NEWAPI_TOKEN"] = cli.sandbox.issue_access_token(
        ALL, expires_at=cli.sandbox.now() + 3600
    )
    cli.sandbox.advance(3600)


def _retired(cli: Cli) -> None:
    cli.env["NEWAPI_TOKEN"] = cli.sandbox.legacy_credential
    cli.sandbox.advance(31 * DAY)


def _revoked(cli: Cli) -> None:
    with cli.sandbox.store.lock:
        cli.sandbox.store.conn.execute("DELETE FROM users WHERE id=1")


def _disabled(cli: Cli) -> None:
    cli.sandbox.store.set_user_status(1, 2)


def _guest(cli: Cli) -> None:
    with cli.sandbox.store.lock:
        cli.sandbox.store.conn.execute("UPDATE users SET role=0 WHERE id=1")


def _scope(cli: Cli) -> None:
    cli.env["NEWAPI_TOKEN"] = token_without(cli, "profile:read")


def _session(cli: Cli) -> None:
    cli.sandbox.app.access_token_routes["GET /api/token/"] = SESSION


def _undeclared(cli: Cli) -> None:
    del cli.sandbox.app.access_token_routes["GET /api/token/"]


@pytest.mark.parametrize(
    ("make", "code", "words"),
    [
        (_unknown, "AUTH_UNAUTHORIZED", "does not accept this credential"),
        (_expired, "ACCESS_TOKEN_EXPIRED", "personal access token has expired"),
        (_retired, "ACCESS_TOKEN_LEGACY_RETIRED", "no longer accepts legacy access tokens"),
        (_revoked, "AUTH_SESSION_REVOKED", "ended what this credential stood for"),
        (_disabled, "AUTH_USER_DISABLED", "is disabled on the server"),
        (_guest, "AUTH_INSUFFICIENT_PRIVILEGE", "the account's role may not call"),
        (_scope, "ACCESS_TOKEN_SCOPE_DENIED", "lacks the scope profile:read"),
        (_session, "AUTH_SESSION_REQUIRED", "can only be called from a browser session"),
        (_undeclared, "ACCESS_TOKEN_ROUTE_UNDECLARED", "no scope can fix this"),
    ],
)
def test_every_auth_code_has_its_message_and_exit_77(
    rc41: Cli, make: Callable[[Cli], None], code: str, words: str
) -> None:
    cli = rc41
    cli.spec(SPEC)
    make(cli)
    mark = audit_mark(cli)
    result = cli("plan")
    assert result.code == 77, result.all
    assert words in result.err, result.err
    if code != "ACCESS_TOKEN_SCOPE_DENIED":  # that one is refused by the client, named
        assert f"[{code}]" in result.err and "the server said: " in result.err
    assert changes_since(cli, mark) == []
    as_json = cli("plan", "--output", "json")
    assert as_json.code == 77 and '"exit_code": 77' in as_json.out
    no_secret_in(cli, result, as_json)
