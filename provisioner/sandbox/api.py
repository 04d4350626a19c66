"""The new-api token API as pure request -> response logic (contract §1-§5, §10).

No sockets here: :class:`App` takes a :class:`Request` and returns a
:class:`Response`; ``server.py`` speaks HTTP and injects faults around it.
Behaviour follows upstream U-0815 unless a mode switch says otherwise.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qs, quote

from provisioner.sandbox import messages as msg
from provisioner.sandbox.messages import Lang
from provisioner.sandbox.ratelimit import SlidingWindow
from provisioner.sandbox.store import TOKEN_COLUMNS, Store, generate_key

AuthMode = Literal["bearer", "legacy"]
ListShape = Literal["page", "array"]

AUTH_VERSION = "864b7076dbcd0a3c01b5520316720ebf"  # §2.3 fingerprint header
MAX_QUOTA = 2147483647  # §5.4 check 3 (since 2026-08-10)
MAX_AUTO_GROUPS = 5
MAX_BATCH = 100
AUTO_GROUPS = ("default", "vip")  # the global auto order; user 1 may use both
USER_GROUPS: dict[str, dict[str, Any]] = {
    "default": {"ratio": 1, "desc": "默认分组"},
    "vip": {"ratio": 1.5, "desc": "VIP 分组"},
    "auto": {"ratio": "自动", "desc": "根据可用性自动选择分组"},  # §12.21: a string
}
MODELS = ("gpt-4o-mini", "gpt-4o", "claude-3-5-haiku", "claude-3-5-sonnet", "deepseek-chat")
VERSION = "v1.0.0-sandbox"
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


@dataclass
class Request:
    method: str
    path: str
    query: str = ""
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""
    client_ip: str = "127.0.0.1"

    def arg(self, name: str) -> str:
        values = parse_qs(self.query, keep_blank_values=True).get(name)
        return values[0] if values else ""

    @property
    def target(self) -> str:
        return self.path + ("?" + self.query if self.query else "")


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def json(cls, payload: Any, status: int = 200) -> Response:
        # Go's encoder keeps non-ASCII as UTF-8 and emits compact JSON.
        data = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return cls(status, data, [("Content-Type", "application/json; charset=utf-8")])


def ok(data: Any = None, *, with_data: bool = True) -> Response:
    payload: dict[str, Any] = {"success": True, "message": ""}
    if with_data:
        payload["data"] = data
    return Response.json(payload)


def fail(message: str, status: int = 200, **extra: Any) -> Response:
    return Response.json({"success": False, "message": message, **extra}, status)


def server_mask(key: str) -> str:
    """§3: first 4 + 10 stars + last 4; short legacy keys differently."""
    if len(key) <= 4:
        return "*" * len(key)
    if len(key) <= 8:
        return key[:2] + "****" + key[-2:]
    return key[:4] + "*" * 10 + key[-4:]


def go_atoi(text: str) -> tuple[int | None, str]:
    """Go's strconv.Atoi: the value, or None and Go's error text."""
    if re.fullmatch(r"[+-]?[0-9]+", text):
        value = int(text)
        if INT64_MIN <= value <= INT64_MAX:
            return value, ""
        return None, f"strconv.Atoi: parsing {json.dumps(text)}: value out of range"
    return None, f"strconv.Atoi: parsing {json.dumps(text)}: invalid syntax"


def lenient_atoi(text: str) -> int:
    value, _ = go_atoi(text)
    return value or 0


# -- JSON binding the way Go's encoding/json reports errors (§5.4 check 1) --

_TOKEN_FIELDS: dict[str, str] = {
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


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _check_value(value: Any, go_type: str, where: str) -> str | None:
    if value is None or go_type == "any":
        return None
    kind = _json_kind(value)
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
                return f"json: cannot unmarshal {_json_kind(item)} into {where} of type string"
        return None
    if kind != go_type:
        return f"json: cannot unmarshal {kind} into {where} of type {go_type}"
    return None


def parse_json(body: bytes) -> tuple[Any, str | None]:
    text = body.decode("utf-8", errors="replace").strip()
    if not text:
        return None, "EOF"
    try:
        return json.loads(text), None
    except json.JSONDecodeError as exc:
        bad = text[exc.pos] if exc.pos < len(text) else ""
        if not bad:
            return None, "unexpected EOF"
        return None, f"invalid character {bad!r} looking for beginning of value"


def bind_token(body: bytes) -> tuple[dict[str, Any], str | None]:
    """Bind a body into model.Token: present fields (canonical names) or Go's error."""
    data, error = parse_json(body)
    if error:
        return {}, error
    if data is None:
        return {}, None
    if not isinstance(data, dict):
        return {}, f"json: cannot unmarshal {_json_kind(data)} into Go value of type model.Token"
    bound: dict[str, Any] = {}
    lowered = {name.lower(): name for name in _TOKEN_FIELDS}
    for raw_name, value in data.items():
        name = raw_name if raw_name in _TOKEN_FIELDS else lowered.get(raw_name.lower())
        if name is None:
            continue  # unknown fields are ignored
        error = _check_value(value, _TOKEN_FIELDS[name], f"Go struct field Token.{name}")
        if error:
            return {}, error
        bound[name] = value
    return bound, None


def bind_ids(body: bytes) -> list[int] | None:
    """``{"ids":[int...]}``; None when it does not bind or is empty (§5.7)."""
    data, error = parse_json(body)
    if error or not isinstance(data, dict):
        return None
    ids = data.get("ids")
    if not isinstance(ids, list) or not ids:
        return None
    if any(isinstance(i, bool) or not isinstance(i, int) for i in ids):
        return None
    return list(ids)


# -- routing --


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str
    handler: Callable[[Context], Response]
    auth: bool = True
    limiter: str | None = None  # "search" (per user) or "critical" (per IP)

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


@dataclass
class Context:
    request: Request
    lang: Lang
    params: dict[str, str]
    user: dict[str, Any] | None = None

    @property
    def user_id(self) -> int:
        assert self.user is not None
        return int(self.user["id"])


class App:
    def __init__(
        self,
        store: Store,
        clock: Callable[[], float],
        *,
        auth: AuthMode = "bearer",
        list_shape: ListShape = "page",
        lang: Lang = "en",
        max_user_tokens: int = 1000,
        max_quota: int = MAX_QUOTA,
        rate_limits: bool = False,
        limits: dict[str, tuple[int, float]] | None = None,
    ) -> None:
        if auth not in ("bearer", "legacy"):
            raise ValueError(f"auth must be 'bearer' or 'legacy', not {auth!r}")
        if list_shape not in ("page", "array"):
            raise ValueError(f"list_shape must be 'page' or 'array', not {list_shape!r}")
        self.store = store
        self.clock = clock
        self.auth = auth
        self.list_shape = list_shape
        self.lang: Lang = lang
        self.max_user_tokens = max_user_tokens
        self.max_quota = max_quota
        self.rate_limits = rate_limits
        from provisioner.sandbox.ratelimit import DEFAULT_LIMITS

        merged = {**DEFAULT_LIMITS, **(limits or {})}
        self.limiters = {name: SlidingWindow(n, w) for name, (n, w) in merged.items()}
        self.routes = self._routes()

    # Keys are shown in full by older generations (legacy, bare-array lists).
    @property
    def masked(self) -> bool:
        return self.auth == "bearer" and self.list_shape == "page"

    @property
    def modern(self) -> bool:
        """auto_groups, the auto-groups route and the reveal routes exist (2026-08+)."""
        return self.auth == "bearer"

    def _routes(self) -> list[Route]:
        routes = [
            Route("GET", "/api/status", self.status, auth=False),
            Route("GET", "/api/user/self", self.user_self),
            Route("GET", "/api/user/self/groups", self.user_groups),
            Route("GET", "/api/user/models", self.user_models),
            Route("GET", "/api/token/", self.list_tokens),
            Route("GET", "/api/token/search", self.search_tokens, limiter="search"),
        ]
        if self.modern:
            routes.append(Route("GET", "/api/token/auto-groups", self.auto_groups))
        routes += [
            Route("GET", "/api/token/:id", self.get_token),
            Route("POST", "/api/token/", self.create_token),
            Route("PUT", "/api/token/", self.update_token),
            Route("DELETE", "/api/token/:id", self.delete_token),
            Route("POST", "/api/token/batch", self.batch_delete),
        ]
        if self.modern:
            routes += [
                Route("POST", "/api/token/batch/keys", self.batch_keys, limiter="critical"),
                Route("POST", "/api/token/:id/key", self.reveal_key, limiter="critical"),
            ]
        return routes  # static routes come before :id ones, as gin prefers them

    def resolve(self, method: str, path: str) -> tuple[Route | None, dict[str, str]]:
        for route in self.routes:
            params = route.match(method, path)
            if params is not None:
                return route, params
        return None, {}

    # -- entry point --

    def handle(self, request: Request) -> Response:
        lang = msg.pick_lang(request.headers.get("accept-language"), self.lang)
        route, params = self.resolve(request.method, request.path)
        if route is None:
            return self._no_route(request)
        now = self.clock()
        if self.rate_limits and request.path.startswith("/api/"):
            retry = self.limiters["global"].hit(request.client_ip, now)
            if retry is not None:
                return too_many(retry)
        ctx = Context(request, lang, params)
        extra_headers: list[tuple[str, str]] = []
        if route.auth:
            denied = self._authenticate(ctx)
            if denied is not None:
                return denied
            extra_headers.append(("Auth-Version", AUTH_VERSION))
        if self.rate_limits and route.limiter:
            key = str(ctx.user_id) if route.limiter == "search" else request.client_ip
            retry = self.limiters[route.limiter].hit(key, now)
            if retry is not None:
                return too_many(retry)
        response = route.handler(ctx)
        response.headers.extend(extra_headers)
        return response

    def _no_route(self, request: Request) -> Response:
        # gin's RedirectTrailingSlash (§4): 301 for GET, 307 otherwise.
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

    # -- auth (§2.3) --

    def _authenticate(self, ctx: Context) -> Response | None:
        header = ctx.request.headers.get("authorization", "")
        if self.auth == "bearer":
            fields = header.split()
            token = ""
            if len(fields) == 1:
                token = fields[0]
            elif len(fields) == 2 and fields[0].lower() == "bearer":
                token = fields[1]
            user = self.store.user_by_access_token(token) if token else None
            if user is None:
                return fail(
                    msg.message("auth.access_token_invalid", ctx.lang),
                    401,
                    code="AUTH_UNAUTHORIZED",
                )
            if user["status"] != 1:
                return fail(
                    msg.message("auth.user_banned", ctx.lang), 401, code="AUTH_USER_DISABLED"
                )
            ctx.user = user
            return None
        # legacy (2025-01 .. 2026-07): exact "Bearer " stripped, New-Api-User required
        token = header[len("Bearer ") :] if header.startswith("Bearer ") else header
        if not token:
            return fail(msg.message("auth.not_logged_in", ctx.lang), 401)
        user = self.store.user_by_access_token(token)
        if user is None:
            return fail(msg.message("auth.access_token_invalid", ctx.lang))  # HTTP 200
        if user["status"] != 1:
            return fail(msg.message("auth.user_banned", ctx.lang))
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

    # -- helpers --

    def now(self) -> int:
        return int(self.clock())

    def view(self, token: dict[str, Any]) -> dict[str, Any]:
        """A token as emitted, in the server's field order (§3)."""
        out: dict[str, Any] = {}
        for name in TOKEN_COLUMNS:
            out[name] = token[name]
        if self.masked:
            out["key"] = server_mask(token["key"])
        out["DeletedAt"] = None
        if self.modern:
            out["auto_groups"] = token["auto_groups"]
        return out

    def _page_query(self, request: Request) -> tuple[int, int]:
        """common.GetPageQuery (§5.1): page only from p; size page_size|ps|size."""
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
        """Checks 2-3 of §5.4 (run on create and on every PUT)."""
        if len(str(body.get("name") or "").encode("utf-8")) > 50:
            return msg.message("token.name_too_long", lang)
        if not body.get("unlimited_quota"):
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

    def _id_param(self, ctx: Context) -> tuple[int | None, Response | None]:
        value, error = go_atoi(ctx.params["id"])
        if error:
            return None, fail(error)
        return value, None

    def _owned_token(self, ctx: Context) -> tuple[dict[str, Any], Response | None]:
        """The caller's token named by ``:id``, or the error the server answers (§5.3)."""
        token_id, error = self._id_param(ctx)
        if error:
            return {}, error
        if not token_id:
            return {}, fail(msg.ID_EMPTY)
        token = self.store.token(int(token_id), ctx.user_id)
        if token is None:
            return {}, fail(msg.RECORD_NOT_FOUND)
        return token, None

    def _bind_checked(self, ctx: Context) -> tuple[dict[str, Any], Response | None]:
        """Create checks 1-3 (§5.4), which every PUT runs too (§5.5)."""
        body, error = bind_token(ctx.request.body)
        if error:
            return {}, fail(error)
        error = self._check_fields(body, ctx.lang)
        if error:
            return {}, fail(error)
        return body, None

    # -- handlers --

    def status(self, ctx: Context) -> Response:
        return ok(
            {
                "version": VERSION,
                "system_name": "New API (sandbox)",
                "quota_per_unit": 500000,
                "quota_display_type": "USD",
                "usd_exchange_rate": 7.3,
                "custom_currency_exchange_rate": 1,
                "display_in_currency": True,
                "default_use_auto_group": False,
                "setup": True,
                "start_time": 0,
            }
        )

    def user_self(self, ctx: Context) -> Response:
        user = ctx.user or {}
        return ok(
            {
                "id": user["id"],
                "username": user["username"],
                "display_name": user["display_name"],
                "role": user["role"],
                "status": user["status"],
                "email": "",
                "group": user["group"],
                "quota": user["quota"],
                "used_quota": user["used_quota"],
                "request_count": 0,
            }
        )

    def user_groups(self, ctx: Context) -> Response:
        return ok(USER_GROUPS)

    def user_models(self, ctx: Context) -> Response:
        return ok(list(MODELS))

    def auto_groups(self, ctx: Context) -> Response:
        return ok({"groups": list(AUTO_GROUPS), "max_count": MAX_AUTO_GROUPS})

    def list_tokens(self, ctx: Context) -> Response:
        request = ctx.request
        if self.list_shape == "array":
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
        if self.list_shape == "array":
            # before v0.10.8: substring match, AND, unpaged; Trim strips s/k/- at both ends
            token = token.strip("sk-")
            tokens, _ = self.store.query_tokens(
                ctx.user_id, "name LIKE ? AND key LIKE ?", (f"%{keyword}%", f"%{token}%")
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
                if self.store.count_tokens(ctx.user_id) > self.max_user_tokens:
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

    def create_token(self, ctx: Context) -> Response:
        body, failure = self._bind_checked(ctx)
        if failure:
            return failure
        if self.store.count_tokens(ctx.user_id) >= self.max_user_tokens:
            return fail(msg.max_tokens_reached(self.max_user_tokens))
        group = body.get("group") or ""
        auto_groups: list[str] | None = None
        cross_group_retry = bool(body.get("cross_group_retry"))
        if group == "auto" and self.modern:
            error = self._check_auto_groups(body.get("auto_groups"), ctx.lang)
            if error:
                return fail(error)
            auto_groups = list(body.get("auto_groups") or []) or None
        elif group != "auto":
            cross_group_retry = False
        now = self.now()
        allow_ips = body.get("allow_ips")
        self.store.insert_tokens(
            [
                {
                    "user_id": ctx.user_id,
                    "key": generate_key(),
                    "status": 1,  # GORM default: whatever was sent (§12.5)
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
                }
            ]
        )
        return ok(with_data=False)

    def update_token(self, ctx: Context) -> Response:
        body, failure = self._bind_checked(ctx)
        if failure:
            return failure
        token_id = body.get("id") or 0
        if not token_id:
            return fail(msg.ID_EMPTY)
        stored = self.store.token(token_id, ctx.user_id)
        if stored is None:
            return fail(msg.RECORD_NOT_FOUND)
        if body.get("status") == 1:  # the re-enable guard, in both modes (§5.5)
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
        if ctx.request.arg("status_only"):
            changes: dict[str, Any] = {"status": body.get("status") or 0}  # not validated
        else:
            group = body.get("group") or ""
            changes = {
                "name": body.get("name") or "",
                "expired_time": body.get("expired_time") or 0,
                "remain_quota": body.get("remain_quota") or 0,
                "unlimited_quota": bool(body.get("unlimited_quota")),
                "model_limits_enabled": bool(body.get("model_limits_enabled")),
                "model_limits": body.get("model_limits") or "",
                "allow_ips": body.get("allow_ips"),  # omitted -> null (§12.4)
                "group": group,
                "cross_group_retry": bool(body.get("cross_group_retry")) and group == "auto",
            }
            if group != "auto":
                changes["auto_groups"] = None
            elif self.modern and "auto_groups" in body:
                error = self._check_auto_groups(body["auto_groups"], ctx.lang)
                if error:
                    return fail(error)
                changes["auto_groups"] = list(body["auto_groups"] or []) or None
        self.store.update_token(token_id, changes)
        updated = self.store.token(token_id, ctx.user_id)
        assert updated is not None
        return ok(self.view(updated))

    def delete_token(self, ctx: Context) -> Response:
        token_id = lenient_atoi(ctx.params["id"])  # non-numeric reads as 0 (§5.6)
        if not token_id:
            return fail(msg.ID_EMPTY)
        if not self.store.soft_delete([token_id], ctx.user_id, self.now()):
            return fail(msg.RECORD_NOT_FOUND)
        return ok(with_data=False)

    def batch_delete(self, ctx: Context) -> Response:
        ids = bind_ids(ctx.request.body)
        if ids is None:
            return fail(msg.message("common.invalid_params", ctx.lang))
        return ok(self.store.soft_delete(sorted(set(ids)), ctx.user_id, self.now()))

    def reveal_key(self, ctx: Context) -> Response:
        token, error = self._owned_token(ctx)
        if error:
            return error
        return ok({"key": token["key"]})

    def batch_keys(self, ctx: Context) -> Response:
        ids = bind_ids(ctx.request.body)
        if ids is None:
            return fail(msg.message("common.invalid_params", ctx.lang))
        if len(ids) > MAX_BATCH:
            return fail(msg.message("common.batch_too_many", ctx.lang, max=MAX_BATCH))
        keys = self.store.keys_for(sorted(set(ids)), ctx.user_id)
        return ok({"keys": {str(i): k for i, k in keys.items()}})


def too_many(retry_after: int) -> Response:
    """§10: HTTP 429 with an empty body and Retry-After."""
    return Response(429, b"", [("Retry-After", str(retry_after))])


def _wildcard_error(value: str) -> str | None:
    """§5.2 pattern rules (messages hard-coded Chinese)."""
    if "%%" in value:
        return msg.SEARCH_CONSECUTIVE_PERCENT
    if value.count("%") > 2:
        return msg.SEARCH_TOO_MANY_PERCENT
    if len(value.replace("%", "")) < 2:
        return msg.SEARCH_TOO_SHORT
    return None
