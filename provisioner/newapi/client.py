"""The one module that speaks to a new-api-family server (STYLE: nothing else builds a URL).

Paths, envelopes, paging, dialect probing (contract §18), error mapping,
retries and pacing live here. Every public method returns typed values or
raises a :class:`~provisioner.newapi.errors.NewApiError`; no exception text
ever carries the credential or a full key.
"""

from __future__ import annotations

import email.utils
import json
import math
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
from pydantic import ValidationError

from provisioner import __version__
from provisioner.newapi.errors import (
    AmbiguousWriteError,
    AuthError,
    BusinessError,
    NetworkError,
    NewApiError,
    NotNewApiError,
    RateLimitedError,
    ServerError,
    UnreachableError,
    UnsupportedError,
)
from provisioner.newapi.ratelimit import SlidingWindowLimiter, describe_wait
from provisioner.newapi.retry import RetryPolicy, parse_retry_after
from provisioner.observed import QUOTA_PER_UNIT_DEFAULT, ServerInfo, Token, User
from provisioner.secret import Secret

PAGE_SIZE = 100  # the server's cap (contract §5.1)
# A list that never ends (a total that lies, ids that never repeat) must still stop:
# 2,000 pages is 200,000 tokens, 200 times the default MaxUserTokens (contract §5.4).
MAX_PAGES = 2000
REVEAL_CHUNK = 100  # batch reveal takes 1..100 ids (contract §5.8)
DELETE_CHUNK = 100
CRITICAL_RATE_LIMIT = (20, 1200.0)  # reveal routes share the per-IP critical window (contract §10)

# Routes as templates: the keys of ``request_counts`` and of ``on_request``.
R_STATUS = "GET /api/status"
R_SELF = "GET /api/user/self"
R_GROUPS = "GET /api/user/self/groups"
R_LIST = "GET /api/token/"
R_GET = "GET /api/token/:id"
R_AUTO_GROUPS = "GET /api/token/auto-groups"
R_CREATE = "POST /api/token/"
R_UPDATE = "PUT /api/token/"
R_DELETE = "DELETE /api/token/:id"
R_BATCH_DELETE = "POST /api/token/batch"
R_REVEAL = "POST /api/token/:id/key"
R_BATCH_REVEAL = "POST /api/token/batch/keys"

# The legacy generation answers a bad access token with HTTP 200 (contract §2.3, §7.1).
_LEGACY_AUTH_MARKERS = (
    "access token 无效",
    "invalid access token",
    "未登录",
    "not logged in",
)

_KEYLIKE = re.compile(r"[A-Za-z0-9+/=_]{24,}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")

OnRequest = Callable[[str, str, int, float], None]


def _ambiguous_transport(exc: httpx.TransportError) -> bool:
    """True when the request may have reached the server (so a write may have committed)."""
    return not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)


class NewApiClient:
    """A synchronous client for the new-api dashboard token API.

    ``credential`` is the management credential (system access token or
    ``nap_`` PAT), never an ``sk-`` relay key. ``user_id`` is sent as
    ``New-Api-User`` when known; legacy servers need it (contract §2.1).
    """

    def __init__(
        self,
        base_url: str,
        credential: Secret,
        user_id: int | None = None,
        *,
        timeout: float = 30.0,
        max_attempts: int = 5,
        max_retry_time: float = 60.0,
        rate_limit: tuple[int, float] | None = (180, 180.0),
        critical_rate_limit: tuple[int, float] | bool | None = True,
        transport: httpx.BaseTransport | None = None,
        on_request: OnRequest | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        retry_policy: RetryPolicy | None = None,
        concurrency: int = 4,
        verify: Any = True,  # True, a CA bundle path or an ssl.SSLContext; never False
    ) -> None:
        if not isinstance(credential, Secret):
            credential = Secret(credential)
        if credential.reveal().startswith("sk-"):
            raise AuthError(
                "the credential starts with sk-: that is a relay key, not a management "
                "credential; use the system access token from the dashboard (personal settings)"
            )
        if not credential.reveal().strip():
            raise AuthError("the management credential is empty")
        parts = urlsplit(base_url.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise NotNewApiError(f"not an http(s) URL: {base_url!r}")
        self.base_url = base_url.strip().rstrip("/")
        self._credential = credential
        self.user_id = user_id
        self._sleep = sleep
        self._clock = clock
        self.retry = retry_policy or RetryPolicy(
            max_attempts=max(1, max_attempts), max_retry_time=max_retry_time
        )
        self._on_request = on_request
        self._limiter = (
            SlidingWindowLimiter(*rate_limit, name="requests", clock=clock, sleep=sleep)
            if rate_limit
            else None
        )
        if critical_rate_limit is True:
            # Default: on whenever general pacing is on (a sandbox run turns both off).
            critical_rate_limit = CRITICAL_RATE_LIMIT if rate_limit else None
        self._critical = (
            SlidingWindowLimiter(*critical_rate_limit, name="key reveals", clock=clock, sleep=sleep)
            if isinstance(critical_rate_limit, tuple)
            else None
        )
        self._http = httpx.Client(
            transport=transport,
            timeout=timeout,
            follow_redirects=False,
            verify=verify if verify is not False else True,
            event_hooks={"response": [self._note_server_time]},
            headers={
                "Accept": "application/json",
                "User-Agent": f"provisioner/{__version__}",
            },
        )
        self.request_counts: Counter[str] = Counter()
        self._server_offset = 0.0
        self.concurrency = max(1, concurrency)  # list pages in flight at once
        self._count_lock = threading.Lock()
        self._info: ServerInfo | None = None
        self._user: User | None = None
        self._full_keys: dict[int, Secret] = {}
        self._listed = False
        self._probe_page: list[dict[str, Any]] | None = None  # page 1 seen by the probe
        self._probe_page_total: int | None = None

    # ------------------------------------------------------------------ server time

    def _note_server_time(self, response: httpx.Response) -> None:
        """Remember how far the server's clock (its Date header) is from ours."""
        header = response.headers.get("date")
        if not header:
            return
        try:
            stamp = email.utils.parsedate_to_datetime(header).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            return
        self._server_offset = stamp - time.time()

    def now(self) -> int:
        """The server's current time in unix seconds (its Date header), else ours.

        Expiry is judged by the server's clock (contract §6), so plans use it:
        a laptop with a skewed clock then plans the same as CI does.
        """
        return int(time.time() + self._server_offset)

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> NewApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def request_count(self) -> int:
        return sum(self.request_counts.values())

    @property
    def info(self) -> ServerInfo | None:
        """The cached probe result, or None before the first probe."""
        return self._info

    @property
    def user(self) -> User | None:
        return self._user

    # ------------------------------------------------------------------ probing

    def probe(self) -> ServerInfo:
        """Learn the server's dialect (contract §18.2). Cached; later calls reuse it."""
        if self._info is not None:
            return self._info
        try:
            # Two tries only: a wrong URL should fail fast (PRODUCT §4 `check`).
            status_data = self._call("GET", R_STATUS, "/api/status", probe=True, max_attempts=2)
        except NetworkError as exc:
            raise UnreachableError(
                f"cannot reach {self._host()}: {exc.message}; check the URL and the network",
                method="GET",
                path="/api/status",
            ) from None
        except UnsupportedError as exc:
            raise NotNewApiError(
                f"{self._host()} has no /api/status: this does not look like a new-api server",
                method=exc.method,
                path=exc.path,
            ) from None
        if not isinstance(status_data, dict):
            raise NotNewApiError(
                f"{self._host()} answered /api/status without a status object: "
                "this does not look like a new-api server",
                method="GET",
                path="/api/status",
            )
        version = str(status_data.get("version") or "")
        quota_per_unit = _positive_int(status_data.get("quota_per_unit"), QUOTA_PER_UNIT_DEFAULT)
        display_type = str(status_data.get("quota_display_type") or "USD")

        header_sent = self.user_id is not None
        try:
            self_data = self._call("GET", R_SELF, "/api/user/self")
        except AuthError as exc:
            if "new-api-user" in exc.message.lower():
                raise AuthError(
                    "this server needs the user id in the New-Api-User header "
                    f"(server said: {exc.message}); set NEWAPI_USER_ID to your numeric user id "
                    "(shown in the dashboard's personal settings; root is usually 1)",
                    code=exc.code,
                    status=exc.status,
                    method=exc.method,
                    path=exc.path,
                ) from None
            raise
        try:
            user = User.model_validate(self_data)
        except ValidationError as exc:
            raise ServerError(
                f"/api/user/self answered an unexpected user record: {_first_error(exc)}",
                method="GET",
                path="/api/user/self",
            ) from None
        if self.user_id is not None and user.id and user.id != self.user_id:
            raise AuthError(
                f"the credential belongs to user {user.id}, but the configured user id is "
                f"{self.user_id}; fix NEWAPI_USER_ID",
                method="GET",
                path="/api/user/self",
            )
        self._user = user
        if self.user_id is None and user.id:
            self.user_id = user.id
        fingerprint = self._last_auth_version

        # List dialect: p=1 on the first page; a dict is the page dialect (contract §18.2).
        data = self._call(
            "GET", R_LIST, "/api/token/", params={"p": 1, "size": PAGE_SIZE, "page_size": PAGE_SIZE}
        )
        list_shape: str
        items: list[Any]
        if isinstance(data, dict):
            list_shape = "page"
            items = _page_items(data.get("items"))
            self._probe_page = items
            self._probe_page_total = _nonneg_int_or_none(data.get("total"))
        elif isinstance(data, list) or data is None:
            # Bare array: p is 0-based there, so re-read the real first page (contract §18.2).
            list_shape = "array"
            first = self._call("GET", R_LIST, "/api/token/", params={"p": 0, "size": PAGE_SIZE})
            items = _page_items(first if isinstance(first, list) else None)
            self._probe_page = items
        else:
            raise NotNewApiError(
                "the token list answered neither a page object nor an array: "
                "unsupported server dialect",
                method="GET",
                path="/api/token/",
            )
        keys = [str(i.get("key") or "") for i in items if isinstance(i, dict)]
        # No keys to look at: arrays predate masking, page objects may not (contract §13).
        keys_masked = any("*" in k for k in keys) if keys else list_shape == "page"
        if not keys_masked:
            auth = "legacy"  # unmasked keys predate v0.11.4, so header auth (contract §13)
        elif self._saw_auth_code or not header_sent:
            auth = "bearer"  # coded 401s, or /api/user/self worked without New-Api-User
        else:
            auth = "unknown"
        self._info = ServerInfo(
            url=self.base_url,
            version=version,
            quota_per_unit=quota_per_unit,
            quota_display_type=display_type,
            auth=auth,  # type: ignore[arg-type]
            list_shape=list_shape,  # type: ignore[arg-type]
            keys_masked=keys_masked,
            reveal=keys_masked,
            batch_delete=True,
            user_id=self.user_id,
            username=user.username,
            user_group=user.group,
            fingerprint=fingerprint,
        )
        return self._info

    def _ensure(self) -> ServerInfo:
        return self._info if self._info is not None else self.probe()

    def _learn(self, **changes: Any) -> None:
        if self._info is not None:
            self._info = self._info.model_copy(update=changes)

    # ------------------------------------------------------------------ tokens

    def list_tokens(self) -> list[Token]:
        """Every token of the user, newest first, over every page (contract §18.3)."""
        info = self._ensure()
        raw = self._list_page_dialect() if info.list_shape == "page" else self._list_array_dialect()
        self._listed = True
        tokens: list[Token] = []
        seen: set[int] = set()
        unmasked = False
        for item in raw:
            owner = item.get("user_id")
            if self.user_id and isinstance(owner, int) and owner and owner != self.user_id:
                continue  # fork servers list everyone's tokens to root (contract §13)
            token = self._token(item, "GET", "/api/token/")
            if token.id in seen:
                continue  # a create during paging shifts rows onto the next page
            seen.add(token.id)
            if self._remember_full_key(token.id, item.get("key")):
                unmasked = True
            tokens.append(token)
        if unmasked and info.keys_masked:
            self._learn(keys_masked=False, reveal=False, auth="legacy")
        return tokens

    def _fetch_page(self, page: int) -> tuple[list[dict[str, Any]], int | None, int]:
        """One page object: (items, total, page_size)."""
        data = self._call(
            "GET",
            R_LIST,
            "/api/token/",
            params={"p": page, "size": PAGE_SIZE, "page_size": PAGE_SIZE},
        )
        if not isinstance(data, dict):
            raise ServerError(
                "the token list changed shape between pages (page object expected)",
                method="GET",
                path="/api/token/",
            )
        batch = _page_items(data.get("items"))
        return (
            batch,
            _nonneg_int_or_none(data.get("total")),
            _positive_int(data.get("page_size"), PAGE_SIZE),
        )

    def _list_page_dialect(self) -> list[dict[str, Any]]:
        # Page objects: 1-based p (never start at 0: contract §12.10); stop at total or at
        # a short page. Once page 1 tells the total, the pages it implies are fetched a few
        # at a time; anything beyond them (tokens created meanwhile) is read one by one.
        if self._probe_page is not None:
            first = (self._probe_page, self._probe_page_total, PAGE_SIZE)
            self._probe_page = None
        else:
            first = self._fetch_page(1)
        fetched: dict[int, tuple[list[dict[str, Any]], int | None, int]] = {1: first}
        total = first[1]
        if total is not None and self.concurrency > 1 and len(first[0]) >= PAGE_SIZE:
            planned = list(range(2, min(math.ceil(total / PAGE_SIZE), MAX_PAGES) + 1))
            if planned:
                with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
                    fetched.update(zip(planned, pool.map(self._fetch_page, planned), strict=True))
        items: list[dict[str, Any]] = []
        seen: set[Any] = set()
        page = 1
        while True:
            batch, page_total, page_size = fetched.pop(page, None) or self._fetch_page(page)
            total = page_total if page_total is not None else total
            new = [i for i in batch if _item_id(i) not in seen]
            seen.update(_item_id(i) for i in batch)
            items.extend(new)
            if not batch or not new or len(batch) < min(page_size, PAGE_SIZE):
                break
            if total is not None and page * PAGE_SIZE >= total:
                break
            page += 1
            _check_page_bound(page)
        return items

    def _list_array_dialect(self) -> list[dict[str, Any]]:
        # Bare arrays: 0-based p, and stop only at an empty page: one-api ignores size
        # and answers 10 rows, so a short page proves nothing (contract §12.10, §18.3).
        items: list[dict[str, Any]] = []
        seen: set[int] = set()
        page = 0
        first, self._probe_page = self._probe_page, None
        while True:
            if first is not None:
                data: Any = first
                first = None
            else:
                data = self._call(
                    "GET", R_LIST, "/api/token/", params={"p": page, "size": PAGE_SIZE}
                )
            if data is None:
                data = []
            if not isinstance(data, list):
                raise ServerError(
                    "the token list changed shape between pages (array expected)",
                    method="GET",
                    path="/api/token/",
                )
            batch = _page_items(data)
            new = [i for i in batch if _item_id(i) not in seen]
            if not batch or not new:
                break  # empty page, or a server that ignores p and repeats itself
            seen.update(_item_id(i) for i in batch)
            items.extend(new)
            page += 1
            _check_page_bound(page + 1)
        return items

    def get_token(self, token_id: int) -> Token:
        self._ensure()
        token_id = _check_id(token_id)
        data = self._call("GET", R_GET, f"/api/token/{token_id}")
        if not isinstance(data, dict):
            raise ServerError(
                "the server answered a token read without a token",
                method="GET",
                path=f"/api/token/{token_id}",
            )
        self._remember_full_key(token_id, data.get("key"))
        return self._token(data, "GET", f"/api/token/{token_id}")

    def create_token(self, body: dict[str, Any]) -> None:
        """POST once. The server answers no id and no key (contract §5.4): re-list to find it.

        Raises :class:`AmbiguousWriteError` when the request may have committed but no
        answer came back; the client never re-sends a create on its own (contract §12.2).
        """
        self._ensure()
        payload = {k: v for k, v in body.items() if k not in ("id", "key", "status", "user_id")}
        self._probe_page = None
        self._call("POST", R_CREATE, "/api/token/", json_body=payload, idempotent=False)

    def update_token(self, body: dict[str, Any]) -> Token:
        """Full-mode PUT (contract §5.5): ``body`` is the whole merged record with its ``id``.

        ``key`` and ``status`` are stripped: a masked key must never be written back and
        full mode never changes status (use :meth:`set_status`).
        """
        self._ensure()
        payload = {k: v for k, v in body.items() if k not in ("key", "status")}
        if "id" not in payload:
            raise ValueError("update_token needs the token id in the body")
        token_id = _check_id(payload["id"])
        payload["id"] = token_id
        self._probe_page = None
        data = self._call("PUT", R_UPDATE, "/api/token/", json_body=payload)
        return self._updated(token_id, data)

    def set_status(self, token_id: int, status: int) -> Token:
        """``PUT /api/token/?status_only=true`` (contract §5.5, §18.6)."""
        self._ensure()
        token_id = _check_id(token_id)
        self._probe_page = None
        data = self._call(
            "PUT",
            R_UPDATE,
            "/api/token/",
            params={"status_only": "true"},
            json_body={"id": token_id, "status": int(status)},
        )
        return self._updated(token_id, data)

    def delete_token(self, token_id: int) -> None:
        self._ensure()
        token_id = _check_id(token_id)
        self._probe_page = None
        self._call("DELETE", R_DELETE, f"/api/token/{token_id}")
        self._full_keys.pop(token_id, None)

    def delete_tokens(self, ids: Iterable[int]) -> int:
        """Batch delete (contract §5.7); one DELETE each on servers without the route.

        Returns how many the server deleted; ids not owned are skipped silently.
        """
        info = self._ensure()
        id_list = list(dict.fromkeys(_check_id(i) for i in ids))
        if not id_list:
            return 0
        self._probe_page = None
        deleted = 0
        if info.batch_delete:
            try:
                while id_list:
                    chunk = id_list[:DELETE_CHUNK]
                    data = self._call(
                        "POST", R_BATCH_DELETE, "/api/token/batch", json_body={"ids": chunk}
                    )
                    deleted += _nonneg_int_or_none(data) or 0
                    for token_id in chunk:
                        self._full_keys.pop(token_id, None)
                    id_list = id_list[len(chunk) :]
                return deleted
            except UnsupportedError:
                self._learn(batch_delete=False)  # before v0.8.6.2 (contract §13)
        for token_id in id_list:
            try:
                self._call("DELETE", R_DELETE, f"/api/token/{token_id}")
            except BusinessError:
                continue  # not found or not owned: batch delete skips those too
            self._full_keys.pop(token_id, None)
            deleted += 1
        return deleted

    def reveal_keys(self, ids: Iterable[int]) -> dict[int, Secret]:
        """Full keys for ``ids`` (contract §5.8, §18.4); ids the server does not give are absent.

        Batch reveal in chunks of 100; ``/:id/key`` on servers without it; the listed
        keys on legacy servers, which never mask them.
        """
        info = self._ensure()
        wanted = list(dict.fromkeys(_check_id(i) for i in ids))
        if not wanted:
            return {}
        if not info.keys_masked or not info.reveal:
            return self._keys_from_listing(wanted)
        result: dict[int, Secret] = {}
        try:
            for start in range(0, len(wanted), REVEAL_CHUNK):
                chunk = wanted[start : start + REVEAL_CHUNK]
                data = self._call(
                    "POST",
                    R_BATCH_REVEAL,
                    "/api/token/batch/keys",
                    json_body={"ids": chunk},
                    critical=True,
                )
                keys = data.get("keys") if isinstance(data, dict) else None
                if not isinstance(keys, dict):
                    raise ServerError(
                        "batch reveal answered without a keys object",
                        method="POST",
                        path="/api/token/batch/keys",
                    )
                for raw_id, key in keys.items():
                    try:
                        token_id = int(raw_id)
                    except (TypeError, ValueError):
                        continue
                    if token_id in chunk and isinstance(key, str) and key:
                        result[token_id] = Secret(key)
            return result
        except UnsupportedError:
            pass
        # No batch route (before 2026-04-06): one by one.
        try:
            for token_id in wanted:
                if token_id in result:
                    continue
                try:
                    data = self._call("POST", R_REVEAL, f"/api/token/{token_id}/key", critical=True)
                except BusinessError:
                    continue  # not found or not owned
                key = data.get("key") if isinstance(data, dict) else None
                if isinstance(key, str) and key:
                    result[token_id] = Secret(key)
            return result
        except UnsupportedError:
            pass
        # No reveal routes at all: only a server that lists full keys can answer.
        self._learn(reveal=False)
        listed = self._keys_from_listing(wanted, refresh=True)
        if not listed and not self._full_keys:
            raise UnsupportedError(
                "this server masks keys but has no reveal endpoint; "
                "copy the keys from the dashboard",
                method="POST",
                path="/api/token/:id/key",
            )
        result.update(listed)
        return result

    def _keys_from_listing(self, wanted: list[int], *, refresh: bool = False) -> dict[int, Secret]:
        # One listing answers every id: ids it did not show are absent, not re-asked.
        if refresh or (not self._listed and any(i not in self._full_keys for i in wanted)):
            self.list_tokens()
        return {i: self._full_keys[i] for i in wanted if i in self._full_keys}

    # ------------------------------------------------------------------ groups

    def user_groups(self) -> dict[str, dict[str, Any]]:
        """Groups the user may put on a token: name -> {"ratio", "desc"} (contract §4)."""
        self._ensure()
        data = self._call("GET", R_GROUPS, "/api/user/self/groups")
        if not isinstance(data, dict):
            raise ServerError(
                "/api/user/self/groups answered no group map",
                method="GET",
                path="/api/user/self/groups",
            )
        return {str(k): (v if isinstance(v, dict) else {"ratio": v}) for k, v in data.items()}

    def auto_groups(self) -> list[str] | None:
        """The global auto-group order, or None on servers without the route (contract §5.9)."""
        self._ensure()
        try:
            data = self._call("GET", R_AUTO_GROUPS, "/api/token/auto-groups")
        except UnsupportedError:
            self._learn(auto_groups_route=False)
            return None
        except BusinessError:
            # Older servers route it to /:id and answer a strconv error (contract §4).
            self._learn(auto_groups_route=False)
            return None
        self._learn(auto_groups_route=True)
        groups = data.get("groups") if isinstance(data, dict) else None
        if not isinstance(groups, list):
            return []
        return [str(g) for g in groups]

    def permissions(self) -> dict[str, str]:
        """What the credential may do, probed without changing anything.

        ``read`` is proven by the listing. ``write`` sends a PUT for id 0:
        past the auth (and rc.41 scope) checks the server answers the business
        error "id 为空" (contract §5.5), while a missing scope is a 403. ``reveal``
        sends an empty batch reveal, answered "invalid parameters" when allowed
        (contract §5.8); it spends one request of the strict reveal budget
        (contract §10). Legacy servers have no reveal routes: keys come with
        the list.
        """
        info = self._ensure()
        result = {"read": "yes"}
        result["write"] = self._probe_permission("PUT", R_UPDATE, "/api/token/", {"id": 0})
        if info.reveal:
            result["reveal"] = self._probe_permission(
                "POST", R_BATCH_REVEAL, "/api/token/batch/keys", {"ids": []}, critical=True
            )
        else:
            result["reveal"] = "not needed (the server lists full keys)"
        return result

    def _probe_permission(
        self, method: str, route: str, path: str, body: dict[str, Any], *, critical: bool = False
    ) -> str:
        try:
            self._call(method, route, path, json_body=body, critical=critical, max_attempts=2)
        except BusinessError:
            return "yes"  # refused on the merits, so auth and scope passed
        except AuthError as exc:
            return f"no ({exc.code or exc.status or 'denied'})"
        except UnsupportedError:
            return "no (route missing on this server)"
        except NewApiError as exc:
            return f"unknown ({exc.message})"
        return "yes"

    # ------------------------------------------------------------------ internals: tokens

    def _token(self, item: Any, method: str, path: str) -> Token:
        try:
            return Token.model_validate(item)
        except ValidationError as exc:
            ident = item.get("id") if isinstance(item, dict) else None
            raise ServerError(
                f"the server sent a token record the client cannot read "
                f"(id {_sanitize(str(ident))}): {_first_error(exc)}",
                method=method,
                path=path,
            ) from None

    def _updated(self, token_id: int, data: Any) -> Token:
        if isinstance(data, dict) and "id" in data:
            self._remember_full_key(token_id, data.get("key"))
            return self._token(data, "PUT", "/api/token/")
        return self.get_token(token_id)  # a server that answers no record

    def _remember_full_key(self, token_id: int, key: Any) -> bool:
        if isinstance(key, str) and key and "*" not in key:
            self._full_keys[token_id] = Secret(key)
            return True
        return False

    # ------------------------------------------------------------------ internals: HTTP

    _last_auth_version = ""
    _saw_auth_code = False

    def _host(self) -> str:
        return urlsplit(self.base_url).netloc

    def _headers(self) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self._credential.reveal()}"}
        if self.user_id is not None:
            headers["New-Api-User"] = str(int(self.user_id))
        return headers

    def _call(
        self,
        method: str,
        route: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        idempotent: bool = True,
        critical: bool = False,
        probe: bool = False,
        max_attempts: int | None = None,
    ) -> Any:
        """One API call with pacing and retries; returns the envelope's ``data``."""
        attempts_cap = max_attempts or self.retry.max_attempts
        started = self._clock()
        deadline = started + self.retry.max_retry_time
        attempt = 0
        while True:
            attempt += 1
            remaining = max(0.0, deadline - self._clock())
            if self._limiter is not None:
                self._limiter.acquire(remaining)
            if critical and self._critical is not None:
                self._critical.acquire(max(0.0, deadline - self._clock()))
            try:
                response = self._send(method, route, path, params, json_body)
            except httpx.TransportError as exc:
                ambiguous = _ambiguous_transport(exc)
                reason = _transport_reason(exc, self._http.timeout.read)
                if ambiguous and not idempotent:
                    raise AmbiguousWriteError(
                        f"{reason} after the request was sent: the server may or may not have "
                        "made the change; re-list to find out (the client does not re-send it)",
                        method=method,
                        path=path,
                        timed_out=isinstance(exc, httpx.TimeoutException),
                    ) from None
                error: NewApiError = NetworkError(reason, method=method, path=path)
                if self._wait_before_retry(attempt, attempts_cap, None, deadline):
                    continue
                raise error from None
            status = response.status_code
            if status == 429:
                retry_after = parse_retry_after(response.headers.get("Retry-After"), time.time())
                if retry_after is not None:
                    for limiter in (self._limiter, self._critical if critical else None):
                        if limiter is not None:
                            limiter.pause(retry_after)
                left = deadline - self._clock()
                if retry_after is not None and retry_after > left:
                    raise RateLimitedError(
                        f"the server is rate limiting requests (HTTP 429) and asks to wait "
                        f"{describe_wait(retry_after)}, more than the remaining retry budget "
                        f"({describe_wait(max(left, 0.0))}); try again in "
                        f"{describe_wait(retry_after)}",
                        retry_after=retry_after,
                        method=method,
                        path=path,
                    )
                if self._wait_before_retry(attempt, self.retry.max_attempts, retry_after, deadline):
                    continue
                raise RateLimitedError(
                    f"the server kept answering HTTP 429 (rate limited) after {attempt} "
                    "attempts; wait a few minutes and try again"
                    + (f" (it asked for {describe_wait(retry_after)})" if retry_after else ""),
                    retry_after=retry_after,
                    method=method,
                    path=path,
                )
            if status >= 500:
                if not idempotent:
                    raise AmbiguousWriteError(
                        f"the server failed with HTTP {status} while handling the write: it may "
                        "or may not have made the change; re-list to find out (the client does "
                        "not re-send it)",
                        method=method,
                        path=path,
                    )
                if status in (500, 502, 503, 504) and self._wait_before_retry(
                    attempt, self.retry.attempts_for(status), None, deadline
                ):
                    continue
            return self._interpret(response, method, path, probe=probe)

    def _wait_before_retry(
        self, attempt: int, max_attempts: int, retry_after: float | None, deadline: float
    ) -> bool:
        """Sleep before the next attempt; False when the attempts or the time are used up."""
        if attempt >= max_attempts:
            return False
        delay = retry_after if retry_after is not None else self.retry.backoff(attempt)
        if self._clock() + delay > deadline:
            return False
        if delay > 0:
            self._sleep(delay)
        return True

    def _send(
        self,
        method: str,
        route: str,
        path: str,
        params: dict[str, Any] | None,
        json_body: Any,
    ) -> httpx.Response:
        """Send once, following at most one same-origin redirect by hand (contract §4)."""
        url = self.base_url + path
        origin = _origin(url)
        content = None
        headers = self._headers()
        if json_body is not None:
            content = json.dumps(json_body, ensure_ascii=False).encode()
            headers["Content-Type"] = "application/json"
        hop_params = params
        for hop in range(2):
            t0 = time.perf_counter()
            status = 0
            try:
                response = self._http.request(
                    method,
                    url,
                    params=hop_params,
                    content=content,
                    headers=headers,
                )
                response.read()
                status = response.status_code
            finally:
                with self._count_lock:
                    self.request_counts[route] += 1
                if self._on_request is not None:
                    self._on_request(method, route, status, time.perf_counter() - t0)
            if status not in (301, 302, 303, 307, 308):
                break
            location = response.headers.get("Location", "")
            target = urljoin(str(response.url), location)
            if _origin(target) != origin:
                raise NotNewApiError(
                    f"the server redirected {method} {path} to another host "
                    f"({urlsplit(target).netloc or location[:80]}); the credential was not sent "
                    "there. Use that host's URL as the server URL if it is the right one",
                    method=method,
                    path=path,
                )
            if hop == 1:
                raise NotNewApiError(
                    f"the server redirected {method} {path} more than once",
                    method=method,
                    path=path,
                )
            url = target
            # Gin keeps the query in its Location; if a proxy drops it, keep ours: losing
            # ``status_only`` would turn a status change into a full-replacement PUT (§5.5).
            hop_params = None if urlsplit(target).query else params
        auth_version = response.headers.get("Auth-Version")
        if auth_version:
            self._last_auth_version = auth_version
        return response

    def _interpret(self, response: httpx.Response, method: str, path: str, *, probe: bool) -> Any:
        status = response.status_code
        body = _json_or_none(response)
        message = ""
        code = ""
        if isinstance(body, dict):
            raw_message = body.get("message")
            if isinstance(body.get("error"), dict):
                raw_message = body["error"].get("message", raw_message)
            message = self._clean(str(raw_message or ""))
            if isinstance(body.get("code"), str):
                code = self._clean(body["code"])
        if status in (401, 403):
            if code:
                self._saw_auth_code = True
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
                f"{what} (HTTP {status}){tag}{detail}; {hint}",
                code=code,
                status=status,
                method=method,
                path=path,
            )
        if status == 404:
            if probe or not isinstance(body, dict):
                raise (NotNewApiError if probe else UnsupportedError)(
                    f"{self._host()} answered HTTP 404 for {method} {path}"
                    + (
                        ": this does not look like a new-api server (the URL should be the "
                        "server's base URL, without /api or /v1)"
                        if probe
                        else ": this server does not have that route"
                    ),
                    method=method,
                    path=path,
                )
            raise UnsupportedError(
                f"this server does not have {method} {_route_of(path)} (HTTP 404"
                + (f": {message}" if message else "")
                + "); it is older than the feature",
                method=method,
                path=path,
            )
        if not isinstance(body, dict) or not isinstance(body.get("success"), bool):
            snippet = _sanitize(response.text, self._credential)
            if status >= 500:
                raise ServerError(
                    f"the server failed with HTTP {status}: {snippet or '(empty body)'}",
                    status=status,
                    method=method,
                    path=path,
                )
            if probe:
                raise NotNewApiError(
                    f"{self._host()} answered {method} {path} with something that is not the "
                    f"new-api API (HTTP {status}: {snippet or '(empty body)'}); check the URL "
                    "(it should be the server's base URL, without /api or /v1)",
                    method=method,
                    path=path,
                )
            raise ServerError(
                "the server answered something that is not the new-api API "
                f"(HTTP {status}): {snippet or '(empty body)'}",
                status=status,
                method=method,
                path=path,
            )
        if status >= 500:
            raise ServerError(
                f"the server failed with HTTP {status}"
                + (f": {message}" if message else "")
                + "; try again later",
                status=status,
                method=method,
                path=path,
            )
        if status >= 300:
            raise ServerError(
                f"unexpected HTTP {status}" + (f": {message}" if message else ""),
                status=status,
                method=method,
                path=path,
            )
        if body["success"] is not True:
            lowered = message.lower()
            if any(marker in lowered for marker in _LEGACY_AUTH_MARKERS):
                raise AuthError(
                    f"authentication failed: {message}; check the management credential "
                    "(NEWAPI_TOKEN) — an sk- relay key does not work here",
                    status=status,
                    method=method,
                    path=path,
                )
            raise BusinessError(
                message or "the server refused the request", method=method, path=path
            )
        return body.get("data")

    def _clean(self, text: str) -> str:
        return _sanitize(text, self._credential, limit=300)


# ---------------------------------------------------------------------- helpers


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, f"{host}:{port}"


def _sanitize(text: str, credential: Secret | None = None, *, limit: int = 80) -> str:
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


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None


def _transport_reason(exc: httpx.TransportError, timeout: float | None) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer within {timeout:g} s (timeout)" if timeout else "timeout"
    if isinstance(exc, httpx.ConnectError):
        return "connection failed (refused, DNS or TLS error)"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the connection was dropped without an answer"
    return f"network error ({type(exc).__name__})"


def _page_items(value: Any) -> list[dict[str, Any]]:
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


def _route_of(path: str) -> str:
    return re.sub(r"/\d+(?=/|$)", "/:id", path)


def _item_id(item: dict[str, Any]) -> Any:
    return item.get("id")


def _check_id(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"a token id is a positive integer, not {value!r}")
    return value


def _positive_int(value: Any, default: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return default
    return number if number > 0 else default


def _nonneg_int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if number >= 0 else None


def _first_error(exc: ValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return "invalid record"
    first = errors[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    return f"field {where or '?'}: {first.get('msg', 'invalid')}"
