"""The new-api token API as pure request -> response logic, one generation at a time.

No sockets here: :class:`App` takes a :class:`Request` and returns a
:class:`Response`; ``server.py`` speaks HTTP and injects faults around it.
What differs between generations is a switch of the :class:`Profile`
(profiles.py); the relay side (``/v1``) lives in relay.py.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from provisioner.sandbox import access, profiles
from provisioner.sandbox import messages as msg
from provisioner.sandbox.messages import Lang
from provisioner.sandbox.profiles import CRITICAL_LIMIT, MODELS, SEARCH_LIMIT, Profile
from provisioner.sandbox.ratelimit import SlidingWindow
from provisioner.sandbox.relay import Relay
from provisioner.sandbox.store import TOKEN_COLUMNS, Store, generate_key
from provisioner.sandbox.wire import (
    INT64_MAX,
    INT64_MIN,
    Request,
    Response,
    fail,
    go_atoi,
    json_kind,
    lenient_atoi,
    ok,
    parse_json,
    server_mask,
    too_many,
)

__all__ = ["MODELS", "App", "Request", "Response", "server_mask"]

AUTH_VERSION = "864b7076dbcd0a3c01b5520316720ebf"  # new-api's fingerprint header
MAX_AUTO_GROUPS = 5
MAX_BATCH = 100
ONE_API_PAGE_SIZE = 10  # one-api's ItemsPerPage: the size parameters are ignored
AUTO_GROUPS = ("default", "vip")  # the global auto order; user 1 may use both
# The user's groups as the recorded servers list them (step "user groups"): no `auto`.
USER_GROUPS: dict[str, dict[str, Any]] = {
    "default": {"desc": "默认分组", "ratio": 1},
    "vip": {"desc": "VIP 分组", "ratio": 1.5},
}
# A server whose admin offers automatic selection lists it too (--auto-group); its ratio
# is a string (docs/server-contract.md#groups).
AUTO_GROUP = {"auto": {"desc": "根据可用性自动选择分组", "ratio": "自动"}}
ONE_API_ORDERS = {
    "remain_quota": "remain_quota DESC, id DESC",
    "used_quota": "used_quota DESC, id DESC",
}

# JSON binding: the Go type of each model.Token field, per family.
_NEW_API_FIELDS: dict[str, str] = {
    "id": "int",
    "user_id": "int",
    "key": "string",
    "status": "int",
    "name": "string",
    "created_time": "int64",
    "accessed_time": "int64",
    "expired_time": "int64",
    "remain_quota": "int",
    "unlimited_quota": "bool",
    "model_limits_enabled": "bool",
    "model_limits": "string",
    "allow_ips": "string",
    "used_quota": "int",
    "group": "string",
    "cross_group_retry": "bool",
    "auto_groups": "[]string",
    "DeletedAt": "any",
}
# one-api's first eight fields are new-api's; its quotas are int64, its limits other fields
_ONE_API_FIELDS: dict[str, str] = {
    **{name: _NEW_API_FIELDS[name] for name in TOKEN_COLUMNS[:8]},
    "remain_quota": "int64",
    "unlimited_quota": "bool",
    "used_quota": "int64",
    "models": "string",
    "subnet": "string",
}
# new-api emits the store's columns in their order; cross_group_retry only where it exists
_NEW_API_COLUMNS = tuple(c for c in TOKEN_COLUMNS if c != "cross_group_retry")
_ONE_API_COLUMNS = tuple(_ONE_API_FIELDS)  # one-api emits its fields in their order


def token_fields(profile: Profile) -> dict[str, str]:
    """The fields a body binds into on this generation (others are ignored, as Go does)."""
    if profile.one_api_fields:
        return _ONE_API_FIELDS
    fields = dict(_NEW_API_FIELDS)
    if not profile.cross_group_retry:
        del fields["cross_group_retry"]
    if not profile.auto_groups:
        del fields["auto_groups"]
    return fields


def _check_value(value: Any, go_type: str, where: str) -> str | None:
    if value is None or go_type == "any":
        return None
    kind = json_kind(value)
    if go_type in ("int", "int64"):
        if kind != "number":
            return f"json: cannot unmarshal {kind} into {where} of type {go_type}"
        if isinstance(value, float) or not INT64_MIN <= value <= INT64_MAX:
            return f"json: cannot unmarshal number {value} into {where} of type {go_type}"
        return None
    if go_type == "[]string":
        if kind != "array":
            return f"json: cannot unmarshal {kind} into {where} of type []string"
        for item in value:
            if item is not None and not isinstance(item, str):
                return f"json: cannot unmarshal {json_kind(item)} into {where} of type string"
        return None
    if kind != go_type:
        return f"json: cannot unmarshal {kind} into {where} of type {go_type}"
    return None


def bind_token(body: bytes, fields: dict[str, str]) -> tuple[dict[str, Any], str | None]:
    """Bind a body into model.Token: present fields (canonical names) or Go's error."""
    data, error = parse_json(body)
    if error:
        return {}, error
    if data is None:
        return {}, None
    if not isinstance(data, dict):
        return {}, f"json: cannot unmarshal {json_kind(data)} into Go value of type model.Token"
    bound: dict[str, Any] = {}
    lowered = {name.lower(): name for name in fields}
    for raw_name, value in data.items():
        name = raw_name if raw_name in fields else lowered.get(raw_name.lower())
        if name is None:
            continue  # unknown fields are ignored
        error = _check_value(value, fields[name], f"Go struct field Token.{name}")
        if error:
            return {}, error
        bound[name] = value
    return bound, None


def bind_ids(body: bytes) -> list[int] | None:
    """``{"ids":[int...]}``; None when it does not bind or is empty."""
    data, error = parse_json(body)
    if error or not isinstance(data, dict):
        return None
    ids = data.get("ids")
    if not isinstance(ids, list) or not ids:
        return None
    if any(isinstance(i, bool) or not isinstance(i, int) for i in ids):
        return None
    return list(ids)


def _is_cidr(text: str) -> bool:
    if "/" not in text:
        return False
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


# -- routing --


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str
    handler: Callable[[Context], Response]
    auth: bool = True
    limiter: str | None = None  # "search" (per user) or "critical" (per IP)
    min_role: int = 1  # AdminAuth routes need 10 (rc.41's routes only)

    @property
    def key(self) -> str:
        """``METHOD /pattern``: how the server keys its route rules and audit actions."""
        return f"{self.method} {self.pattern}"

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if method != self.method:
            return None
        want = self.pattern.split("/")
        have = path.split("/")
        if len(want) != len(have):
            return None
        params: dict[str, str] = {}
        for w, h in zip(want, have, strict=True):
            if w.startswith(":"):
                if not h:
                    return None
                params[w[1:]] = h
            elif w != h:
                return None
        return params


@dataclass(frozen=True)
class Credential:
    """The access token a dashboard request carries, looked up once per request (rc.41):
    the audit names its owner, the authentication judges it."""

    raw: str = ""  # the Authorization header's value ("" when there is none)
    ref: str = ""  # access.fingerprint(raw): a nap_ token's stored form, the audit's token_ref
    token: dict[str, Any] | None = None  # a nap_ token's row
    user: dict[str, Any] | None = None  # whoever the value names, expired or banned too
    retired: bool = False  # a legacy value past the deadline: never looked up


@dataclass
class Context:
    request: Request
    lang: Lang
    params: dict[str, str]
    user: dict[str, Any] | None = None
    audit: dict[str, Any] | None = None  # a token operation's audit params (rc.41)
    credential: Credential | None = None  # looked up on first need (App._credential)

    @property
    def user_id(self) -> int:
        assert self.user is not None
        return int(self.user["id"])


class App:
    """One generation's token API (and relay side) over a :class:`Store`."""

    def __init__(
        self,
        store: Store,
        clock: Callable[[], float],
        *,
        profile: str | Profile | None = None,
        auth: str | None = None,
        list_shape: str | None = None,
        lang: Lang = "en",
        max_user_tokens: int | None = None,
        max_quota: int | None = None,
        rate_limits: bool = False,
        limits: dict[str, tuple[int, float]] | None = None,
        channels: Iterable[str] | None = None,
        redis: bool = False,
        auto_group: bool = False,
        legacy_retired: bool = False,
    ) -> None:
        self.profile = profiles.resolve(profile, auth=auth, list_shape=list_shape)
        # the groups the user may use; `auto` only when the server offers it (--auto-group)
        self.user_groups_offered = {**(AUTO_GROUP if auto_group else {}), **USER_GROUPS}
        p = self.profile
        self.store = store
        self.clock = clock
        self.lang: Lang = lang
        # A cap or a maximum given here exists even where the generation had none.
        self.max_user_tokens = p.max_user_tokens if max_user_tokens is None else max_user_tokens
        self.max_quota = p.max_quota if max_quota is None else max_quota
        self.rate_limits = rate_limits
        defaults = {"global": p.global_limit, "critical": CRITICAL_LIMIT}
        if p.search_limited:
            defaults["search"] = SEARCH_LIMIT
        merged = {**defaults, **(limits or {})}
        self.limiters = {name: SlidingWindow(n, w) for name, (n, w) in merged.items()}
        self.channels = tuple(MODELS if channels is None else channels)
        self.relay = Relay(
            store, clock, p, channels=self.channels, redis=redis, groups=self.user_groups_offered
        )
        self.started = int(clock())
        # rc.41: the rule of each route for scoped tokens (a test may drop one)
        self.access_token_routes = dict(access.ROUTES)
        if p.access_tokens:
            self._legacy_deadline(retire_now=legacy_retired)
        self.routes = self._routes()

    def _routes(self) -> list[Route]:
        p = self.profile
        routes = [
            Route("GET", "/api/status", self.status, auth=False),
            Route("GET", "/api/user/self", self.user_self),
        ]
        if p.user_groups_route:
            routes.append(Route("GET", "/api/user/self/groups", self.user_groups))
        if not p.one_api_fields:
            routes.append(Route("GET", "/api/user/models", self.user_models))
        if p.access_tokens:
            # made only in a browser session with a step-up proof: every token is refused
            routes += [
                Route("GET", "/api/user/access_tokens", self.session_only),
                Route("GET", "/api/user/access_tokens/catalog", self.session_only),
                Route("GET", "/api/user/access_tokens/scopes", self.session_only),
                Route("POST", "/api/user/access_tokens", self.session_only),
                Route("DELETE", "/api/user/access_tokens/legacy", self.session_only),
                Route("PATCH", "/api/user/access_tokens/:id", self.session_only),
                Route("DELETE", "/api/user/access_tokens/:id", self.session_only),
                # /api/user/token is gone: this admin route catches it (router/api-router.go)
                Route("GET", "/api/user/:id", self.user_by_id, min_role=10),
            ]
        search_limiter = "search" if p.search_limited else None
        routes += [
            Route("GET", "/api/token/", self.list_tokens),
            Route("GET", "/api/token/search", self.search_tokens, limiter=search_limiter),
        ]
        if p.auto_groups:  # without it, /:id catches the path (step "auto groups")
            routes.append(Route("GET", "/api/token/auto-groups", self.auto_groups))
        routes += [
            Route("GET", "/api/token/:id", self.get_token),
            Route("POST", "/api/token/", self.create_token),
            Route("PUT", "/api/token/", self.update_token),
            Route("DELETE", "/api/token/:id", self.delete_token),
        ]
        if p.batch_delete:
            routes.append(Route("POST", "/api/token/batch", self.batch_delete))
        if p.reveal_routes:
            routes += [
                Route("POST", "/api/token/batch/keys", self.batch_keys, limiter="critical"),
                Route("POST", "/api/token/:id/key", self.reveal_key, limiter="critical"),
            ]
        if p.audit_log:
            routes.append(Route("GET", "/api/audit/self", self.audit_self))
        routes += [
            Route("GET", "/v1/models", self.relay_models, auth=False),
            Route("POST", "/v1/chat/completions", self.relay_chat, auth=False),
        ]
        return routes  # static routes come before :id ones, as gin prefers them

    def resolve(self, method: str, path: str) -> tuple[Route | None, dict[str, str]]:
        for route in self.routes:
            params = route.match(method, path)
            if params is not None:
                return route, params
        return None, {}

    # -- entry point --

    def lang_of(self, request: Request) -> Lang:
        if not self.profile.i18n:
            return "zh"
        return msg.pick_lang(request.headers.get("accept-language"), self.lang)

    def handle(self, request: Request) -> Response:
        lang = self.lang_of(request)
        route, params = self.resolve(request.method, request.path)
        if route is None:
            return self._no_route(request)
        ctx = Context(request, lang, params)
        # rc.41 audits every /api request made with an access token, refused ones too: its
        # owner is looked up before the answer (which may refuse it, or change it)
        owner = None
        if self.profile.audit_log and request.path.startswith("/api/"):
            owner = self._credential(ctx)
        response = self._answer(route, ctx)
        if owner is not None and owner.user is not None:
            self._audit(
                ctx, route, response, owner.user, category="access_token", token_ref=owner.ref
            )
        return response

    def _answer(self, route: Route, ctx: Context) -> Response:
        request = ctx.request
        now = self.clock()
        if self.rate_limits and request.path.startswith("/api/"):
            retry = self.limiters["global"].hit(request.client_ip, now)
            if retry is not None:
                return self._too_many(retry)
        extra_headers: list[tuple[str, str]] = []
        if route.auth:
            denied = self._authenticate(ctx, route)
            if denied is not None:
                return denied
            if self.profile.auth_version_header:
                extra_headers.append(("Auth-Version", AUTH_VERSION))
        operation = access.TOKEN_AUDIT_ACTIONS.get(route.key) if self.profile.audit_log else None
        if operation is not None:  # after auth, before the route's own limiter
            if route.key == "PUT /api/token/" and request.arg("status_only"):
                operation = access.STATUS_UPDATE
            ctx.audit = {}
            token_id, _ = go_atoi(ctx.params.get("id", ""))
            if token_id and token_id > 0:
                ctx.audit["id"] = token_id
        response = self._limited(route, ctx, now)
        if response is None:
            response = route.handler(ctx)
            response.headers.extend(extra_headers)
        if operation is not None and ctx.user is not None:
            action, content = operation
            other = {"op": {"action": action, "params": ctx.audit or {}}}
            self._audit(
                ctx,
                route,
                response,
                ctx.user,
                category="security",
                action=action,
                content=content,
                other=other,
            )
        return response

    def _limited(self, route: Route, ctx: Context, now: float) -> Response | None:
        """The route's own limiter (search per user, critical per IP): a 429, or None."""
        if self.rate_limits and route.limiter and route.limiter in self.limiters:
            key = str(ctx.user_id) if route.limiter == "search" else ctx.request.client_ip
            retry = self.limiters[route.limiter].hit(key, now)
            if retry is not None:
                return self._too_many(retry)
        return None

    def _too_many(self, retry_after: int) -> Response:
        return too_many(retry_after if self.profile.retry_after else None)

    def _no_route(self, request: Request) -> Response:
        # gin's RedirectTrailingSlash: 301 for GET, 307 otherwise.
        path = request.path
        alternative = path[:-1] if path.endswith("/") and len(path) > 1 else path + "/"
        route, _ = self.resolve(request.method, alternative)
        if route is not None:
            location = quote(alternative) + ("?" + request.query if request.query else "")
            code = 301 if request.method == "GET" else 307
            body = f'<a href="{location}">Moved Permanently</a>.\n\n' if code == 301 else ""
            return Response(
                code,
                body.encode(),
                [("Location", location), ("Content-Type", "text/html; charset=utf-8")],
            )
        return Response.json(
            {
                "error": {
                    "message": f"Invalid URL ({request.method} {request.path})",
                    "type": "invalid_request_error",
                    "param": "",
                    "code": "",
                }
            },
            404,
        )

    # -- dashboard auth, per generation --

    def _authenticate(self, ctx: Context, route: Route) -> Response | None:
        if self.profile.access_tokens:
            return self._authenticate_access_token(ctx, route)
        header = ctx.request.headers.get("authorization", "")
        if self.profile.auth == "bearer":
            token = self._raw_credential(header)
            user = self.store.user_by_access_token(token) if token else None
            if user is None:
                return self._denied(401, "AUTH_UNAUTHORIZED", "auth.access_token_invalid", ctx.lang)
            if user["status"] != 1:
                return self._denied(401, "AUTH_USER_DISABLED", "auth.user_banned", ctx.lang)
            ctx.user = user
            return None
        # one-api and legacy-header: only the exact "Bearer " is stripped
        token = header[len("Bearer ") :] if header.startswith("Bearer ") else header
        if not token:
            return fail(msg.message("auth.not_logged_in", ctx.lang), 401)
        user = self.store.user_by_access_token(token)
        if user is None:
            return fail(msg.message("auth.access_token_invalid", ctx.lang))  # HTTP 200
        if user["status"] != 1:
            return fail(msg.message("auth.user_banned", ctx.lang))
        if self.profile.auth == "legacy-header":
            claimed = ctx.request.headers.get("new-api-user", "")
            if not claimed:
                return fail(msg.message("auth.user_id_not_provided", ctx.lang), 401)
            claimed_id, error = go_atoi(claimed)
            if error:
                return fail(msg.message("auth.user_id_format_error", ctx.lang), 401)
            if claimed_id != user["id"]:
                return fail(msg.message("auth.user_id_mismatch", ctx.lang), 401)
        ctx.user = user
        return None

    # -- v1.0.0-rc.41: scoped access tokens (access.py; middleware/auth.go) --

    @property
    def legacy_retire_at(self) -> int:
        """LegacyAccessTokenRetireAt: from then on a value without nap_ is never looked up."""
        return int(self.store.get_meta("legacy_retire_at") or 0)

    def _legacy_deadline(self, *, retire_now: bool) -> None:
        """Written on the profile's first start (now + 30 days), then only read; retiring
        brings it to now, for good (a real server's option is read-only)."""
        now = self.now()
        with self.store.lock:
            stored = self.store.get_meta("legacy_retire_at")
            if stored is None:
                stored = str(now + access.LEGACY_TRANSITION)
                self.store.set_meta("legacy_retire_at", stored)
            if retire_now and int(stored) > now:
                self.store.set_meta("legacy_retire_at", str(now))

    @staticmethod
    def _raw_credential(header: str) -> str:
        """The token of an Authorization header: ``Bearer X`` (any case) or a bare ``X``."""
        fields = header.split()
        if len(fields) == 1:
            return fields[0]
        if len(fields) == 2 and fields[0].lower() == "bearer":
            return fields[1]
        return ""

    def _credential(self, ctx: Context) -> Credential:
        """The request's access token and the user it names, looked up once per request:
        what the audit records whether or not the request then passes (an expired token
        too), and what the authentication judges."""
        if ctx.credential is None:
            ctx.credential = self._look_up(ctx.request)
        return ctx.credential

    def _look_up(self, request: Request) -> Credential:
        raw = self._raw_credential(request.headers.get("authorization", ""))
        if not raw:
            return Credential()
        ref = access.fingerprint(raw)
        if raw.startswith(access.PREFIX):
            token = self.store.access_token_by_hash(ref)
            user = self.store.user(int(token["user_id"])) if token else None
            return Credential(raw, ref, token, user)
        if self.now() >= self.legacy_retire_at:  # after the deadline no value is looked up
            return Credential(raw, ref, retired=True)
        return Credential(raw, ref, user=self.store.user_by_access_token(raw))

    def _authenticate_access_token(self, ctx: Context, route: Route) -> Response | None:
        """rc.41's dashboard auth: the credential, the user, the role, then the route rule."""
        lang, now = ctx.lang, self.now()
        credential = self._credential(ctx)
        token, user = credential.token, credential.user
        if token is not None:
            if user is None:  # its user is gone: gorm's not-found
                return self._denied(401, "AUTH_SESSION_REVOKED", "auth.not_logged_in", lang)
            if 0 < token["expires_at"] <= now:
                return self._denied(401, "ACCESS_TOKEN_EXPIRED", "auth.access_token_expired", lang)
        elif credential.retired:
            return self._denied(
                401, "ACCESS_TOKEN_LEGACY_RETIRED", "auth.legacy_token_retired", lang
            )
        if user is None:
            return self._denied(401, "AUTH_UNAUTHORIZED", "auth.access_token_invalid", lang)
        if user["status"] != 1:
            return self._denied(401, "AUTH_USER_DISABLED", "auth.user_banned", lang)
        if user["role"] < route.min_role:
            return self._denied(
                403, "AUTH_INSUFFICIENT_PRIVILEGE", "auth.insufficient_privilege", lang
            )
        rule = self.access_token_routes.get(route.key)
        if rule is not None and rule.kind == "session":  # legacy tokens included
            return fail(msg.SESSION_REQUIRED, 403, code="AUTH_SESSION_REQUIRED")
        if token is not None:
            if rule is None:  # fail closed: a route nobody declared
                return self._denied(
                    403, "ACCESS_TOKEN_ROUTE_UNDECLARED", "auth.insufficient_privilege", lang
                )
            if rule.kind == "scope" and rule.scope not in token["scopes"]:
                return fail(
                    msg.message("auth.access_token_scope", lang, scope=rule.scope),
                    403,
                    code="ACCESS_TOKEN_SCOPE_DENIED",
                )
            self.store.touch_access_token(
                int(token["id"]), ctx.request.client_ip, now, access.TOUCH_INTERVAL
            )
        ctx.user = user
        return None

    @staticmethod
    def _denied(status: int, code: str, key: str, lang: Lang) -> Response:
        return fail(msg.message(key, lang), status, code=code)

    def _audit(
        self,
        ctx: Context,
        route: Route,
        response: Response,
        user: dict[str, Any],
        *,
        category: str,
        token_ref: str = "",
        action: str = "",
        content: str = "",
        other: dict[str, Any] | None = None,
    ) -> None:
        """One audit_logs row (model/audit_log.go RecordAuditLog): metadata, never a body."""
        request = ctx.request
        self.store.add_audit(
            {
                "event_id": self.relay.request_id(),
                "user_id": int(user["id"]),
                "username": user["username"],
                "actor_role": int(user["role"]),
                "created_at": self.now(),
                "category": category,
                "action": action,
                "token_ref": token_ref,
                "auth_method": "access_token",  # the sandbox has no browser sessions
                "ip": request.client_ip,
                "user_agent": request.headers.get("user-agent", "")[:512],
                "method": request.method,
                "route": route.pattern,
                "status": response.status,
                "success": _succeeded(response),
                "request_id": self.relay.request_id(),
                "content": content,
                "other": other or {},
            }
        )

    # -- helpers --

    def now(self) -> int:
        return int(self.clock())

    def view(self, token: dict[str, Any]) -> dict[str, Any]:
        """A token as this generation emits it, in its field order."""
        p = self.profile
        columns = _ONE_API_COLUMNS if p.one_api_fields else _NEW_API_COLUMNS
        out = {name: token[name] for name in columns}
        if p.masked_keys:
            out["key"] = server_mask(token["key"])
        if p.one_api_fields:
            return out
        if p.cross_group_retry:
            out["cross_group_retry"] = token["cross_group_retry"]
        out["DeletedAt"] = None
        if p.auto_groups:
            out["auto_groups"] = token["auto_groups"]
        return out

    def _page_query(self, request: Request) -> tuple[int, int]:
        """common.GetPageQuery: page only from p; size from page_size, ps or size."""
        page = lenient_atoi(request.arg("p")) or 1
        size = 0
        for name in ("page_size", "ps", "size"):
            size = lenient_atoi(request.arg(name))
            if size:
                break
        size = size or 10
        return page, min(size, 100)

    def _page(self, page: int, size: int, total: int, items: list[Any]) -> Response:
        return ok({"page": page, "page_size": size, "total": total, "items": items})

    def _check_fields(self, body: dict[str, Any], lang: Lang) -> str | None:
        """The name and quota checks, run on create and on every PUT."""
        p = self.profile
        name_bytes = len(str(body.get("name") or "").encode("utf-8"))
        if p.one_api_fields:
            reason = None
            subnet = body.get("subnet")
            if name_bytes > p.name_max_bytes:
                reason = msg.message("token.name_too_long", "zh")
            elif subnet:
                bad = [s for s in (x.strip() for x in subnet.split(",")) if not _is_cidr(s)]
                if bad:
                    reason = msg.ONE_API_BAD_SUBNET.format(subnet=bad[0])
            return None if reason is None else msg.ONE_API_PARAM_ERROR.format(reason=reason)
        if name_bytes > p.name_max_bytes:
            return msg.message("token.name_too_long", lang)
        if p.quota_checks and not body.get("unlimited_quota"):
            quota = body.get("remain_quota") or 0
            if quota < 0:
                return msg.message("token.quota_negative", lang)
            if quota > self.max_quota:
                return msg.message("token.quota_exceed_max", lang, max=self.max_quota)
        return None

    def _check_auto_groups(self, groups: list[str] | None, lang: Lang) -> str | None:
        groups = groups or []
        if len(groups) > MAX_AUTO_GROUPS:
            return msg.message("token.auto_groups_too_many", lang, max=MAX_AUTO_GROUPS)
        seen: set[str] = set()
        for group in groups:
            if group in seen:
                return msg.message("token.auto_groups_duplicate", lang, group=group)
            seen.add(group)
            if group not in AUTO_GROUPS:
                return msg.message("token.auto_groups_invalid", lang, group=group)
        return None

    def _invalid_params(self, lang: Lang) -> Response:
        if not self.profile.i18n:
            return fail(msg.INVALID_PARAMS_BEFORE_I18N)
        return fail(msg.message("common.invalid_params", lang))

    def _owned_token(self, ctx: Context) -> tuple[dict[str, Any], Response | None]:
        """The caller's token named by ``:id``, or the error the server answers."""
        token_id, error = go_atoi(ctx.params["id"])
        if error:
            return {}, fail(error)
        if not token_id:
            return {}, fail(msg.ID_EMPTY)
        token = self.store.token(int(token_id), ctx.user_id)
        if token is None:
            return {}, fail(msg.RECORD_NOT_FOUND)
        return token, None

    def _bind_checked(self, ctx: Context) -> tuple[dict[str, Any], Response | None]:
        """Bind, then the name and quota checks (create and every PUT)."""
        body, error = bind_token(ctx.request.body, token_fields(self.profile))
        if error:
            return {}, fail(error)
        error = self._check_fields(body, ctx.lang)
        if error:
            return {}, fail(error)
        return body, None

    # -- side routes --

    def status(self, ctx: Context) -> Response:
        p = self.profile
        known: dict[str, Any] = {
            "version": p.version,
            "system_name": "One API (sandbox)" if p.one_api_fields else "New API (sandbox)",
            "quota_per_unit": 500000,
            "quota_display_type": "USD",
            "usd_exchange_rate": 7.3,
            "custom_currency_exchange_rate": 1,
            "custom_currency_symbol": "¤",
            "display_in_currency": True,
            "default_use_auto_group": False,
            "setup": True,
            "start_time": self.started,
            "price": 7.3,
            "stripe_unit_price": 8.0,
            "linuxdo_minimum_trust_level": 0,
            "data_export_default_time": "hour",
            "theme": "default",
        }
        return ok({name: known.get(name, _default_of(name)) for name in sorted(p.status_fields)})

    def user_self(self, ctx: Context) -> Response:
        user = ctx.user or {}
        known: dict[str, Any] = {
            "id": user["id"],
            "username": user["username"],
            "display_name": user["display_name"],
            "role": user["role"],
            "status": user["status"],
            "group": user["group"],
            "quota": user["quota"],
            "used_quota": user["used_quota"],
            "request_count": 0,
            "aff_count": 0,
            "aff_quota": 0,
            "aff_history_quota": 0,
            "inviter_id": 0,
            "permissions": {},
        }
        return ok({name: known.get(name, "") for name in sorted(self.profile.user_fields)})

    def user_groups(self, ctx: Context) -> Response:
        return ok(self.user_groups_offered)

    def user_by_id(self, ctx: Context) -> Response:
        """GET /api/user/:id (admin): on rc.41 it also catches the removed /api/user/token."""
        user_id, error = go_atoi(ctx.params["id"])
        if error:
            return fail(error)
        user = self.store.user(int(user_id or 0))
        if user is None:
            return fail(msg.RECORD_NOT_FOUND)
        return self.user_self(Context(ctx.request, ctx.lang, {}, user))

    def session_only(self, ctx: Context) -> Response:
        """Routes of a browser session (making access tokens): no token ever gets here."""
        return fail(msg.SESSION_REQUIRED, 403, code="AUTH_SESSION_REQUIRED")

    def audit_self(self, ctx: Context) -> Response:
        """GET /api/audit/self (controller/audit.go GetAuditLogs, the self view)."""
        request = ctx.request
        page, size = self._page_query(request)
        where: list[tuple[str, Any]] = []
        category = request.arg("category")
        token_ref, exclude = request.arg("token_ref"), request.arg("exclude_token_ref")
        if category not in AUDIT_CATEGORIES or not all(
            _fingerprint_ok(v) for v in (token_ref, exclude)
        ):
            return fail(msg.AUDIT_BAD_FILTERS)
        for column, op, value in (
            ("category", "=", category),
            ("token_ref", "=", token_ref),
            ("token_ref", "<>", exclude),
            ("request_id", "=", request.arg("request_id")),
        ):
            if value:
                where.append((f"{column} {op} ?", value))
        bounds: dict[str, int] = {}
        for name in ("start_timestamp", "end_timestamp"):
            raw = request.arg(name)
            if raw:
                stamp, error = go_atoi(raw)
                if error or stamp is None or stamp < 0:
                    return fail(msg.AUDIT_BAD_TIME)
                bounds[name] = stamp
        start, end = bounds.get("start_timestamp", 0), bounds.get("end_timestamp", 0)
        if end > 0 and end < start:
            return fail(msg.AUDIT_BAD_TIME)
        if start > 0:
            where.append(("created_at >= ?", start))
        if end > 0:
            where.append(("created_at <= ?", end))
        success = request.arg("success")
        if success:
            if success not in ("true", "false"):
                return fail(msg.AUDIT_BAD_RESULT)
            where.append(("success = ?", int(success == "true")))
        if ctx.user and int(ctx.user["role"]) < 100:  # below root: no root actors' rows
            where.append(("actor_role IN (1, 10)", None))
        entries, total = self.store.audit(ctx.user_id, where, offset=(page - 1) * size, limit=size)
        return self._page(page, size, total, entries)

    def user_models(self, ctx: Context) -> Response:
        return ok(list(self.channels))

    def auto_groups(self, ctx: Context) -> Response:
        return ok({"groups": list(AUTO_GROUPS), "max_count": MAX_AUTO_GROUPS})

    # -- reading tokens --

    def list_tokens(self, ctx: Context) -> Response:
        request = ctx.request
        dialect = self.profile.list_dialect
        if dialect == "one-api":
            page = max(lenient_atoi(request.arg("p")), 0)
            order = ONE_API_ORDERS.get(request.arg("order"), "id DESC")
            tokens, _ = self.store.query_tokens(
                ctx.user_id,
                offset=page * ONE_API_PAGE_SIZE,
                limit=ONE_API_PAGE_SIZE,
                order=order,
            )
            return ok([self.view(t) for t in tokens])
        if dialect == "array":
            # before v0.8.4.0: 0-based p, size default 10 (max 100), bare array
            page = max(lenient_atoi(request.arg("p")), 0)
            size = lenient_atoi(request.arg("size"))
            size = 10 if size <= 0 else min(size, 100)
            tokens, _ = self.store.query_tokens(ctx.user_id, offset=page * size, limit=size)
            return ok([self.view(t) for t in tokens])
        page, size = self._page_query(request)
        tokens, total = self.store.query_tokens(
            ctx.user_id, offset=(page - 1) * size, limit=size if size > 0 else -1
        )
        return self._page(page, size, total, [self.view(t) for t in tokens])

    def search_tokens(self, ctx: Context) -> Response:
        request = ctx.request
        keyword = request.arg("keyword")
        token = request.arg("token")
        dialect = self.profile.search
        if dialect == "prefix":  # one-api: the name only, a prefix, unpaged, no ORDER BY
            tokens, _ = self.store.query_tokens(
                ctx.user_id, "name LIKE ?", (f"{keyword}%",), order="id"
            )
            return ok([self.view(t) for t in tokens])
        if dialect == "substring":
            # before v0.10.8: substring match, AND, unpaged; Trim strips s/k/- at both ends
            token = token.strip("sk-")
            tokens, _ = self.store.query_tokens(
                ctx.user_id,
                "name LIKE ? AND key LIKE ?",
                (f"%{keyword}%", f"%{token}%"),
                order="id",
            )
            return ok([self.view(t) for t in tokens])
        token = token.removeprefix("sk-")
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (("name", keyword), ("key", token)):
            if not value:
                continue
            if "%" in value:
                error = _wildcard_error(value)
                if error:
                    return fail(error)
                cap = self.max_user_tokens
                if cap is not None and self.store.count_tokens(ctx.user_id) > cap:
                    return fail(msg.SEARCH_TOO_MANY_TOKENS)
                escaped = value.replace("!", "!!").replace("_", "!_")
                clauses.append(f"{column} LIKE ? ESCAPE '!'")
                params.append(escaped)
            else:
                clauses.append(f"{column} = ?")
                params.append(value)
        page, size = self._page_query(request)
        limit = size if 0 < size <= 100 else 100
        tokens, total = self.store.query_tokens(
            ctx.user_id, " AND ".join(clauses), params, offset=(page - 1) * limit, limit=limit
        )
        return self._page(page, size, total, [self.view(t) for t in tokens])

    def get_token(self, ctx: Context) -> Response:
        token, error = self._owned_token(ctx)
        if error:
            return error
        return ok(self.view(token))

    # -- writing tokens --

    def create_token(self, ctx: Context) -> Response:
        p = self.profile
        body, failure = self._bind_checked(ctx)
        if failure:
            return failure
        if ctx.audit is not None:
            ctx.audit["name"] = body.get("name") or ""
        cap = self.max_user_tokens
        if cap is not None and self.store.count_tokens(ctx.user_id) >= cap:
            return fail(msg.max_tokens_reached(cap))
        group = "" if p.one_api_fields else body.get("group") or ""
        auto_groups: list[str] | None = None
        cross_group_retry = bool(body.get("cross_group_retry")) and p.cross_group_retry
        if group == "auto" and p.auto_groups:
            error = self._check_auto_groups(body.get("auto_groups"), ctx.lang)
            if error:
                return fail(error)
            auto_groups = list(body.get("auto_groups") or []) or None
        elif group != "auto":
            cross_group_retry = False
        now = self.now()
        allow_ips = body.get("allow_ips")
        subnet = body.get("subnet")
        (token_id,) = self.store.insert_tokens(
            [
                {
                    "user_id": ctx.user_id,
                    "key": generate_key(),
                    "status": 1,  # GORM's default replaces whatever was sent
                    "name": body.get("name") or "",
                    "created_time": now,
                    "accessed_time": now,
                    "expired_time": body.get("expired_time") or -1,  # 0/missing -> default -1
                    "remain_quota": body.get("remain_quota") or 0,
                    "unlimited_quota": bool(body.get("unlimited_quota")),
                    "model_limits_enabled": bool(body.get("model_limits_enabled")),
                    "model_limits": body.get("model_limits") or "",
                    "allow_ips": "" if allow_ips is None else allow_ips,
                    "group": group,
                    "cross_group_retry": cross_group_retry,
                    "auto_groups": auto_groups,
                    "models": body.get("models"),  # nullable, no default (one-api)
                    "subnet": "" if subnet is None else subnet,
                }
            ],
            reuse_ids=p.hard_delete,
        )
        if ctx.audit is not None:
            ctx.audit["id"] = token_id
        if p.create_returns_token:
            created = self.store.token(token_id)
            assert created is not None
            return ok(self.view(created))
        return ok(with_data=False)

    def update_token(self, ctx: Context) -> Response:
        p = self.profile
        body, failure = self._bind_checked(ctx)
        if failure:
            return failure
        token_id = body.get("id") or 0
        if ctx.audit is not None and token_id > 0:
            ctx.audit["id"] = token_id
        if not token_id:
            return fail(msg.ID_EMPTY)
        stored = self.store.token(token_id, ctx.user_id)
        if stored is None:
            return fail(msg.RECORD_NOT_FOUND)
        if ctx.audit is not None:
            ctx.audit["name"] = stored["name"]
        if body.get("status") == 1:  # the re-enable guard, in both modes
            now = self.now()
            expired = stored["expired_time"]
            if stored["status"] == 3 and expired <= now and expired != -1:
                return fail(msg.message("token.expired_cannot_enable", ctx.lang))
            if (
                stored["status"] == 4
                and stored["remain_quota"] <= 0
                and not stored["unlimited_quota"]
            ):
                return fail(msg.message("token.exhausted_cannot_enable", ctx.lang))
        changes: dict[str, Any]
        if ctx.request.arg("status_only"):
            changes = {"status": body.get("status") or 0}  # not validated
        elif p.one_api_fields:
            changes = {
                "name": body.get("name") or "",
                "expired_time": body.get("expired_time") or 0,
                "remain_quota": body.get("remain_quota") or 0,
                "unlimited_quota": bool(body.get("unlimited_quota")),
                "models": body.get("models"),  # omitted -> null (step "put partial body")
                "subnet": body.get("subnet"),
            }
        else:
            group = body.get("group") or ""
            changes = {
                "name": body.get("name") or "",
                "expired_time": body.get("expired_time") or 0,
                "remain_quota": body.get("remain_quota") or 0,
                "unlimited_quota": bool(body.get("unlimited_quota")),
                "model_limits_enabled": bool(body.get("model_limits_enabled")),
                "model_limits": body.get("model_limits") or "",
                "allow_ips": body.get("allow_ips"),  # omitted -> null (step "put partial body")
                "group": group,
            }
            if p.cross_group_retry:
                changes["cross_group_retry"] = bool(body.get("cross_group_retry")) and (
                    group == "auto"
                )
            if group != "auto":
                changes["auto_groups"] = None
            elif p.auto_groups and "auto_groups" in body:
                error = self._check_auto_groups(body["auto_groups"], ctx.lang)
                if error:
                    return fail(error)
                changes["auto_groups"] = list(body["auto_groups"] or []) or None
        self.store.update_token(token_id, changes)
        updated = self.store.token(token_id, ctx.user_id)
        assert updated is not None
        if ctx.audit is not None:
            ctx.audit["name"] = updated["name"]
            if ctx.request.arg("status_only"):
                ctx.audit["from"], ctx.audit["to"] = stored["status"], updated["status"]
            else:
                ctx.audit["changed_fields"] = [f for f in changes if stored[f] != updated[f]]
        return ok(self.view(updated))

    def delete_token(self, ctx: Context) -> Response:
        token_id = lenient_atoi(ctx.params["id"])  # non-numeric reads as 0
        if not token_id:
            return fail(msg.ID_EMPTY)
        stored = self.store.token(token_id, ctx.user_id) if ctx.audit is not None else None
        if not self._delete([token_id], ctx.user_id):
            return fail(msg.RECORD_NOT_FOUND)
        if ctx.audit is not None and stored is not None:
            ctx.audit["id"], ctx.audit["name"] = token_id, stored["name"]
        return ok(with_data=False)

    def _delete(self, token_ids: list[int], user_id: int) -> int:
        if self.profile.hard_delete:
            return self.store.hard_delete(token_ids, user_id)
        return self.store.soft_delete(token_ids, user_id, self.now())

    def batch_delete(self, ctx: Context) -> Response:
        ids = bind_ids(ctx.request.body)
        if ids is None:
            return self._invalid_params(ctx.lang)
        deleted = self._delete(sorted(set(ids)), ctx.user_id)
        if ctx.audit is not None:
            ctx.audit.update(requested_ids=ids, count=deleted)
        return ok(deleted)

    def reveal_key(self, ctx: Context) -> Response:
        token, error = self._owned_token(ctx)
        if error:
            return error
        if ctx.audit is not None:
            ctx.audit["id"], ctx.audit["name"] = token["id"], token["name"]
        return ok({"key": token["key"]})

    def batch_keys(self, ctx: Context) -> Response:
        ids = bind_ids(ctx.request.body)
        if ids is None:
            return self._invalid_params(ctx.lang)
        if len(ids) > MAX_BATCH:
            return fail(msg.message("common.batch_too_many", ctx.lang, max=MAX_BATCH))
        keys = self.store.keys_for(sorted(set(ids)), ctx.user_id)
        if ctx.audit is not None:
            ctx.audit.update(requested_ids=ids, count=len(keys), returned_ids=sorted(keys))
        # A Go map[string]string: the JSON object's keys come out in string order.
        return ok({"keys": {str(i): keys[i] for i in sorted(keys, key=str)}})

    # -- the relay side --

    def relay_models(self, ctx: Context) -> Response:
        return self.relay.list_models(ctx.request, ctx.lang)

    def relay_chat(self, ctx: Context) -> Response:
        return self.relay.chat(ctx.request, ctx.lang)


AUDIT_CATEGORIES = ("", "login", "security", "operation", "access_token")


def _fingerprint_ok(value: str) -> bool:
    """model.ValidTokenFingerprint: empty, or 64 lowercase hex digits."""
    return not value or (len(value) == 64 and not value.strip("0123456789abcdef"))


def _succeeded(response: Response) -> bool:
    """auditResponseSuccess: the body's `success` when it is a JSON object, else the status."""
    if response.status >= 400:
        return False
    body = response.body.strip()
    if body.startswith(b"{"):
        data, _ = parse_json(body)
        if isinstance(data, dict) and isinstance(data.get("success"), bool):
            return bool(data["success"])
    return response.status < 400


def _default_of(status_field: str) -> Any:
    """A harmless value for a status field the sandbox has no opinion on."""
    flags = ("_enabled", "_oauth", "_login", "_check", "_verification", "_mode", "_insecure")
    if status_field.endswith(flags) or status_field.startswith(("enable_", "default_")):
        return False
    return ""


def _wildcard_error(value: str) -> str | None:
    """The search pattern rules of exact-search servers (messages hard-coded Chinese)."""
    if "%%" in value:
        return msg.SEARCH_CONSECUTIVE_PERCENT
    if value.count("%") > 2:
        return msg.SEARCH_TOO_MANY_PERCENT
    if len(value.replace("%", "")) < 2:
        return msg.SEARCH_TOO_SHORT
    return None
