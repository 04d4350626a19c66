"""new-api v1.0.0-rc.41 and later (profile new-api-2026-10): scoped nap_ access tokens.

Read from source, not recorded (tests/conformance/README.md names the files): the
credential, the route -> scope map that fails closed, the 401/403 codes, the legacy
token's retirement, /api/user/token gone, and the audit log.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from provisioner.sandbox import Sandbox
from provisioner.sandbox.access import DEFAULT_SCOPES, ROUTES
from tests.sandbox.conftest import MakeSandbox

PROFILE = "new-api-2026-10"
DAY = 24 * 60 * 60
NAP = re.compile(r"^nap_[0-9A-Za-z]{43}$")


@pytest.fixture
def rc41(make_sandbox: MakeSandbox) -> Sandbox:
    return make_sandbox(profile=PROFILE)


def call(
    sb: Sandbox,
    method: str,
    path: str,
    credential: str | None,
    *,
    body: Any = None,
    **headers: str,
) -> httpx.Response:
    if credential is not None:
        headers.setdefault("Authorization", f"Bearer {credential}")
    return httpx.request(
        method, sb.url + path, headers=headers, json=body, timeout=5, follow_redirects=False
    )


def coded(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json().get("code", "")


def seeded(sb: Sandbox) -> int:
    (token_id,) = sb.seed(1)
    return token_id


# -- the credential --


def test_the_credential_is_nap_and_only_its_sha256_is_stored(rc41: Sandbox, tmp_path: Path) -> None:
    raw = rc41.credential
    assert NAP.match(raw) and len(raw) == 47
    (stored,) = rc41.store.access_tokens()
    assert stored["token_hash"] == hashlib.sha256(raw.encode()).hexdigest()
    assert stored["token_hint"] == raw[-4:]
    assert stored["scopes"] == sorted(DEFAULT_SCOPES) and stored["expires_at"] == 0
    rc41.stop()  # flush the WAL into the file
    data = b"".join(f.read_bytes() for f in tmp_path.iterdir() if f.name.startswith("sandbox.db"))
    assert raw.encode() not in data and raw[4:].encode() not in data


def test_each_start_issues_a_new_token_and_earlier_ones_keep_working(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    first = make_sandbox(profile=PROFILE)
    earlier = first.credential
    first.stop()
    second = make_sandbox(profile=PROFILE)
    assert second.credential != earlier
    for credential in (earlier, second.credential):
        assert call(second, "GET", "/api/token/", credential).json()["success"] is True


def test_twenty_per_user_the_oldest_goes(rc41: Sandbox) -> None:
    oldest = rc41.credential
    for _ in range(20):
        rc41.issue_access_token(["api_key:read"])
    assert len(rc41.store.access_tokens(1)) == 20
    assert coded(call(rc41, "GET", "/api/token/", oldest)) == (401, "AUTH_UNAUTHORIZED")


@pytest.mark.parametrize("scheme", ["Bearer ", "bearer ", "BEARER ", ""])
def test_bearer_or_a_bare_value_and_new_api_user_is_not_read(rc41: Sandbox, scheme: str) -> None:
    for user_header in ("", "2", "abc"):
        extra = {"New-Api-User": user_header} if user_header else {}
        response = call(
            rc41, "GET", "/api/user/self", None, Authorization=scheme + rc41.credential, **extra
        )
        assert response.status_code == 200 and response.json()["data"]["id"] == 1
        assert response.headers["Auth-Version"] == "864b7076dbcd0a3c01b5520316720ebf"


def test_last_use_is_recorded(rc41: Sandbox) -> None:
    assert call(rc41, "GET", "/api/token/", rc41.credential).status_code == 200
    (stored,) = rc41.store.access_tokens()
    assert stored["last_used_at"] >= rc41.now() - 5 and stored["last_used_ip"] == "127.0.0.1"


# -- scopes --

# One request per token route, each answered by its handler when the scope is there.
TOKEN_ROUTES = [
    ("GET", "/api/token/", None, "api_key:read"),
    ("GET", "/api/token/search?keyword=x", None, "api_key:read"),
    ("GET", "/api/token/auto-groups", None, "api_key:read"),
    ("GET", "/api/token/{id}", None, "api_key:read"),
    ("POST", "/api/token/", {"name": "new"}, "api_key:write"),
    ("PUT", "/api/token/", {"id": 0}, "api_key:write"),
    ("DELETE", "/api/token/{id}", None, "api_key:write"),
    ("POST", "/api/token/batch", {"ids": []}, "api_key:write"),
    ("POST", "/api/token/{id}/key", None, "api_key:reveal"),
    ("POST", "/api/token/batch/keys", {"ids": []}, "api_key:reveal"),
]


@pytest.mark.parametrize(("method", "path", "body", "scope"), TOKEN_ROUTES)
def test_each_token_route_needs_its_scope(
    rc41: Sandbox, method: str, path: str, body: Any, scope: str
) -> None:
    path = path.format(id=seeded(rc41))
    others = [s for s in ("api_key:read", "api_key:write", "api_key:reveal") if s != scope]
    without = rc41.issue_access_token(["profile:read", *others])
    denied = call(rc41, method, path, without, body=body)
    assert denied.status_code == 403
    assert denied.json() == {
        "code": "ACCESS_TOKEN_SCOPE_DENIED",
        "message": f"Access token does not have the {scope} permission",
        "success": False,
    }
    only = rc41.issue_access_token([scope])
    allowed = call(rc41, method, path, only, body=body)
    assert allowed.status_code == 200, allowed.text
    assert set(allowed.json()) >= {"success", "message"}  # the handler answered


def test_business_errors_stay_http_200(rc41: Sandbox) -> None:
    for method, path, body in (
        ("GET", "/api/token/999999", None),
        ("PUT", "/api/token/", {"id": 0}),
        ("POST", "/api/token/", {"name": "x" * 51}),
        ("POST", "/api/token/batch/keys", {"ids": []}),
    ):
        response = call(rc41, method, path, rc41.credential, body=body)
        assert response.status_code == 200 and response.json()["success"] is False
        assert "code" not in response.json()


def test_profile_read_guards_who_you_are(rc41: Sandbox) -> None:
    token_only = rc41.issue_access_token(["api_key:read", "api_key:write", "api_key:reveal"])
    for path in ("/api/user/self", "/api/user/self/groups", "/api/user/models"):
        assert coded(call(rc41, "GET", path, token_only)) == (403, "ACCESS_TOKEN_SCOPE_DENIED")
    assert call(rc41, "GET", "/api/token/", token_only).status_code == 200


def test_a_route_missing_from_the_map_fails_closed_for_scoped_tokens_only(rc41: Sandbox) -> None:
    del rc41.app.access_token_routes["GET /api/token/search"]  # a fork's undeclared route
    every_scope = rc41.issue_access_token(["api_key:read", "api_key:write", "api_key:reveal"])
    refused = call(rc41, "GET", "/api/token/search?keyword=x", every_scope)
    assert refused.status_code == 403
    assert refused.json() == {
        "code": "ACCESS_TOKEN_ROUTE_UNDECLARED",
        "message": "Unauthorized, insufficient privileges",
        "success": False,
    }
    legacy = call(rc41, "GET", "/api/token/search?keyword=x", rc41.legacy_credential)
    assert legacy.status_code == 200 and legacy.json()["success"] is True


def test_every_route_the_profile_serves_is_declared(rc41: Sandbox) -> None:
    served = {r.key for r in rc41.app.routes if r.auth}
    assert served <= set(ROUTES), served - set(ROUTES)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/user/access_tokens"),
        ("POST", "/api/user/access_tokens"),
        ("GET", "/api/user/access_tokens/catalog"),
        ("DELETE", "/api/user/access_tokens/legacy"),
        ("PATCH", "/api/user/access_tokens/3"),
    ],
)
def test_making_tokens_needs_a_browser_session(rc41: Sandbox, method: str, path: str) -> None:
    for credential in (rc41.credential, rc41.legacy_credential):
        response = call(rc41, method, path, credential, body={})
        assert response.status_code == 403
        assert response.json() == {
            "code": "AUTH_SESSION_REQUIRED",
            "message": "a dashboard login session is required",
            "success": False,
        }


def test_the_old_user_token_route_is_gone_and_never_rotates(rc41: Sandbox) -> None:
    before = rc41.legacy_credential
    assert coded(call(rc41, "GET", "/api/user/token", rc41.credential)) == (
        403,
        "ACCESS_TOKEN_SCOPE_DENIED",
    )
    legacy = call(rc41, "GET", "/api/user/token", before)  # caught by GET /api/user/:id
    assert legacy.status_code == 200
    assert legacy.json() == {
        "message": 'strconv.Atoi: parsing "token": invalid syntax',
        "success": False,
    }
    neighbour = rc41.store.user(2)
    assert neighbour is not None  # a common user: the admin route refuses the role first
    assert coded(call(rc41, "GET", "/api/user/token", neighbour["access_token"])) == (
        403,
        "AUTH_INSUFFICIENT_PRIVILEGE",
    )
    assert rc41.legacy_credential == before


# -- 401s --


@pytest.mark.parametrize("authorization", [None, "", "Bearer", "Bearer a b", "nap_" + "x" * 43])
def test_unknown_credentials_are_auth_unauthorized(
    rc41: Sandbox, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = call(rc41, "GET", "/api/token/", None, **headers)
    assert response.status_code == 401
    assert response.json() == {
        "code": "AUTH_UNAUTHORIZED",
        "message": "Unauthorized, invalid access token",
        "success": False,
    }


def test_an_expired_token(rc41: Sandbox) -> None:
    soon = rc41.issue_access_token(DEFAULT_SCOPES, expires_at=rc41.now() + 3600)
    assert call(rc41, "GET", "/api/token/", soon).status_code == 200
    rc41.advance(3600)
    assert coded(call(rc41, "GET", "/api/token/", soon)) == (401, "ACCESS_TOKEN_EXPIRED")


def test_a_disabled_user_and_a_deleted_one(rc41: Sandbox) -> None:
    rc41.store.set_user_status(1, 2)
    assert coded(call(rc41, "GET", "/api/token/", rc41.credential)) == (401, "AUTH_USER_DISABLED")
    assert coded(call(rc41, "GET", "/api/token/", rc41.legacy_credential)) == (
        401,
        "AUTH_USER_DISABLED",
    )
    rc41.store.set_user_status(1, 1)
    with rc41.store.lock:
        rc41.store.conn.execute("DELETE FROM users WHERE id=1")
    assert coded(call(rc41, "GET", "/api/token/", rc41.credential)) == (401, "AUTH_SESSION_REVOKED")


# -- the legacy token --


def test_the_legacy_token_works_until_30_days_after_the_first_start(
    make_sandbox: MakeSandbox,
) -> None:
    sb = make_sandbox(profile=PROFILE)
    retire_at = sb.legacy_retire_at
    assert retire_at is not None and retire_at - sb.now() in range(30 * DAY - 5, 30 * DAY + 1)
    legacy = sb.legacy_credential
    unscoped = call(sb, "POST", "/api/token/batch/keys", legacy, body={"ids": [seeded(sb)]})
    assert unscoped.json()["success"] is True  # the owner's full rights, no scope check
    sb.stop()
    again = make_sandbox(profile=PROFILE)  # a restart keeps the date (written once)
    assert again.legacy_retire_at == retire_at
    # to the very start of the deadline's last second (now() would round down: landing
    # late in that second, a slow request crossed into the deadline)
    again.advance(retire_at - 1 - again._clock() + 0.001)
    assert call(again, "GET", "/api/token/", legacy).status_code == 200
    again.advance(1)
    retired = call(again, "GET", "/api/token/", legacy)
    assert retired.status_code == 401
    assert retired.json()["code"] == "ACCESS_TOKEN_LEGACY_RETIRED"
    # after the deadline no value without nap_ is looked up at all
    assert coded(call(again, "GET", "/api/token/", "anything")) == (
        401,
        "ACCESS_TOKEN_LEGACY_RETIRED",
    )
    assert call(again, "GET", "/api/token/", again.credential).status_code == 200


def test_legacy_retired_is_for_good(make_sandbox: MakeSandbox) -> None:
    sb = make_sandbox(profile=PROFILE, legacy_retired=True)
    assert sb.legacy_retire_at == sb.now()
    assert coded(call(sb, "GET", "/api/token/", sb.legacy_credential)) == (
        401,
        "ACCESS_TOKEN_LEGACY_RETIRED",
    )
    sb.stop()
    later = make_sandbox(profile=PROFILE)
    assert coded(call(later, "GET", "/api/token/", later.legacy_credential))[1] == (
        "ACCESS_TOKEN_LEGACY_RETIRED"
    )


def test_rc41_switches_are_refused_on_other_generations(tmp_path: Path) -> None:
    for kwargs in ({"scopes": ["api_key:read"]}, {"legacy_retired": True}):
        with pytest.raises(ValueError, match="new-api-2026-10"):
            Sandbox(tmp_path / "x.db", profile="new-api-2026-08", **kwargs)  # type: ignore[arg-type]
    assert not (tmp_path / "x.db").exists()  # refused before the file was made
    with pytest.raises(ValueError, match="select at least one scope"):
        Sandbox(tmp_path / "x.db", profile=PROFILE, scopes=[])
    with pytest.raises(ValueError, match="unknown scope 'api_key:admin'"):
        Sandbox(tmp_path / "x.db", profile=PROFILE, scopes=["api_key:admin"])


# -- rate limits and search --


def test_reveals_answer_429_after_the_critical_budget_and_denials_do_not_count(
    make_sandbox: MakeSandbox,
) -> None:
    sb = make_sandbox(profile=PROFILE, rate_limits=True, limits={"critical": (2, 1200)})
    token_id = seeded(sb)
    no_reveal = sb.issue_access_token(["api_key:read"])
    for _ in range(3):  # refused by the scope before the limiter: not counted
        assert call(sb, "POST", f"/api/token/{token_id}/key", no_reveal).status_code == 403
    for path, body in (
        (f"/api/token/{token_id}/key", None),
        ("/api/token/batch/keys", {"ids": []}),
    ):
        assert call(sb, "POST", path, sb.credential, body=body).status_code == 200
    limited = call(sb, "POST", "/api/token/batch/keys", sb.credential, body={"ids": [token_id]})
    assert limited.status_code == 429 and limited.content == b""
    assert int(limited.headers["Retry-After"]) > 0


def test_search_is_exact_unless_percent_and_capped_at_100(rc41: Sandbox) -> None:
    rc41.seed(120, prefix="bulk-")
    found = call(rc41, "GET", "/api/token/search?keyword=bulk-7&page_size=500", rc41.credential)
    assert [t["name"] for t in found.json()["data"]["items"]] == ["bulk-7"]
    wide = call(rc41, "GET", "/api/token/search?keyword=bulk-%25&page_size=500", rc41.credential)
    data = wide.json()["data"]
    assert data["total"] == 120 and len(data["items"]) == 100
    for pattern, message in (("%25%25ab", "连续"), ("%25a%25b%25", "最多"), ("a%25", "至少")):
        refused = call(rc41, "GET", f"/api/token/search?keyword={pattern}", rc41.credential)
        assert refused.status_code == 200 and message in refused.json()["message"]


# -- the audit log --


def audit_page(sb: Sandbox, credential: str, query: str = "") -> dict[str, Any]:
    response = call(sb, "GET", "/api/audit/self" + query, credential)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True, body
    return body["data"]


def test_every_token_change_and_reveal_is_in_the_audit_log(rc41: Sandbox) -> None:
    c = rc41.credential
    assert call(rc41, "POST", "/api/token/", c, body={"name": "audited"}).json()["success"]
    (row,) = [r for r in rc41.rows() if r["name"] == "audited"]
    token_id = row["id"]
    call(
        rc41, "PUT", "/api/token/", c, body={"id": token_id, "name": "renamed", "expired_time": -1}
    )
    call(rc41, "PUT", "/api/token/?status_only=true", c, body={"id": token_id, "status": 2})
    call(rc41, "POST", f"/api/token/{token_id}/key", c)
    call(rc41, "POST", "/api/token/batch/keys", c, body={"ids": [token_id, 999]})
    call(rc41, "DELETE", f"/api/token/{token_id}", c)
    call(rc41, "POST", "/api/token/batch", c, body={"ids": [token_id]})
    reader = rc41.issue_access_token(["usage:read"])
    data = audit_page(rc41, reader, "?category=security&page_size=100")
    items = sorted(data["items"], key=lambda e: e["id"])  # one second: event ids decide
    ops = [(e["action"], e["other"]["op"]["params"], e["success"]) for e in items]
    assert ops == [
        ("token.create", {"name": "audited", "id": token_id}, True),
        (
            "token.update",
            {"id": token_id, "name": "renamed", "changed_fields": ["name", "allow_ips"]},
            True,
        ),
        ("token.status_update", {"id": token_id, "name": "renamed", "from": 1, "to": 2}, True),
        ("token.key_view", {"id": token_id, "name": "renamed"}, True),
        (
            "token.key_view_batch",
            {"requested_ids": [token_id, 999], "count": 1, "returned_ids": [token_id]},
            True,
        ),
        ("token.delete", {"id": token_id, "name": "renamed"}, True),
        ("token.delete_batch", {"requested_ids": [token_id], "count": 0}, True),
    ]
    assert data["total"] == 7 and data["page"] == 1
    first = items[-1]
    assert list(first) == [
        "id", "event_id", "user_id", "username", "actor_role", "created_at", "category",
        "action", "token_ref", "auth_method", "ip", "user_agent", "method", "route", "status",
        "success", "request_id", "content", "other",
    ]  # fmt: skip
    assert first["route"] == "/api/token/batch" and first["auth_method"] == "access_token"
    assert first["content"] == "API token batch deletion"


def test_the_access_audit_has_every_request_of_a_token_refused_ones_too(rc41: Sandbox) -> None:
    no_write = rc41.issue_access_token(["api_key:read", "usage:read"])
    call(rc41, "GET", "/api/token/", no_write)
    call(rc41, "POST", "/api/token/", no_write, body={"name": "x"})  # 403, still audited
    ref = hashlib.sha256(no_write.encode()).hexdigest()
    data = audit_page(rc41, no_write, f"?token_ref={ref}&category=access_token")
    items = sorted(data["items"], key=lambda e: e["id"])  # one second: event ids decide
    seen = [(e["method"], e["route"], e["status"], e["success"]) for e in items]
    assert seen[:2] == [("GET", "/api/token/", 200, True), ("POST", "/api/token/", 403, False)]
    assert all(e["token_ref"] == ref for e in data["items"])
    # a refused write is no token operation: nothing in the security category
    assert audit_page(rc41, no_write, "?category=security")["total"] == 0


def test_the_audit_log_holds_no_key_and_no_credential(rc41: Sandbox) -> None:
    token_id = seeded(rc41)
    key = call(rc41, "POST", f"/api/token/{token_id}/key", rc41.credential).json()["data"]["key"]
    call(rc41, "GET", "/api/token/", rc41.legacy_credential)
    dumped = json.dumps(rc41.audit())
    for secret in (key, rc41.credential, rc41.legacy_credential):
        assert secret not in dumped


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?category=nope", "Invalid audit filters"),
        ("?token_ref=abc", "Invalid audit filters"),
        ("?start_timestamp=-1", "Invalid audit time range"),
        ("?start_timestamp=20&end_timestamp=10", "Invalid audit time range"),
        ("?success=maybe", "Invalid audit result"),
    ],
)
def test_audit_filters_are_checked(rc41: Sandbox, query: str, message: str) -> None:
    reader = rc41.issue_access_token(["usage:read"])
    response = call(rc41, "GET", "/api/audit/self" + query, reader)
    assert response.status_code == 200
    assert response.json() == {"message": message, "success": False}


def test_the_audit_log_needs_usage_read(rc41: Sandbox) -> None:
    assert coded(call(rc41, "GET", "/api/audit/self", rc41.credential)) == (
        403,
        "ACCESS_TOKEN_SCOPE_DENIED",
    )
    assert call(rc41, "GET", "/api/audit/self", rc41.legacy_credential).json()["success"] is True


def test_older_generations_have_no_audit_and_no_access_tokens(make_sandbox: MakeSandbox) -> None:
    sb = make_sandbox(profile="new-api-2026-08")
    assert call(sb, "GET", "/api/audit/self", sb.credential).status_code == 404
    assert call(sb, "GET", "/api/user/access_tokens", sb.credential).status_code == 404
    assert sb.credential == sb.legacy_credential and sb.legacy_retire_at is None
    call(sb, "POST", "/api/token/", sb.credential, body={"name": "x"})
    assert sb.audit() == [] and sb.store.access_tokens() == []


# -- the command line --


def test_flags_for_the_rc41_profile() -> None:
    from tests.sandbox.test_cli import parse

    opts = parse(
        "--profile", PROFILE, "--scopes", "api_key:write, api_key:read", "--legacy-retired"
    )
    assert opts.scopes == ("api_key:read", "api_key:write") and opts.legacy_retired is True
    assert parse("--profile", PROFILE).scopes is None  # the default grant (DEFAULT_SCOPES)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--scopes", "api_key:read"], "--scopes is for --profile new-api-2026-10"),
        (["--legacy-retired"], "--legacy-retired is for --profile new-api-2026-10"),
        (["--profile", PROFILE, "--scopes", ","], "--scopes: select at least one scope"),
        (["--profile", PROFILE, "--scopes", "api_key:root"], "unknown scope 'api_key:root'"),
    ],
)
def test_bad_rc41_flags(argv: list[str], message: str) -> None:
    from provisioner.sandbox.cli import SandboxUsageError
    from tests.sandbox.test_cli import parse

    with pytest.raises(SandboxUsageError, match=re.escape(message)):
        parse(*argv)


def test_the_command_prints_the_scoped_token_and_the_legacy_one(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    command = [sys.executable, "-m", "provisioner", "sandbox", "--port", "0"]
    command += ["--db", str(tmp_path / "cli.db"), "--profile", PROFILE]
    command += ["--scopes", "api_key:read,profile:read"]
    with subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(root)},
        cwd=root,
    ) as proc:
        assert proc.stdout is not None
        info = dict(proc.stdout.readline().strip().split("=", 1) for _ in range(7))
        try:
            assert list(info) == [
                "url", "token", "user_id", "profile", "scopes", "legacy_token", "legacy_retire_at",
            ]  # fmt: skip
            assert NAP.match(info["token"]) and info["scopes"] == "api_key:read,profile:read"
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", info["legacy_retire_at"])
            with httpx.Client(base_url=info["url"], timeout=5) as c:
                mine = {"Authorization": f"Bearer {info['token']}"}
                assert c.get("/api/token/", headers=mine).status_code == 200
                assert c.post("/api/token/", json={}, headers=mine).status_code == 403
                legacy = {"Authorization": info["legacy_token"]}
                assert c.post("/api/token/", json={}, headers=legacy).json()["success"] is True
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0


def test_a_request_looks_its_credential_up_once_and_a_relay_call_not_at_all(
    rc41: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The audit's owner and the authentication share one lookup; a /v1 call, never
    audited here, costs no access-token lookup."""
    looked_up: list[str] = []
    store = rc41.store
    for name in ("access_token_by_hash", "user_by_access_token", "get_meta"):
        real = getattr(store, name)

        def counted(*args: Any, _real: Any = real, _name: str = name) -> Any:
            looked_up.append(_name)
            return _real(*args)

        monkeypatch.setattr(store, name, counted)
    assert call(rc41, "GET", "/api/token/", rc41.credential).json()["success"] is True
    assert looked_up == ["access_token_by_hash"]
    looked_up.clear()
    assert call(rc41, "GET", "/api/token/", rc41.legacy_credential).json()["success"] is True
    assert looked_up == ["get_meta", "user_by_access_token"]  # the deadline, then the value
    looked_up.clear()
    key = "sk-" + rc41.store.token(seeded(rc41))["key"]
    looked_up.clear()
    assert call(rc41, "GET", "/v1/models", key).status_code == 200
    assert looked_up == []
