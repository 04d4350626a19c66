"""Server generations: what the probe learns, the two list dialects, one-api's field names.

docs/server-contract.md#generations and #probing. Everything here is learned
from evidence, never from the version string (self-built servers say v0.0.0):

* the first list page's shape (page object or bare array) and records (which
  fields exist, whether keys are masked);
* routes that answer or 404 (groups, auto groups, reveal, batch delete);
* the auth generation (coded 401s, whether ``New-Api-User`` was needed) and the
  ``Auth-Version`` header that servers from 2026-02 on send.

The functions that decide are pure (:func:`learn_from_records`,
:func:`from_wire`, :func:`to_wire`); the walkers take a ``fetch`` callable.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from provisioner.newapi.errors import ServerError
from provisioner.observed import MAX_NAME_BYTES, OLD_SERVER_NAME_BYTES

PAGE_SIZE = 100  # the server's cap (docs/server-contract.md#paging)
# A list that never ends (a total that lies, ids that never repeat) must still stop:
# 2,000 pages is 200,000 tokens, 200 times the default token cap.
MAX_PAGES = 2000

# one-api names the model and IP limits differently (docs/server-contract.md#one-api).
ONEAPI_MODELS, ONEAPI_SUBNET = "models", "subnet"


@dataclass(frozen=True)
class FirstPage:
    """Page 1 as the probe read it; handed to the first full listing so it is not read twice."""

    items: list[dict[str, Any]]
    total: int | None = None  # page objects say how many tokens there are


@dataclass
class Evidence:
    """What the probe saw, for :func:`learn`."""

    list_shape: str
    records: list[dict[str, Any]] = field(default_factory=list)
    user_header_sent: bool = False
    auth_version: str = ""  # the Auth-Version header (servers from 2026-02 on)
    groups_route: bool | None = None
    auto_groups_route: bool | None = None


def learn(evidence: Evidence) -> dict[str, Any]:
    """ServerInfo fields from the evidence (pure; table-tested)."""
    records = evidence.records
    oneapi = any(ONEAPI_MODELS in r or ONEAPI_SUBNET in r for r in records) or (
        not records and evidence.list_shape == "array" and evidence.groups_route is False
    )
    keys = [str(r.get("key") or "") for r in records]
    keys_masked: bool | None = any("*" in k for k in keys) if keys else None
    modern = bool(evidence.auth_version)  # the header came with v0.10.9 (2026-02-12)

    def has(field_name: str, fallback: bool | None) -> bool | None:
        if oneapi:
            return False
        if records:
            return any(field_name in r for r in records)
        return fallback

    cross_group_retry = has("cross_group_retry", True if modern else None)
    auto_groups = has("auto_groups", evidence.auto_groups_route)
    group_field = has("group", True if evidence.groups_route else None)
    if oneapi or cross_group_retry is False:
        # 30 bytes until new-api v0.10.0 (2025-12-04); cross_group_retry came a week later.
        name_max: int | None = OLD_SERVER_NAME_BYTES
        token_cap: bool | None = False  # MaxUserTokens came with v0.10.8
    elif cross_group_retry or modern:
        name_max, token_cap = MAX_NAME_BYTES, True
    else:
        name_max, token_cap = None, None
    if oneapi:
        auth = "access-token"
    elif evidence.user_header_sent:
        auth = "unknown"
    else:
        auth = "bearer"
    learned: dict[str, Any] = {
        "list_shape": evidence.list_shape,
        "oneapi_fields": oneapi,
        "keys_masked": keys_masked,
        "cross_group_retry": cross_group_retry,
        "auto_groups": auto_groups,
        "group_field": group_field,
        "name_max_bytes": name_max,
        "token_cap": token_cap,
        "auth": auth,
        "fingerprint": evidence.auth_version,
    }
    if keys_masked is not None:
        # Masking and the reveal routes came together (v0.11.4): full keys need no reveal.
        learned["reveal"] = keys_masked
    if evidence.groups_route is not None:
        learned["groups_route"] = evidence.groups_route
    if oneapi:
        learned["batch_delete"] = False
        learned["reveal"] = False
    return learned


# ---------------------------------------------------------------------- field names


def _cidr(entry: str) -> str:
    """one-api's subnet takes networks only: a bare address becomes /32 or /128."""
    try:
        return str(ipaddress.ip_network(entry.strip(), strict=False))
    except ValueError:
        return entry.strip()


def from_wire(record: dict[str, Any]) -> dict[str, Any]:
    """A record in the canonical field names (one-api's ``models``/``subnet`` mapped)."""
    if ONEAPI_MODELS not in record and ONEAPI_SUBNET not in record:
        return record
    out = {k: v for k, v in record.items() if k not in (ONEAPI_MODELS, ONEAPI_SUBNET)}
    models = str(record.get(ONEAPI_MODELS) or "")
    out["model_limits_enabled"] = bool(models.strip())
    out["model_limits"] = models
    subnet = str(record.get(ONEAPI_SUBNET) or "")
    out["allow_ips"] = "\n".join(part.strip() for part in subnet.split(",") if part.strip())
    return out


def to_wire(body: dict[str, Any], *, oneapi: bool) -> dict[str, Any]:
    """A write body in the server's field names. one-api has no group and no auto groups."""
    if not oneapi:
        return body
    out = {
        k: v
        for k, v in body.items()
        if k
        not in (
            "model_limits_enabled",
            "model_limits",
            "allow_ips",
            "group",
            "cross_group_retry",
            "auto_groups",
        )
    }
    enabled = body.get("model_limits_enabled", bool(body.get("model_limits")))
    out[ONEAPI_MODELS] = str(body.get("model_limits") or "") if enabled else ""
    ips = [line for line in str(body.get("allow_ips") or "").splitlines() if line.strip()]
    out[ONEAPI_SUBNET] = ",".join(_cidr(ip) for ip in ips)
    return out


# ---------------------------------------------------------------------- paging


def page_items(value: Any) -> list[dict[str, Any]]:
    """The token records of one list page; anything else is a broken server, not 'no tokens'.

    Treating a malformed page as empty would plan creates for tokens that exist.
    """
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(i, dict) for i in value):
        raise ServerError(
            "the token list holds something that is not a list of token records; "
            "nothing was changed",
            method="GET",
            path="/api/token/",
        )
    for item in value:
        if not isinstance(item.get("name"), str):
            raise ServerError(
                f"the token list holds a token without a name (id {str(item.get('id'))[:20]}); "
                "nothing was changed",
                method="GET",
                path="/api/token/",
            )
    return value


def _check_page_bound(page: int) -> None:
    if page > MAX_PAGES:
        raise ServerError(
            f"the token list did not end after {MAX_PAGES} pages of {PAGE_SIZE} "
            "(the server's total or paging is wrong); nothing was changed",
            method="GET",
            path="/api/token/",
        )


def nonneg_int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if number >= 0 else None


def positive_int(value: Any, default: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return default
    return number if number > 0 else default


def read_page_object(data: Any) -> tuple[list[dict[str, Any]], int | None, int]:
    """One page object: (items, total, page_size)."""
    if not isinstance(data, dict):
        raise ServerError(
            "the token list changed shape between pages (page object expected)",
            method="GET",
            path="/api/token/",
        )
    return (
        page_items(data.get("items")),
        nonneg_int_or_none(data.get("total")),
        positive_int(data.get("page_size"), PAGE_SIZE),
    )


PageFetch = Callable[[int], Any]
"""Fetches the list's page ``p`` and returns the envelope's data."""


def walk_page_dialect(
    fetch: PageFetch, first: FirstPage | None, *, concurrency: int = 4
) -> list[dict[str, Any]]:
    """Every record of a page-object list: 1-based ``p``, never 0 (docs/server-contract.md#paging).

    Stops at the total or at a short page. Once page 1 tells the total, the pages
    it implies are fetched a few at a time; anything beyond them (tokens created
    meanwhile) is read one by one.
    """

    def fetch_page(page: int) -> tuple[list[dict[str, Any]], int | None, int]:
        return read_page_object(fetch(page))

    start = (first.items, first.total, PAGE_SIZE) if first is not None else fetch_page(1)
    fetched: dict[int, tuple[list[dict[str, Any]], int | None, int]] = {1: start}
    total = start[1]
    if total is not None and concurrency > 1 and len(start[0]) >= PAGE_SIZE:
        planned = list(range(2, min(math.ceil(total / PAGE_SIZE), MAX_PAGES) + 1))
        if planned:
            with ThreadPoolExecutor(max_workers=concurrency) as pool:
                fetched.update(zip(planned, pool.map(fetch_page, planned), strict=True))
    items: list[dict[str, Any]] = []
    seen: set[Any] = set()
    page = 1
    while True:
        batch, page_total, page_size = fetched.pop(page) if page in fetched else fetch_page(page)
        total = page_total if page_total is not None else total
        new = [i for i in batch if i.get("id") not in seen]
        seen.update(i.get("id") for i in batch)
        items.extend(new)
        if not batch or not new or len(batch) < min(page_size, PAGE_SIZE):
            break
        if total is not None and page * PAGE_SIZE >= total:
            break
        page += 1
        _check_page_bound(page)
    return items


def walk_array_dialect(fetch: PageFetch, first: FirstPage | None) -> list[dict[str, Any]]:
    """Every record of a bare-array list: 0-based ``p``, and stop only at an empty page.

    one-api ignores ``size`` and answers 10 rows, so a short page proves nothing
    (docs/server-contract.md#paging).
    """
    items: list[dict[str, Any]] = []
    seen: set[Any] = set()
    page = 0
    pending: Iterable[dict[str, Any]] | None = first.items if first is not None else None
    while True:
        if pending is not None:
            data: Any = list(pending)
            pending = None
        else:
            data = fetch(page)
        if data is None:
            data = []
        if not isinstance(data, list):
            raise ServerError(
                "the token list changed shape between pages (array expected)",
                method="GET",
                path="/api/token/",
            )
        batch = page_items(data)
        new = [i for i in batch if i.get("id") not in seen]
        if not batch or not new:
            break  # empty page, or a server that ignores p and repeats itself
        seen.update(i.get("id") for i in batch)
        items.extend(new)
        page += 1
        _check_page_bound(page + 1)
    return items


# ---------------------------------------------------------------------- scopes (rc.41+)

# Scoped personal access tokens (new-api v1.0.0-rc.41 and later: ``nap_`` + 43
# characters) carry scopes; every dashboard route needs one
# (docs/server-contract.md#authentication). A credential without the prefix is a legacy
# access token: its owner's full rights, until the server retires it.
ACCESS_TOKEN_PREFIX = "nap_"
SCOPE_PROFILE = "profile:read"
SCOPE_READ = "api_key:read"
SCOPE_WRITE = "api_key:write"
SCOPE_REVEAL = "api_key:reveal"
#: every scope the tool uses, in the order people read them
TOOL_SCOPES = (SCOPE_PROFILE, SCOPE_READ, SCOPE_WRITE, SCOPE_REVEAL)
#: the scopes every command needs: whose account this is, and its tokens
BASE_SCOPES = (SCOPE_PROFILE, SCOPE_READ)

#: the routes the tool calls, and the scope each needs (middleware/access_token_routes.go)
ROUTE_SCOPES: dict[str, str] = {
    "GET /api/user/self": SCOPE_PROFILE,
    "GET /api/user/self/groups": SCOPE_PROFILE,
    "GET /api/user/models": SCOPE_PROFILE,
    "GET /api/token/": SCOPE_READ,
    "GET /api/token/search": SCOPE_READ,
    "GET /api/token/auto-groups": SCOPE_READ,
    "GET /api/token/:id": SCOPE_READ,
    "POST /api/token/": SCOPE_WRITE,
    "PUT /api/token/": SCOPE_WRITE,
    "DELETE /api/token/:id": SCOPE_WRITE,
    "POST /api/token/batch": SCOPE_WRITE,
    "POST /api/token/:id/key": SCOPE_REVEAL,
    "POST /api/token/batch/keys": SCOPE_REVEAL,
    "GET /api/audit/self": "usage:read",
}

#: what each scope lets the tool do, for messages that say what a missing one blocks
SCOPE_USES: dict[str, str] = {
    SCOPE_PROFILE: "every command: the tool reads whose account it is and its groups, "
    "GET /api/user/self",
    SCOPE_READ: "every command: the token list",
    SCOPE_WRITE: "apply and plan of a file with changes, rotate, revoke, delete, unlock",
    SCOPE_REVEAL: "key delivery: apply with keys.to, reveal, rotate, revoke, scan, test",
}

#: where a person makes a scoped token, and with what
MAKE_A_TOKEN = (
    "make a personal access token in the server's console (Settings -> Access tokens; it "
    "needs a browser session) with the scopes " + ", ".join(TOOL_SCOPES) + ", then store it "
    "with `provisioner login --url URL` (or set NEWAPI_TOKEN)"
)


def scoped_credential(raw: str) -> bool:
    """True for a scoped personal access token (``nap_``); scopes matter only for those."""
    return raw.startswith(ACCESS_TOKEN_PREFIX)


def scope_of(method: str, route: str) -> str | None:
    """The scope ``METHOD /route/:id`` needs on a scoped server, or None if not the tool's."""
    return ROUTE_SCOPES.get(f"{method} {route}")


def missing_scopes(granted: dict[str, bool | None], needs: dict[str, str]) -> list[str]:
    """The scopes of ``needs`` (scope -> what needs it) that ``granted`` says are absent."""
    return [scope for scope in needs if granted.get(scope) is False]


def scope_refusal(
    granted: dict[str, bool | None], needs: dict[str, str], *, credential_hint: str = ""
) -> str:
    """The message of a refusal for missing scopes: each scope, what needs it, the remedy.

    Pure; ``granted`` holds what is known (True, False, or None for not asked).
    """
    missing = missing_scopes(granted, needs)
    which = f"the access token{f' ({credential_hint})' if credential_hint else ''}"
    parts = [f"{scope} (needed by {needs[scope]})" for scope in missing]
    other = [s for s in TOOL_SCOPES if granted.get(s) is False and s not in missing]
    also = f"; it also lacks {', '.join(other)}" if other else ""
    return (
        f"{which} lacks the scope{'s' if len(missing) > 1 else ''} "
        + "; ".join(parts)
        + f"{also}. Nothing was changed. Scopes cannot be added to a token: "
        + MAKE_A_TOKEN
    )
