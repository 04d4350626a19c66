"""What a reply means: the envelope's ``data``, or a typed error. Pure: no I/O.

docs/server-contract.md#envelope-and-errors: ``{"success", "message", "data"}``
with business errors at HTTP 200; real statuses only from middleware (auth,
rate limits, unknown routes, panics). Messages are cleaned: printable, short,
and with anything key-like or the credential masked.
"""

from __future__ import annotations

import re
from typing import Any

from provisioner.newapi.errors import (
    AuthError,
    BusinessError,
    NotNewApiError,
    ServerError,
    UnsupportedError,
)
from provisioner.newapi.transport import Reply
from provisioner.secret import Secret

# The header-auth generations answer a bad access token with HTTP 200
# (docs/server-contract.md#authentication), in Chinese or English.
LEGACY_AUTH_MARKERS = (
    "access token 无效",
    "invalid access token",
    "未登录",
    "not logged in",
)

_KEYLIKE = re.compile(r"[A-Za-z0-9+/=_]{24,}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def sanitize(text: str, credential: Secret | None = None, *, limit: int = 80) -> str:
    """Printable, short, and with anything key-like masked."""
    if credential is not None:
        raw = credential.reveal()
        if raw:
            text = text.replace(raw, "***")
    text = _CONTROL.sub(" ", text)
    text = " ".join(text.split())
    text = _KEYLIKE.sub(lambda m: m.group(0)[:4] + "..." + m.group(0)[-4:], text)
    if len(text) > limit:
        text = text[:limit] + "..."
    return text


def route_of(path: str) -> str:
    """``/api/token/7/key`` -> ``/api/token/:id/key``."""
    return re.sub(r"/\d+(?=/|$)", "/:id", path)


def interpret(
    reply: Reply,
    method: str,
    path: str,
    *,
    host: str,
    probe: bool = False,
    credential: Secret | None = None,
) -> Any:
    """The ``data`` of a successful envelope; otherwise the error the reply stands for.

    ``probe`` marks the first call to a URL: there, anything that is not the
    new-api API is :class:`NotNewApiError` (exit 69) with a hint about the URL.
    """
    status = reply.status
    body = reply.json()
    message = ""
    code = ""
    if isinstance(body, dict):
        raw_message = body.get("message")
        if isinstance(body.get("error"), dict):
            raw_message = body["error"].get("message", raw_message)
        message = sanitize(str(raw_message), credential, limit=300) if raw_message else ""
        if isinstance(body.get("code"), str):
            code = sanitize(body["code"], credential, limit=300)
    where = {"method": method, "path": path}
    if status in (401, 403):
        what = "authentication failed" if status == 401 else "permission denied"
        hint = (
            "check the management credential (NEWAPI_TOKEN) and the server URL"
            if status == 401
            else "the credential lacks a permission this needs (rc.41+ PATs need the "
            "api_key:read, api_key:write and api_key:reveal scopes)"
        )
        detail = f": {message}" if message else ""
        tag = f" [{code}]" if code else ""
        raise AuthError(
            f"{what} (HTTP {status}){tag}{detail}; {hint}", code=code, status=status, **where
        )
    if status == 404:
        if probe or not isinstance(body, dict):
            raise (NotNewApiError if probe else UnsupportedError)(
                f"{host} answered HTTP 404 for {method} {path}"
                + (
                    ": this does not look like a new-api server (the URL should be the "
                    "server's base URL, without /api or /v1)"
                    if probe
                    else ": this server does not have that route"
                ),
                **where,
            )
        raise UnsupportedError(
            f"this server does not have {method} {route_of(path)} (HTTP 404"
            + (f": {message}" if message else "")
            + "); it is older than the feature",
            **where,
        )
    if not isinstance(body, dict) or not isinstance(body.get("success"), bool):
        snippet = sanitize(reply.text, credential)
        if status >= 500:
            raise ServerError(
                f"the server failed with HTTP {status}: {snippet or '(empty body)'}",
                status=status,
                **where,
            )
        if probe:
            raise NotNewApiError(
                f"{host} answered {method} {path} with something that is not the "
                f"new-api API (HTTP {status}: {snippet or '(empty body)'}); check the URL "
                "(it should be the server's base URL, without /api or /v1)",
                **where,
            )
        raise ServerError(
            "the server answered something that is not the new-api API "
            f"(HTTP {status}): {snippet or '(empty body)'}",
            status=status,
            **where,
        )
    if status >= 500:
        raise ServerError(
            f"the server failed with HTTP {status}"
            + (f": {message}" if message else "")
            + "; try again later",
            status=status,
            **where,
        )
    if status >= 300:
        raise ServerError(
            f"unexpected HTTP {status}" + (f": {message}" if message else ""),
            status=status,
            **where,
        )
    if body["success"] is not True:
        lowered = message.lower()
        if any(marker in lowered for marker in LEGACY_AUTH_MARKERS):
            raise AuthError(
                f"authentication failed: {message}; check the management credential "
                "(NEWAPI_TOKEN) — an sk- relay key does not work here",
                status=status,
                **where,
            )
        raise BusinessError(message or "the server refused the request", **where)
    return body.get("data")
