"""The envelope, from a table: a reply in, data or a typed error out (no I/O)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from provisioner.newapi.envelope import interpret, route_of, sanitize
from provisioner.newapi.errors import (
    AuthError,
    BusinessError,
    NotNewApiError,
    ServerError,
    UnsupportedError,
)
from provisioner.newapi.transport import Reply
from provisioner.secret import Secret

CREDENTIAL = Secret("Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0")


def reply(status: int, body: Any = None, *, text: str | None = None) -> Reply:
    content = text.encode() if text is not None else json.dumps(body).encode()
    return Reply(status, httpx.Headers(), content, "http://x.test/api/token/")


OK = [
    ("data", reply(200, {"success": True, "message": "", "data": {"a": 1}}), {"a": 1}),
    ("no data (create)", reply(200, {"success": True, "message": ""}), None),
    ("a list", reply(200, {"success": True, "message": "", "data": [1, 2]}), [1, 2]),
]


@pytest.mark.parametrize(("case", "answer", "data"), OK, ids=[c[0] for c in OK])
def test_success_answers_the_data(case: str, answer: Reply, data: Any) -> None:
    assert interpret(answer, "GET", "/api/token/", host="x.test") == data


ERRORS = [
    # (case, reply, probe, error type, exit code, text in the message)
    (
        "business error at HTTP 200",
        reply(200, {"success": False, "message": "record not found"}),
        False,
        BusinessError,
        1,
        "record not found",
    ),
    (
        "header-auth bad token at HTTP 200 (zh)",
        reply(200, {"success": False, "message": "无权进行此操作，access token 无效"}),
        False,
        AuthError,
        77,
        "access token 无效",
    ),
    (
        "header-auth bad token at HTTP 200 (en)",
        reply(200, {"success": False, "message": "Unauthorized, invalid access token"}),
        False,
        AuthError,
        77,
        "invalid access token",
    ),
    (
        "bearer 401 with a code",
        reply(401, {"success": False, "code": "AUTH_UNAUTHORIZED", "message": "bad"}),
        False,
        AuthError,
        77,
        "[AUTH_UNAUTHORIZED]",
    ),
    (
        "403 without a code names the scopes",
        reply(403, {"success": False, "message": ""}),
        False,
        AuthError,
        77,
        "api_key:reveal",
    ),
    (
        "404 of a route a generation lacks",
        reply(404, {"error": {"message": "Invalid URL (POST /api/token/7/key)", "type": "x"}}),
        False,
        UnsupportedError,
        69,
        "POST /api/token/:id/key",
    ),
    (
        "404 without JSON",
        reply(404, text="Not Found"),
        False,
        UnsupportedError,
        69,
        "does not have that route",
    ),
    (
        "404 at the probe: not new-api",
        reply(404, text="Not Found"),
        True,
        NotNewApiError,
        69,
        "base URL",
    ),
    (
        "HTML at the probe",
        reply(200, text="<html>welcome</html>"),
        True,
        NotNewApiError,
        69,
        "not the new-api API",
    ),
    (
        "HTML later",
        reply(200, text="<html>welcome</html>"),
        False,
        ServerError,
        1,
        "not the new-api API",
    ),
    ("a panic", reply(500, {"error": {"message": "Panic detected"}}), False, ServerError, 1, "500"),
    ("502 from a proxy", reply(502, text="<html>bad gateway</html>"), False, ServerError, 1, "502"),
    ("an odd 3xx", reply(304, {"success": True, "message": ""}), False, ServerError, 1, "304"),
    (
        "success that is not a bool",
        reply(200, {"success": "true", "data": 1}),
        False,
        ServerError,
        1,
        "not the new-api API",
    ),
]


@pytest.mark.parametrize(
    ("case", "answer", "probe", "error", "code", "text"), ERRORS, ids=[c[0] for c in ERRORS]
)
def test_errors_are_typed(
    case: str, answer: Reply, probe: bool, error: type, code: int, text: str
) -> None:
    with pytest.raises(error) as raised:
        interpret(answer, "POST", "/api/token/7/key", host="x.test", probe=probe)
    assert raised.value.exit_code == code
    assert text in str(raised.value)


def test_messages_never_carry_the_credential_or_a_key() -> None:
    key = "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8s9T0u1V2w3X4"
    answer = reply(200, {"success": False, "message": f"bad {CREDENTIAL.reveal()} {key}"})
    with pytest.raises(BusinessError) as raised:
        interpret(answer, "GET", "/api/token/", host="x.test", credential=CREDENTIAL)
    assert CREDENTIAL.reveal() not in str(raised.value)
    assert key not in str(raised.value)


def test_sanitize_and_route_of() -> None:
    assert sanitize("a\x00b\n  c") == "a b c"
    assert sanitize("x" * 200, limit=10) == "xxxx...xxx..."  # masked, then cut
    assert route_of("/api/token/17/key") == "/api/token/:id/key"
    assert route_of("/api/token/") == "/api/token/"
