"""The client on new-api v1.0.0-rc.41+: every auth code in the user's words, and scopes
learned once per run with calls that change nothing (docs/server-contract.md#auth-failures)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from provisioner.newapi import dialect, envelope
from provisioner.newapi.client import NewApiClient
from provisioner.newapi.errors import AuthError, ScopeError
from provisioner.newapi.transport import Reply
from provisioner.sandbox import Sandbox
from provisioner.secret import Secret
from tests.newapi.fakes import client_settings

CODES = {
    # code: (status, words the message must hold)
    "AUTH_UNAUTHORIZED": (401, "does not accept this credential"),
    "ACCESS_TOKEN_EXPIRED": (401, "personal access token has expired"),
    "ACCESS_TOKEN_LEGACY_RETIRED": (401, "no longer accepts legacy access tokens"),
    "AUTH_SESSION_REVOKED": (401, "ended what this credential stood for"),
    "AUTH_USER_DISABLED": (401, "disabled on the server"),
    "AUTH_INSUFFICIENT_PRIVILEGE": (403, "role may not call GET /api/token/:id"),
    "ACCESS_TOKEN_SCOPE_DENIED": (403, "lacks the api_key:read scope, which GET /api/token/:id"),
    "AUTH_SESSION_REQUIRED": (403, "can only be called from a browser session"),
    "ACCESS_TOKEN_ROUTE_UNDECLARED": (403, "no scope can fix this"),
}


def reply(status: int, body: bytes, **headers: str) -> Reply:
    return Reply(status, httpx.Headers(headers), body, "http://x/api/token/7")


@pytest.mark.parametrize("code", sorted(CODES))
def test_each_code_in_the_users_words_then_the_servers_escaped(code: str) -> None:
    status, words = CODES[code]
    said = 'line one\n"quoted" \x1b[31mred'
    body = json.dumps({"success": False, "code": code, "message": said}).encode()
    with pytest.raises(AuthError) as caught:
        envelope.interpret(
            reply(status, body, date="Wed, 04 Nov 2026 10:00:00 GMT"),
            "GET",
            "/api/token/7",
            host="x",
        )
    error = caught.value
    assert error.exit_code == 77 and error.code == code and error.status == status
    message = str(error)
    assert words in message
    assert f"(HTTP {status} [{code}]; the server said: " in message
    assert "\n" not in message and "\x1b" not in message
    assert '\\"quoted\\"' in message  # the server's text is quoted, its quotes escaped


def test_the_retired_message_names_the_servers_date_and_the_way_forward() -> None:
    body = b'{"success":false,"code":"ACCESS_TOKEN_LEGACY_RETIRED","message":"retired"}'
    with pytest.raises(AuthError) as caught:
        envelope.interpret(
            reply(401, body, date="Wed, 04 Nov 2026 10:00:00 GMT"),
            "GET",
            "/api/user/self",
            host="x",
        )
    message = str(caught.value)
    assert "today, 2026-11-04, by the server's clock" in message
    assert "30 days after the upgrade's first start" in message
    assert "Settings -> Access tokens" in message and "provisioner login" in message
    for scope in dialect.TOOL_SCOPES:
        assert scope in message


def test_a_code_is_kept_as_it_is_but_a_credential_never() -> None:
    credential = Secret("QWERTYUIOPASDFGHJKLZXCVBNM123456")
    body = b'{"success":false,"code":"QWERTYUIOPASDFGHJKLZXCVBNM123456","message":"x"}'
    with pytest.raises(AuthError) as caught:
        envelope.interpret(reply(401, body), "GET", "/api/token/", host="x", credential=credential)
    assert credential.reveal() not in str(caught.value) and caught.value.code != credential.reveal()


def test_an_unknown_code_keeps_the_generic_message() -> None:
    body = b'{"success":false,"code":"AUTH_TOKEN_EXPIRED","message":"login expired"}'
    with pytest.raises(AuthError) as caught:
        envelope.interpret(reply(401, body), "GET", "/api/token/", host="x")
    assert "authentication failed (HTTP 401) [AUTH_TOKEN_EXPIRED]: login expired" in str(
        caught.value
    )


# -- scopes, against the rc.41 sandbox --


@pytest.fixture
def rc41(tmp_path: Path) -> Iterator[Sandbox]:
    with Sandbox(tmp_path / "s.db", profile="new-api-2026-10", neighbour=False).start() as sb:
        yield sb


def client_for(sb: Sandbox, credential: str) -> NewApiClient:
    return NewApiClient(
        sb.url, Secret(credential), settings=client_settings(critical_rate_limit=None)
    )


def probes(sb: Sandbox, start: int) -> list[tuple[str, str]]:
    return [(m, t) for m, t, _ in sb.requests[start:] if m in ("PUT", "POST")]


def test_scopes_are_learned_once_with_calls_that_change_nothing(rc41: Sandbox) -> None:
    with client_for(rc41, rc41.credential) as client:
        client.open()
        assert client.scopes == {"profile:read": True, "api_key:read": True}  # free
        start = len(rc41.requests)
        client.require_scopes({"api_key:write": "x", "api_key:reveal": "y"})
        assert probes(rc41, start) == [("PUT", "/api/token/"), ("POST", "/api/token/batch/keys")]
        client.require_scopes({"api_key:write": "x", "api_key:reveal": "y"})
        client.permissions()
        assert len(rc41.requests) == start + 2  # once per run
    assert rc41.rows() == []


def test_a_missing_scope_is_named_with_what_needs_it(rc41: Sandbox) -> None:
    token = rc41.issue_access_token(["profile:read", "api_key:read", "api_key:reveal"])
    with client_for(rc41, token) as client:
        client.open()
        with pytest.raises(ScopeError) as caught:
            client.require_scopes({"api_key:write": "this plan's 3 changes"})
    error = caught.value
    assert error.exit_code == 77 and error.missing == ("api_key:write",)
    assert error.granted["api_key:write"] is False
    assert "lacks the scope api_key:write (needed by this plan's 3 changes)" in str(error)
    assert token not in str(error) and token[-4:] in str(error)  # the hint, never the value
    assert f"the access token ({token[:4]}...{token[-4:]}) lacks" in str(error)  # Secret.masked


def test_without_a_base_scope_the_probe_names_every_missing_one(rc41: Sandbox) -> None:
    token = rc41.issue_access_token(["api_key:read"])
    with client_for(rc41, token) as client, pytest.raises(ScopeError) as caught:
        client.open()
    assert caught.value.missing == ("profile:read",)
    assert "it also lacks api_key:write, api_key:reveal" in str(caught.value)
    assert caught.value.granted == {
        "profile:read": False,
        "api_key:read": True,
        "api_key:write": False,
        "api_key:reveal": False,
    }


def test_a_legacy_credential_has_no_scopes_and_costs_no_call(rc41: Sandbox) -> None:
    with client_for(rc41, rc41.legacy_credential) as client:
        client.open()
        start = len(rc41.requests)
        client.require_scopes({"api_key:write": "x", "api_key:reveal": "y"})
        assert client.scopes is None and len(rc41.requests) == start
        assert client.has_audit_log() is True  # only rc.41 and later answer it


def test_an_older_server_has_no_audit_log(tmp_path: Path) -> None:
    with (
        Sandbox(tmp_path / "o.db", profile="new-api-2026-08").start() as sb,
        client_for(sb, sb.credential) as client,
    ):
        client.open()
        assert client.scopes is None and client.has_audit_log() is False
