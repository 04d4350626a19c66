"""The token operations: the one API through which the tool speaks to a server.

Nothing else builds a URL (STYLE: one table of paths). The layers under it:
:mod:`~provisioner.newapi.transport` sends (pacing, retries, redirects),
:mod:`~provisioner.newapi.envelope` reads a reply, :mod:`~provisioner.newapi.dialect`
knows the generations. Every public method returns typed values or raises a
:class:`~provisioner.newapi.errors.NewApiError`; no error text ever carries
the credential or a full key.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from provisioner.newapi import bodies, dialect, envelope
from provisioner.newapi.dialect import PAGE_SIZE, Evidence, FirstPage
from provisioner.newapi.errors import (
    AuthError,
    BusinessError,
    ConnectionFailedError,
    NewApiError,
    NotNewApiError,
    ScopeError,
    ServerError,
    UnreachableError,
    UnsupportedError,
)
from provisioner.newapi.ratelimit import generation_limit
from provisioner.newapi.transport import Call, Reply, Transport, TransportSettings
from provisioner.observed import QUOTA_PER_UNIT_DEFAULT, ObservedToken, ServerInfo, User
from provisioner.plan.actions import FieldUpdates, TokenFields
from provisioner.render.server_messages import quoted
from provisioner.secret import Secret

REVEAL_CHUNK = 100  # batch reveal takes 1..100 ids (docs/server-contract.md#masked-keys-and-reveal)
DELETE_CHUNK = 100

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
R_AUDIT = "GET /api/audit/self"  # rc.41+ only; check reads it to tell rc.41 from older


class NewApiClient(AbstractContextManager["NewApiClient"]):
    """A synchronous client for the new-api dashboard token API, on every generation.

    ``credential`` is the management credential (system access token or
    ``nap_`` PAT), never an ``sk-`` relay key. ``user_id`` is sent as
    ``New-Api-User`` when known; the header-auth generation needs it
    (docs/server-contract.md#authentication). ``settings`` say how requests are sent
    (timeout, retries, pacing, hooks); the :class:`Transport` takes them as they are.
    """

    def __init__(
        self,
        base_url: str,
        credential: Secret,
        user_id: int | None = None,
        *,
        settings: TransportSettings | None = None,
        concurrency: int = 4,
        user_id_source: str = "NEWAPI_USER_ID",  # where user_id came from, for messages
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
        self.user_id_source = user_id_source
        self._netloc = urlsplit(self.base_url).netloc
        self._credential = credential
        self.transport = Transport(self.base_url, credential, settings, user_id=user_id)
        self.concurrency = max(1, concurrency)  # list pages in flight at once
        self._info: ServerInfo | None = None
        self._user: User | None = None
        # Full keys seen in responses of generations that do not mask them: a reveal
        # there needs no request (docs/server-contract.md#masked-keys-and-reveal).
        self._full_keys: dict[int, Secret] = {}
        self._listed = False
        # rc.41+ scoped access tokens (nap_): what each scope the tool uses is known to be
        # (True granted, False missing); learned from answers, probed only when needed
        self._scoped = dialect.scoped_credential(credential.reveal())
        self._scopes: dict[str, bool | None] = {}

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        self.transport.close()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def user_id(self) -> int | None:
        return self.transport.user_id

    @property
    def request_counts(self) -> Any:
        return self.transport.request_counts

    @property
    def request_count(self) -> int:
        return self.transport.request_count

    def now(self) -> int:
        """The server's current time in unix seconds (its Date header), else ours.

        Expiry is judged by the server's clock, so plans use it: a laptop with a
        skewed clock then plans the same as CI does.
        """
        return self.transport.now()

    @property
    def info(self) -> ServerInfo | None:
        """The probe result, or None before the first probe."""
        return self._info

    @property
    def user(self) -> User | None:
        return self._user

    # ------------------------------------------------------------------ one call

    def _exchange(self, call: Call, *, probe: bool = False) -> tuple[Any, Reply]:
        reply = self.transport.send(call)
        scope = dialect.ROUTE_SCOPES.get(call.route) if self._scoped else None
        try:
            data = envelope.interpret(
                reply,
                call.method,
                call.path,
                host=self._host(),
                probe=probe,
                credential=self._credential,
            )
        except AuthError as exc:
            if exc.code == "ACCESS_TOKEN_SCOPE_DENIED" and scope is not None:
                self._scopes[scope] = False  # each answer teaches a scope
                raise ScopeError(
                    exc.message,
                    missing=(scope,),
                    granted=self._scopes,
                    method=exc.method,
                    path=exc.path,
                ) from None
            raise
        except NewApiError:
            if scope is not None and reply.status < 400:  # refused on the merits: past auth
                self._scopes[scope] = True
            raise
        if scope is not None:
            self._scopes[scope] = True
        return data, reply

    def _call(self, call: Call, *, probe: bool = False) -> Any:
        return self._exchange(call, probe=probe)[0]

    def _get(self, route: str, path: str, **kw: Any) -> Any:
        probe = kw.pop("probe", False)
        return self._call(Call("GET", route, path, **kw), probe=probe)

    # ------------------------------------------------------------------ probing

    def probe(self) -> ServerInfo:
        """Learn the server's generation (docs/server-contract.md#probing). Cached."""
        return self.open()[0]

    def open(self) -> tuple[ServerInfo, FirstPage | None]:
        """Probe once, and hand over the list page the probe read.

        Pass that page to the first :meth:`list_tokens` so it is not read twice; later
        calls answer the cached probe and no page (a listing then reads every page).
        """
        if self._info is not None:
            return self._info, None
        try:
            # Two tries only: a wrong URL should fail fast.
            status_data = self._get(R_STATUS, "/api/status", probe=True, max_attempts=2)
        except ConnectionFailedError as exc:
            via = self.transport.route.via  # the proxy, when one is in the way
            raise UnreachableError(
                f"cannot reach {self._host()}{via}: {exc.message}; check the URL"
                + (", the proxy" if via else "")
                + " and the network",
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
        header_sent = self.user_id is not None
        try:
            user, auth_version = self._probe_user()
        except ScopeError:  # a scoped token without profile:read: learn the rest, then say
            user, auth_version = User(id=self.user_id or 0), ""
        self._user = user
        if self.user_id is None and user.id:
            self.transport.user_id = user.id

        # List dialect: p=1 on the first page; a dict is the page dialect, a list the
        # array dialect, where p is 0-based: re-read the real first page.
        try:
            data = self._get(R_LIST, "/api/token/", params=self._page_params(1))
        except ScopeError:
            data = None
        # every command needs both: refused here, naming every scope the token lacks
        if any(self._scopes.get(s) is False for s in dialect.BASE_SCOPES):
            self.learn_scopes()
        self.require_scopes({s: dialect.SCOPE_USES[s] for s in dialect.BASE_SCOPES})
        if isinstance(data, dict):
            shape = "page"
            items, total, _ = dialect.read_page_object(data)
            first = FirstPage(items, total)
        elif isinstance(data, list) or data is None:
            shape = "array"
            again = self._get(R_LIST, "/api/token/", params={"p": 0, "size": PAGE_SIZE})
            first = FirstPage(dialect.page_items(again if isinstance(again, list) else None))
        else:
            raise NotNewApiError(
                "the token list answered neither a page object nor an array: "
                "unsupported server dialect",
                method="GET",
                path="/api/token/",
            )
        evidence = Evidence(
            list_shape=shape,
            records=first.items,
            user_header_sent=header_sent,
            auth_version=auth_version,
        )
        if not first.items:
            # No record to look at (an empty account): ask the routes instead.
            evidence.groups_route = self._route_exists(R_GROUPS, "/api/user/self/groups")
            if shape == "page":
                evidence.auto_groups_route = self._route_exists(
                    R_AUTO_GROUPS, "/api/token/auto-groups"
                )
        self._info = ServerInfo(
            url=self.base_url,
            version=str(status_data.get("version") or ""),
            quota_per_unit=dialect.positive_int(
                status_data.get("quota_per_unit"), QUOTA_PER_UNIT_DEFAULT
            ),
            quota_display_type=str(status_data.get("quota_display_type") or "USD"),
            user_id=self.user_id,
            username=user.username,
            user_group=user.group,
            **dialect.learn(evidence),
        )
        for item in first.items:
            self._remember_full_key(item.get("id"), item.get("key"))
        # a 429 without Retry-After is read against this generation's window
        self.transport.expected_limit = generation_limit(self._info)
        return self._info, first

    def _probe_user(self) -> tuple[User, str]:
        """The user, and the Auth-Version header its answer carried (servers from 2026-02)."""
        try:
            data, reply = self._exchange(Call("GET", R_SELF, "/api/user/self"))
        except AuthError as exc:
            if "new-api-user" in (exc.said or exc.message).lower():
                raise AuthError(
                    user_id_problem(exc.said or exc.message, self.user_id, self.user_id_source),
                    code=exc.code,
                    status=exc.status,
                    said=exc.said,
                    method=exc.method,
                    path=exc.path,
                ) from None
            raise
        try:
            user = User.model_validate(data)
        except ValidationError as exc:
            raise ServerError(
                f"/api/user/self answered an unexpected user record: {_first_error(exc)}",
                method="GET",
                path="/api/user/self",
            ) from None
        if self.user_id is not None and user.id and user.id != self.user_id:
            raise AuthError(
                f"{_set_to(self.user_id_source, self.user_id)}, but the credential belongs to "
                f"user {user.id}: the user id is wrong; set it to {user.id}",
                method="GET",
                path="/api/user/self",
            )
        return user, str(reply.headers.get("Auth-Version") or "")

    def _route_exists(self, route: str, path: str) -> bool | None:
        """True when a GET route answers, False on 404 (or the /:id catch-all), None if unsure."""
        try:
            self._get(route, path, max_attempts=2)
        except UnsupportedError:
            return False
        except BusinessError as exc:
            # Before 2026-08 GET /api/token/auto-groups is caught by /:id, which answers a
            # strconv parse error at HTTP 200 (docs/server-contract.md#routes).
            return False if "strconv" in exc.message else None
        except NewApiError:
            return None
        return True

    def _ensure(self) -> ServerInfo:
        return self._info if self._info is not None else self.probe()

    def _learn(self, **changes: Any) -> None:
        if self._info is not None:
            self._info = self._info.model_copy(update=changes)

    # ------------------------------------------------------------------ tokens

    @staticmethod
    def _page_params(page: int) -> dict[str, Any]:
        return {"p": page, "size": PAGE_SIZE, "page_size": PAGE_SIZE}

    def list_tokens(self, first: FirstPage | None = None) -> list[ObservedToken]:
        """Every token of the user, newest first, over every page.

        ``first``: the page :meth:`open` read, when this listing follows it at once.
        """
        info = self._ensure()
        # Records are read into tokens as their page arrives, while later pages are still
        # on their way (id of the record -> the record, its token); the loop below keeps
        # the order. Holding the record keeps its id from being reused.
        early: dict[int, tuple[dict[str, Any], ObservedToken]] = {}

        def fetch(page: int) -> Any:
            data = self._get(R_LIST, "/api/token/", params=self._page_params(page))
            items = data.get("items") if isinstance(data, dict) else None
            for item in items if isinstance(items, list) else ():
                if isinstance(item, dict):
                    with contextlib.suppress(ServerError):  # raised below, in its place
                        early[id(item)] = (item, self._token(item, "GET", "/api/token/"))
            return data

        if info.list_shape == "page":
            raw = dialect.walk_page_dialect(fetch, first, concurrency=self.concurrency)
        else:
            raw = dialect.walk_array_dialect(
                lambda p: self._get(R_LIST, "/api/token/", params={"p": p, "size": PAGE_SIZE}),
                first,
            )
        self._listed = True
        path = "/api/token/"
        tokens: list[ObservedToken] = []
        seen: set[int] = set()
        masked = False
        for item in raw:
            owner = item.get("user_id")
            if self.user_id and isinstance(owner, int) and owner and owner != self.user_id:
                continue  # fork servers list everyone's tokens to root
            read = early.get(id(item))
            token = read[1] if read and read[0] is item else self._token(item, "GET", path)
            if token.id in seen:
                continue  # a create during paging shifts rows onto the next page
            seen.add(token.id)
            self._remember_full_key(token.id, item.get("key"))
            masked = masked or "*" in str(item.get("key") or "")
            tokens.append(token)
        if tokens and info.keys_masked is None:
            self._learn(keys_masked=masked, **({} if masked else {"reveal": False}))
        return tokens

    def get_token(self, token_id: int) -> ObservedToken:
        self._ensure()
        token_id = _check_id(token_id)
        data = self._get(R_GET, f"/api/token/{token_id}")
        if not isinstance(data, dict):
            raise ServerError(
                "the server answered a token read without a token",
                method="GET",
                path=f"/api/token/{token_id}",
            )
        self._remember_full_key(token_id, data.get("key"))
        return self._token(data, "GET", f"/api/token/{token_id}")

    def create_token(self, body: dict[str, Any]) -> ObservedToken | None:
        """POST once. new-api answers no id and no key: re-list to find the token.

        one-api answers the created token (with its full key), returned here; None
        otherwise. Raises :class:`AmbiguousWriteError` when the request may have
        committed but no answer came back; the client never re-sends a create on
        its own (docs/server-contract.md#creating-a-token).
        """
        payload = {k: v for k, v in body.items() if k not in ("id", "key", "status", "user_id")}
        data = self._write("POST", R_CREATE, payload, idempotent=False)
        if isinstance(data, dict) and isinstance(data.get("id"), int):
            self._remember_full_key(data["id"], data.get("key"))
            return self._token(data, "POST", "/api/token/")
        return None

    def create(self, fields: TokenFields) -> ObservedToken | None:
        """Create a token with these settings (the body: :func:`bodies.create_body`); as
        :meth:`create_token`, never sent twice by the client."""
        return self.create_token(bodies.create_body(fields))

    def update(self, token: ObservedToken, updates: FieldUpdates) -> ObservedToken:
        """Write ``updates`` to ``token``: its whole record as read, with them applied
        (:func:`bodies.update_body`), in one full-mode PUT."""
        return self.update_token(bodies.update_body(token, updates))

    def update_token(self, body: dict[str, Any]) -> ObservedToken:
        """Full-mode PUT: ``body`` is the whole merged record with its ``id``.

        ``key`` and ``status`` are stripped: a masked key must never be written back and
        full mode never changes status (use :meth:`set_status`).
        """
        payload = {k: v for k, v in body.items() if k not in ("key", "status")}
        if "id" not in payload:
            raise ValueError("update_token needs the token id in the body")
        token_id = _check_id(payload["id"])
        payload["id"] = token_id
        return self._updated(token_id, self._write("PUT", R_UPDATE, payload))

    def _write(
        self, method: str, route: str, payload: dict[str, Any], *, idempotent: bool = True
    ) -> Any:
        """A token body sent to ``/api/token/`` in the generation's own field names."""
        info = self._ensure()
        wire = dialect.to_wire(payload, oneapi=info.oneapi_fields)
        return self._call(Call(method, route, "/api/token/", json_body=wire, idempotent=idempotent))

    def set_status(self, token_id: int, status: int) -> ObservedToken:
        """``PUT /api/token/?status_only=true`` (docs/server-contract.md#updating-a-token)."""
        self._ensure()
        token_id = _check_id(token_id)
        data = self._call(
            Call(
                "PUT",
                R_UPDATE,
                "/api/token/",
                params={"status_only": "true"},
                json_body={"id": token_id, "status": int(status)},
            )
        )
        return self._updated(token_id, data)

    def delete_token(self, token_id: int) -> None:
        self._ensure()
        token_id = _check_id(token_id)
        self._call(Call("DELETE", R_DELETE, f"/api/token/{token_id}"))
        self._full_keys.pop(token_id, None)

    def delete_tokens(self, ids: Iterable[int]) -> int:
        """Batch delete; one DELETE each on servers without the route.

        Returns how many the server deleted; ids not owned are skipped silently.
        """
        info = self._ensure()
        id_list = list(dict.fromkeys(_check_id(i) for i in ids))
        if not id_list:
            return 0
        deleted = 0
        if info.batch_delete is not False:
            try:
                while id_list:
                    chunk = id_list[:DELETE_CHUNK]
                    data = self._call(
                        Call("POST", R_BATCH_DELETE, "/api/token/batch", json_body={"ids": chunk})
                    )
                    deleted += dialect.nonneg_int_or_none(data) or 0
                    for token_id in chunk:
                        self._full_keys.pop(token_id, None)
                    id_list = id_list[len(chunk) :]
                self._learn(batch_delete=True)
                return deleted
            except UnsupportedError:
                self._learn(batch_delete=False)  # before v0.8.6.2, and one-api
        for token_id in id_list:
            try:
                self._call(Call("DELETE", R_DELETE, f"/api/token/{token_id}"))
            except BusinessError:
                continue  # not found or not owned: batch delete skips those too
            self._full_keys.pop(token_id, None)
            deleted += 1
        return deleted

    def reveal_keys(self, ids: Iterable[int]) -> dict[int, Secret]:
        """Full keys for ``ids``; ids the server does not give are absent.

        Batch reveal in chunks of 100; ``/:id/key`` on servers without it; the listed
        keys on generations that never mask them (docs/server-contract.md#masked-keys-and-reveal).
        """
        info = self._ensure()
        wanted = list(dict.fromkeys(_check_id(i) for i in ids))
        if not wanted:
            return {}
        if info.keys_masked is False or info.reveal is False:
            return self._keys_from_listing(wanted)
        result: dict[int, Secret] = {}

        def reveal(chunk: list[int]) -> dict[int, Secret]:
            data = self._call(
                Call(
                    "POST",
                    R_BATCH_REVEAL,
                    "/api/token/batch/keys",
                    json_body={"ids": chunk},
                    critical=True,
                )
            )
            keys = data.get("keys") if isinstance(data, dict) else None
            if not isinstance(keys, dict):
                raise ServerError(
                    "batch reveal answered without a keys object",
                    method="POST",
                    path="/api/token/batch/keys",
                )
            asked, given = set(chunk), {}
            for raw_id, key in keys.items():
                try:
                    token_id = int(raw_id)
                except (TypeError, ValueError):
                    continue
                if token_id in asked and isinstance(key, str) and key:
                    given[token_id] = Secret(key)
            return given

        chunks = [wanted[i : i + REVEAL_CHUNK] for i in range(0, len(wanted), REVEAL_CHUNK)]
        try:
            result.update(reveal(chunks[0]))  # the first alone: does the route exist?
            if len(chunks) > 1:
                # the rest a few at a time: a far server answers them in one round trip
                with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
                    for given in pool.map(reveal, chunks[1:]):
                        result.update(given)
            self._learn(reveal=True)
            return result
        except UnsupportedError:
            pass
        # No batch route (before 2026-04-06): one by one.
        try:
            for token_id in wanted:
                if token_id in result:
                    continue
                try:
                    data = self._call(
                        Call("POST", R_REVEAL, f"/api/token/{token_id}/key", critical=True)
                    )
                except BusinessError:
                    continue  # not found or not owned
                key = data.get("key") if isinstance(data, dict) else None
                if isinstance(key, str) and key:
                    result[token_id] = Secret(key)
            self._learn(reveal=True)
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

    def user_groups(self) -> dict[str, dict[str, Any]] | None:
        """Groups the user may put on a token: name -> {"ratio", "desc"}.

        None on servers without the route (one-api: docs/server-contract.md#one-api).
        """
        self._ensure()
        try:
            data = self._get(R_GROUPS, "/api/user/self/groups")
        except UnsupportedError:
            self._learn(groups_route=False)
            return None
        self._learn(groups_route=True)
        if not isinstance(data, dict):
            raise ServerError(
                "/api/user/self/groups answered no group map",
                method="GET",
                path="/api/user/self/groups",
            )
        return {str(k): (v if isinstance(v, dict) else {"ratio": v}) for k, v in data.items()}

    def auto_groups(self) -> list[str] | None:
        """The auto groups a token may use, in order, or None on servers without them."""
        info = self._ensure()
        if info.auto_groups is False:
            return None
        try:
            data = self._get(R_AUTO_GROUPS, "/api/token/auto-groups")
        except UnsupportedError:
            self._learn(auto_groups=False)
            return None
        except BusinessError:
            # Older servers route it to /:id and answer a strconv error.
            self._learn(auto_groups=False)
            return None
        self._learn(auto_groups=True)
        groups = data.get("groups") if isinstance(data, dict) else None
        if not isinstance(groups, list):
            return []
        return [str(g) for g in groups]

    # ------------------------------------------------------------------ scopes (rc.41+)

    @property
    def scopes(self) -> dict[str, bool | None] | None:
        """What is known of the scopes the tool uses, for a scoped ``nap_`` token; None for
        a credential without scopes (a legacy access token, or an older server's)."""
        return dict(self._scopes) if self._scoped else None

    def learn_scopes(self, wanted: Iterable[str] = dialect.TOOL_SCOPES) -> dict[str, bool | None]:
        """Find out the unknown scopes among ``wanted`` with calls that change nothing
        (docs/server-contract.md#probing): api_key:write by a PUT for id 0 (a business
        error past the scope check, 403 without it), api_key:reveal by an empty batch
        reveal (the scope is checked before the body is read). Each once per run."""
        if not self._scoped:
            return {}
        probes = {
            dialect.SCOPE_PROFILE: Call("GET", R_SELF, "/api/user/self", max_attempts=2),
            dialect.SCOPE_READ: Call(
                "GET", R_LIST, "/api/token/", params={"p": 1, "size": 1}, max_attempts=2
            ),
            dialect.SCOPE_WRITE: Call(
                "PUT", R_UPDATE, "/api/token/", json_body={"id": 0}, max_attempts=2
            ),
            dialect.SCOPE_REVEAL: _empty_reveal(),
        }
        for scope in wanted:
            if self._scopes.get(scope) is None and scope in probes:
                with contextlib.suppress(ScopeError, BusinessError):
                    self._call(probes[scope])  # the answer records the scope (_exchange)
        return dict(self._scopes)

    def require_scopes(self, needs: dict[str, str]) -> None:
        """Refuse (ScopeError, exit 77) before anything is sent that a scoped token's
        missing scope would refuse; ``needs`` maps each scope to what needs it. No calls
        for a credential without scopes."""
        if not self._scoped:
            return
        self.learn_scopes(needs)
        missing = dialect.missing_scopes(self._scopes, needs)
        if missing:
            raise ScopeError(
                dialect.scope_refusal(self._scopes, needs, credential_hint=self._credential.masked),
                missing=tuple(missing),
                granted=self._scopes,
            )

    def has_audit_log(self) -> bool | None:
        """Whether GET /api/audit/self answers: rc.41 and later keep the user's audit log,
        older servers 404. A read that changes nothing; None when the answer says neither."""
        try:
            self._get(R_AUDIT, "/api/audit/self", params={"p": 1, "page_size": 1}, max_attempts=2)
        except UnsupportedError:
            return False
        except ScopeError:
            return True  # only rc.41 checks scopes
        except NewApiError:
            return None
        return True

    def permissions(self) -> dict[str, str]:
        """What the credential may do, probed without changing anything.

        ``read`` is proven by the listing. ``write`` sends a PUT for id 0: past the
        auth (and rc.41 scope) checks the server answers the business error
        "id 为空", while a missing scope is a 403. ``reveal`` sends an empty batch
        reveal, answered "invalid parameters" when allowed; it spends one request of
        the strict reveal budget. Generations that list full keys need no reveal.
        """
        info = self._ensure()
        result = {"read": "yes"}
        if self._scoped:  # a scoped token: its scopes say it, each learned once
            known = self.learn_scopes()
            for name, scope in (("write", dialect.SCOPE_WRITE), ("reveal", dialect.SCOPE_REVEAL)):
                result[name] = "yes" if known.get(scope) else f"no ({scope} missing)"
            if known.get(dialect.SCOPE_REVEAL):
                self._learn(reveal=True)
            return result
        result["write"] = self._probe_permission(
            Call("PUT", R_UPDATE, "/api/token/", json_body={"id": 0}, max_attempts=2)
        )
        if info.keys_masked is False:
            result["reveal"] = "not needed (the server lists full keys)"
            return result
        reveal = self._probe_permission(_empty_reveal())
        if reveal.startswith("no (route missing"):
            self._learn(reveal=False)
            if info.keys_masked is None:
                reveal = "not needed (no reveal route: this generation lists full keys)"
        elif reveal == "yes":
            self._learn(reveal=True)
        result["reveal"] = reveal
        return result

    def _probe_permission(self, call: Call) -> str:
        try:
            self._call(call)
        except BusinessError:
            return "yes"  # refused on the merits, so auth and scope passed
        except AuthError as exc:
            return f"no ({exc.code or exc.status or 'denied'})"
        except UnsupportedError:
            return "no (route missing on this server)"
        except NewApiError as exc:
            return f"unknown ({exc.message})"
        return "yes"

    # ------------------------------------------------------------------ internals

    def _token(self, item: Any, method: str, path: str) -> ObservedToken:
        try:
            return ObservedToken.model_validate(
                dialect.from_wire(item) if isinstance(item, dict) else item
            )
        except ValidationError as exc:
            ident = item.get("id") if isinstance(item, dict) else None
            raise ServerError(
                f"the server sent a token record the client cannot read "
                f"(id {envelope.sanitize(str(ident))}): {_first_error(exc)}",
                method=method,
                path=path,
            ) from None

    def _updated(self, token_id: int, data: Any) -> ObservedToken:
        if isinstance(data, dict) and "id" in data:
            self._remember_full_key(token_id, data.get("key"))
            return self._token(data, "PUT", "/api/token/")
        return self.get_token(token_id)  # a server that answers no record

    def _remember_full_key(self, token_id: Any, key: Any) -> None:
        if isinstance(token_id, int) and isinstance(key, str) and key and "*" not in key:
            self._full_keys[token_id] = Secret(key)

    def _host(self) -> str:
        return self._netloc


def _empty_reveal() -> Call:
    """A batch reveal of no id: whether the route is there and allowed, at no cost."""
    return Call(
        "POST",
        R_BATCH_REVEAL,
        "/api/token/batch/keys",
        json_body={"ids": []},
        critical=True,
        max_attempts=2,
    )


def _check_id(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"a token id is a positive integer, not {value!r}")
    return value


def _first_error(exc: ValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return "invalid record"
    first = errors[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    return f"field {where or '?'}: {first.get('msg', 'invalid')}"


#: where a user's id is found: the header generations offer no route to learn it
#: (docs/server-contract.md#authentication)
WHERE_USER_ID = (
    "the dashboard shows it in the personal settings (个人设置), and an admin sees it in "
    "the user list; root is usually 1"
)


def _set_to(source: str, user_id: int) -> str:
    """``NEWAPI_USER_ID=2`` (or ``the user id `provisioner login` stored (2)``)."""
    return f"{source}={user_id}" if source == "NEWAPI_USER_ID" else f"{source} ({user_id})"


def user_id_problem(said: str, user_id: int | None, source: str) -> str:
    """What a refused ``New-Api-User`` means: missing, malformed, or another user's id
    (docs/server-contract.md#auth-failures); ``said`` is the server's message."""
    server = f"the server said: {quoted(said)}"
    lowered = said.lower()
    if user_id is not None and ("不匹配" in said or "does not match" in lowered):
        fix = (
            "set NEWAPI_USER_ID to your own id"
            if source == "NEWAPI_USER_ID"
            else "set NEWAPI_USER_ID to your own id (or run `provisioner login` again)"
        )
        return (
            f"{_set_to(source, user_id)} is wrong: it is not the id of the user the credential "
            f"belongs to ({server}); {fix}: {WHERE_USER_ID}"
        )
    if user_id is not None:
        return (
            f"the server refused the user id {user_id} from {source} ({server}); set "
            f"NEWAPI_USER_ID to your numeric user id: {WHERE_USER_ID}"
        )
    return (
        f"this server needs your user id in the New-Api-User header ({server}); set "
        f"NEWAPI_USER_ID to your numeric user id: {WHERE_USER_ID}"
    )
