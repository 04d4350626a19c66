"""What a reply means: the envelope's ``data``, or a typed error. Pure: no I/O.

docs/server-contract.md#envelope-and-errors: ``{"success", "message", "data"}``
with business errors at HTTP 200; real statuses only from middleware (auth,
rate limits, unknown routes, panics). Messages are cleaned: printable, short,
and with anything key-like or the credential masked.
"""

from __future__ import annotations

import email.utils
import re
from datetime import UTC
from typing import Any

from provisioner.humanize import utc_time
from provisioner.newapi import dialect
from provisioner.newapi.errors import (
    AuthError,
    BusinessError,
    NotNewApiError,
    ServerError,
    UnsupportedError,
)
from provisioner.newapi.transport import Reply
from provisioner.render.server_messages import quoted, with_meaning
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
# an error code of the bearer generations (ACCESS_TOKEN_SCOPE_DENIED): kept as it is
_CODE = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*")
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


def auth_failure(code: str, method: str, path: str, *, server_date: str = "") -> str:
    """What a coded 401 or 403 of the bearer generations means, in the user's words, with
    what to do next; "" for a code this tool does not know
    (docs/server-contract.md#auth-failures)."""
    route = f"{method} {route_of(path)}"
    if code == "AUTH_UNAUTHORIZED":
        return (
            "the server does not accept this credential (unknown, revoked, mistyped, or "
            "another server's): check NEWAPI_TOKEN (or the keyring entry `provisioner login` "
            "wrote) and the server URL"
        )
    if code == "ACCESS_TOKEN_EXPIRED":
        return "this personal access token has expired; " + dialect.MAKE_A_TOKEN
    if code == "ACCESS_TOKEN_LEGACY_RETIRED":
        day = _day(server_date)
        when = f" (today, {day}, by the server's clock)" if day else ""
        return (
            "the server no longer accepts legacy access tokens, which this credential is: "
            "new-api v1.0.0-rc.41 and later retire them 30 days after the upgrade's first "
            f"start, and that date has passed here{when}; the console shows it under "
            "Access tokens (the API does not publish it). "
            + dialect.MAKE_A_TOKEN[0].upper()
            + dialect.MAKE_A_TOKEN[1:]
        )
    if code == "AUTH_SESSION_REVOKED":
        return (
            "the server ended what this credential stood for (a revoked session, or a user "
            "that no longer exists); " + dialect.MAKE_A_TOKEN
        )
    if code == "AUTH_USER_DISABLED":
        return (
            "the account this credential belongs to is disabled on the server; ask the "
            "server's administrator to enable it (no credential of it works until then)"
        )
    if code == "AUTH_INSUFFICIENT_PRIVILEGE":
        return (
            f"the account's role may not call {route}; the token API needs an ordinary "
            "user, so check that the URL is the server's base URL (without /api or /v1)"
        )
    if code == "ACCESS_TOKEN_SCOPE_DENIED":
        scope = dialect.scope_of(method, route_of(path))
        needed = (
            f"the {scope} scope, which {route} needs ({dialect.SCOPE_USES[scope]})"
            if scope in dialect.SCOPE_USES
            else f"the scope {route} needs"
        )
        return (
            f"the access token lacks {needed}; scopes cannot be added to a token: "
            + dialect.MAKE_A_TOKEN
        )
    if code == "AUTH_SESSION_REQUIRED":
        return (
            f"{route} can only be called from a browser session, never with an access "
            "token; the tool does not call such routes, so this server routes the request "
            "elsewhere than new-api does: report it with the output of -vv"
        )
    if code == "ACCESS_TOKEN_ROUTE_UNDECLARED":
        return (
            f"the server refuses {route} to every scoped access token: its route map does "
            "not declare the route (it fails closed), so no scope can fix this. It is the "
            "server's bug (a fork or a build that added the route): tell its administrator; "
            "a legacy access token keeps working until the server retires it"
        )
    return ""


def _day(http_date: str) -> str:
    """The date part (YYYY-MM-DD, UTC) of an HTTP Date header, or ""."""
    try:
        stamp = email.utils.parsedate_to_datetime(http_date)
    except (TypeError, ValueError, IndexError):
        return ""
    if not stamp:
        return ""
    return utc_time(stamp.replace(tzinfo=stamp.tzinfo or UTC).timestamp(), "day")


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
            code = body["code"]
            if not _CODE.fullmatch(code) or (
                credential is not None and code == credential.reveal()
            ):
                code = sanitize(code, credential, limit=300)
    where = {"method": method, "path": path}
    shown = with_meaning(message)  # a known Chinese message gets its English meaning beside it
    if status in (401, 403):
        plain = auth_failure(code, method, path, server_date=reply.headers.get("date", ""))
        if plain:  # a code this tool knows: the user's words, then the server's, escaped
            said = f"; the server said: {quoted(message)}" if message else ""
            text = f"{plain} (HTTP {status} [{code}]{said})"
            raise AuthError(text, code=code, status=status, said=message, **where)
        what = "authentication failed" if status == 401 else "permission denied"
        hint = (
            "check the management credential (NEWAPI_TOKEN) and the server URL"
            if status == 401
            else "the credential lacks a permission this needs (rc.41+ access tokens need the "
            + ", ".join(dialect.TOOL_SCOPES)
            + " scopes)"
        )
        detail = f": {shown}" if message else ""
        tag = f" [{code}]" if code else ""
        text = f"{what} (HTTP {status}){tag}{detail}; {hint}"
        raise AuthError(text, code=code, status=status, said=message, **where)
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
            + (f": {shown}" if message else "")
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
            + (f": {shown}" if message else "")
            + "; try again later",
            status=status,
            **where,
        )
    if status >= 300:
        raise ServerError(
            f"unexpected HTTP {status}" + (f": {shown}" if message else ""),
            status=status,
            **where,
        )
    if body["success"] is not True:
        lowered = message.lower()
        if any(marker in lowered for marker in LEGACY_AUTH_MARKERS):
            raise AuthError(
                f"authentication failed: {shown}; check the management credential "
                "(NEWAPI_TOKEN) — an sk- relay key does not work here",
                status=status,
                said=message,
                **where,
            )
        raise BusinessError(shown or "the server refused the request", **where)
    return body.get("data")
