"""A tiny in-memory new-api for MockTransport unit tests (single quirky responses).

Contract tests against the real sandbox live in test_contract.py; this fake only
answers what each unit test needs, plus per-route overrides.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

from provisioner.newapi.client import NewApiClient
from provisioner.newapi.retry import RetryPolicy
from provisioner.newapi.transport import TransportSettings
from provisioner.secret import Secret

CREDENTIAL = "Zm9vYmFyLXNlY3JldC1hY2Nlc3MtdG9rZW4x"  # base64-looking, 36 chars
FULL_KEY = "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8s9T0u1V2w3X4"

Handler = Callable[[httpx.Request], httpx.Response]


def ok(data: Any = None, **extra: Any) -> httpx.Response:
    body: dict[str, Any] = {"success": True, "message": ""}
    if data is not None:
        body["data"] = data
    body.update(extra)
    return httpx.Response(200, json=body)


def fail(message: str, status: int = 200, **extra: Any) -> httpx.Response:
    return httpx.Response(status, json={"success": False, "message": message, **extra})


def token(i: int, *, key: str | None = None, user_id: int = 1, **fields: Any) -> dict[str, Any]:
    full = key if key is not None else f"{i:04d}" + "x" * 40 + f"{i:04d}"
    masked = full if key is not None else full[:4] + "*" * 10 + full[-4:]
    record = {
        "id": i,
        "user_id": user_id,
        "key": masked,
        "status": 1,
        "name": f"tok-{i}",
        "created_time": 1786000000 + i,
        "accessed_time": 0,
        "expired_time": -1,
        "remain_quota": 0,
        "unlimited_quota": True,
        "model_limits_enabled": False,
        "model_limits": "",
        "allow_ips": "",
        "used_quota": 0,
        "group": "",
        "cross_group_retry": False,
        "DeletedAt": None,
    }
    record.update(fields)
    return record


class FakeServer:
    """Routes by "METHOD /path"; records every request; lists ``tokens`` newest first."""

    def __init__(
        self,
        tokens: list[dict[str, Any]] | None = None,
        *,
        list_shape: str = "page",
        fixed_page_size: int | None = None,
    ) -> None:
        self.tokens = sorted(tokens or [], key=lambda t: -t["id"])
        self.list_shape = list_shape
        self.fixed_page_size = fixed_page_size
        self.requests: list[httpx.Request] = []
        self.overrides: dict[str, list[Handler | httpx.Response] | Handler] = {}

    def on(self, route: str, *responses: Handler | httpx.Response) -> None:
        """Answer the next requests to ``route`` with ``responses`` in order, then normally."""
        self.overrides[route] = list(responses)

    def always(self, route: str, handler: Handler) -> None:
        self.overrides[route] = handler

    def paths(self) -> list[str]:
        return [f"{r.method} {r.url.path}" for r in self.requests]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        route = f"{request.method} {request.url.path}"
        override = self.overrides.get(route)
        if callable(override):
            return override(request)
        if override:
            nxt = override.pop(0)
            return nxt(request) if callable(nxt) else nxt
        return self.default(request, route)

    def default(self, request: httpx.Request, route: str) -> httpx.Response:
        if route == "GET /api/status":
            return ok({"version": "v0.12.0", "quota_per_unit": 500000})
        if route == "GET /api/user/self":
            return ok({"id": 1, "username": "root", "group": "default", "role": 100})
        if route == "GET /api/token/":
            return self.list(request)
        if route == "GET /api/user/self/groups":
            return ok({"default": {"ratio": 1, "desc": "d"}, "auto": {"ratio": "自动", "desc": ""}})
        if route == "POST /api/token/":
            return ok()
        if route == "POST /api/token/batch/keys":
            ids = json.loads(request.content)["ids"]
            return ok({"keys": {str(i): FULL_KEY for i in ids}})
        return httpx.Response(
            404,
            json={
                "error": {
                    "message": f"Invalid URL ({route})",
                    "type": "invalid_request_error",
                    "param": "",
                    "code": "",
                }
            },
        )

    def list(self, request: httpx.Request) -> httpx.Response:
        p = int(request.url.params.get("p", "0") or 0)
        size = int(request.url.params.get("size", "10"))
        if self.fixed_page_size:
            size = self.fixed_page_size
        if self.list_shape == "page":
            page = max(p, 1)
            items = self.tokens[(page - 1) * size : page * size]
            return ok({"page": page, "page_size": size, "total": len(self.tokens), "items": items})
        return ok(self.tokens[p * size : (p + 1) * size])


class FakeClock:
    """A monotonic clock that the injected sleep advances; records the waits."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def client_settings(
    *, max_attempts: int = 5, max_retry_time: float = 60.0, **settings: Any
) -> TransportSettings:
    """Transport settings for a test: no pacing unless asked, retries as given."""
    settings.setdefault("rate_limit", None)
    retry = RetryPolicy(max_attempts=max(1, max_attempts), max_retry_time=max_retry_time)
    settings.setdefault("retry", retry)
    return TransportSettings(**settings)


def make_client(
    server: Handler,
    *,
    clock: FakeClock | None = None,
    user_id: int | None = None,
    concurrency: int = 4,
    **settings: Any,
) -> NewApiClient:
    clock = clock or FakeClock()
    return NewApiClient(
        "http://newapi.test",
        Secret(CREDENTIAL),
        user_id,
        settings=client_settings(
            http=httpx.MockTransport(server), sleep=clock.sleep, clock=clock, **settings
        ),
        concurrency=concurrency,
    )


def open_and_list(client: NewApiClient) -> list[Any]:
    """Probe, then list from the page the probe read (what a command does)."""
    _, first = client.open()
    return client.list_tokens(first)
