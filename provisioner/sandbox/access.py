"""Scoped personal access tokens of new-api v1.0.0-rc.41 and later, as the sandbox keeps them.

Read from source, not recorded (tests/conformance/README.md names the files):

* a token is ``nap_`` + 43 characters; only its SHA-256 is stored (``token_ref``), with
  its last 4 characters (``token_hint``), its ``scopes``, ``expires_at`` (0: never) and
  its last use; 20 per user;
* every dashboard route has a rule: a scope it needs, any valid token, or a browser
  session only; a route with no rule is refused to every scoped token (fail closed);
* the legacy access token (``users.access_token``) keeps its owner's full rights until
  ``LegacyAccessTokenRetireAt``, written on the first start (now + 30 days); from then on
  no value without ``nap_`` is looked up at all.

Nothing here does I/O: the store keeps the rows, api.py applies the rules.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

from provisioner.sandbox.store import random_text

PREFIX = "nap_"
SUFFIX_LENGTH = 43
MAX_PER_USER = 20  # service.AccessTokenMaxPerUser
LEGACY_TRANSITION = 30 * 24 * 60 * 60  # legacyAccessTokenTransitionDays
TOUCH_INTERVAL = 60  # last_used_at is written at most once a minute

READ, WRITE, REVEAL, PROFILE = "api_key:read", "api_key:write", "api_key:reveal", "profile:read"
# What the sandbox's own credential gets unless --scopes says otherwise: the three the
# token API needs, and profile:read, which GET /api/user/self and /self/groups need.
DEFAULT_SCOPES = (PROFILE, READ, WRITE, REVEAL)

# The scopes a user may grant (service/access_token_scope.go: the personal resources for
# everyone, the admin and system ones for roles that have them; user 1 is root).
PERSONAL_SCOPES = (
    "profile:read",
    "profile:write",
    "api_key:read",
    "api_key:write",
    "api_key:reveal",
    "usage:read",
    "playground:read",
    "playground:write",
    "wallet:read",
    "wallet:write",
    "account_security:read",
    "account_security:write",
)
ADMIN_SCOPES = (
    *(
        f"{resource}:{action}"
        for resource in ("user", "billing", "model", "deployment", "redemption", "group")
        for action in ("read", "write")
    ),
    "log:read",
)
SYSTEM_SCOPES = ("option:read", "option:write", "plugin:read", "plugin:write", "ops:read")
KNOWN_SCOPES = (*PERSONAL_SCOPES, *ADMIN_SCOPES, *SYSTEM_SCOPES)


@dataclass(frozen=True)
class Rule:
    """What a route asks of an access token (middleware/access_token_routes.go)."""

    kind: Literal["scope", "any", "session"]
    scope: str = ""


def _scope(scope: str) -> Rule:
    return Rule("scope", scope)


SESSION = Rule("session")
# The routes the sandbox serves, keyed as the server keys them: METHOD and the route's
# pattern. A route the sandbox serves that is missing here answers 403
# ACCESS_TOKEN_ROUTE_UNDECLARED to every scoped token (App.access_token_routes: a test may
# drop one, as a fork that added a route without declaring it).
ROUTES: dict[str, Rule] = {
    "GET /api/user/self": _scope(PROFILE),
    "GET /api/user/self/groups": _scope(PROFILE),
    "GET /api/user/models": _scope(PROFILE),
    "GET /api/user/:id": _scope("user:read"),  # the admin route that catches /api/user/token
    "GET /api/user/access_tokens": SESSION,
    "GET /api/user/access_tokens/catalog": SESSION,
    "GET /api/user/access_tokens/scopes": SESSION,
    "POST /api/user/access_tokens": SESSION,
    "PATCH /api/user/access_tokens/:id": SESSION,
    "DELETE /api/user/access_tokens/:id": SESSION,
    "DELETE /api/user/access_tokens/legacy": SESSION,
    "GET /api/token/": _scope(READ),
    "GET /api/token/search": _scope(READ),
    "GET /api/token/auto-groups": _scope(READ),
    "GET /api/token/:id": _scope(READ),
    "POST /api/token/:id/key": _scope(REVEAL),
    "POST /api/token/": _scope(WRITE),
    "PUT /api/token/": _scope(WRITE),
    "DELETE /api/token/:id": _scope(WRITE),
    "POST /api/token/batch": _scope(WRITE),
    "POST /api/token/batch/keys": _scope(REVEAL),
    "GET /api/audit/self": _scope("usage:read"),
}

# middleware/audit.go TokenOperationAudit: the token routes that leave a security entry.
TOKEN_AUDIT_ACTIONS: dict[str, tuple[str, str]] = {
    "POST /api/token/": ("token.create", "API token creation"),
    "PUT /api/token/": ("token.update", "API token configuration update"),
    "DELETE /api/token/:id": ("token.delete", "API token deletion"),
    "POST /api/token/batch": ("token.delete_batch", "API token batch deletion"),
    "POST /api/token/:id/key": ("token.key_view", "API token key access"),
    "POST /api/token/batch/keys": ("token.key_view_batch", "API token batch key access"),
}
STATUS_UPDATE = ("token.status_update", "API token status update")


def generate() -> str:
    """``nap_`` + 43 characters of [0-9A-Za-z] from the OS CSPRNG."""
    return PREFIX + random_text(SUFFIX_LENGTH)


def fingerprint(raw: str) -> str:
    """The stored form and the audit's ``token_ref``: SHA-256 of the value, hex."""
    raw = raw.rstrip(" ")
    return hashlib.sha256(raw.encode("utf-8")).hexdigest() if raw else ""


def hint(raw: str) -> str:
    """The last 4 characters, shown so that people can tell their tokens apart."""
    raw = raw.rstrip(" ")
    return raw[-4:] if len(raw) > 4 else ""


def check_scopes(scopes: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """A grant, trimmed, de-duplicated and sorted as the server stores it; ValueError says
    what is wrong (the console refuses an empty grant and scopes it does not know)."""
    cleaned = sorted({s.strip() for s in scopes if s.strip()})
    if not cleaned:
        raise ValueError("select at least one scope, e.g. " + ",".join(DEFAULT_SCOPES))
    unknown = [s for s in cleaned if s not in KNOWN_SCOPES]
    if unknown:
        raise ValueError(
            f"unknown scope {unknown[0]!r}; the token API's are {READ}, {WRITE}, {REVEAL} "
            f"(and {PROFILE} for /api/user/self); known: {', '.join(KNOWN_SCOPES)}"
        )
    return tuple(cleaned)
