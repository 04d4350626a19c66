"""The relay, called as an application holding a key calls it (docs/server-contract.md#relay-side).

Separate from the dashboard client on purpose: it sends an ``sk-`` key, never
the management credential, and it reads the relay's ``{"error": {...}}``
bodies, not the dashboard's envelope. ``GET /v1/models`` spends no quota;
``POST /v1/chat/completions`` does, so only ``test --model`` sends one.

The key leaves the process only in the ``Authorization`` header. It is never
logged, and never sent to another host: a redirect is followed once, to the
same origin only.
"""

from __future__ import annotations

import re
import time
from contextlib import AbstractContextManager
from typing import Any
from urllib.parse import urljoin

import httpx

from provisioner import __version__
from provisioner.keys.verdict import RelayAnswer
from provisioner.newapi import proxies
from provisioner.newapi.envelope import sanitize
from provisioner.newapi.transport import OnRequest, origin
from provisioner.secret import Secret

RELAY_TIMEOUT = 15.0  # seconds; a relay answering /v1/models slower than this is not working
# "... (request id: 20261129035459aIOgVdmE)": every refusal ends so; it helps nobody here.
_REQUEST_ID = re.compile(r"\s*\(request id: [^)]*\)\s*$")
_REDIRECTS = (301, 302, 303, 307, 308)
CHAT_PROMPT = "ping"


class RelayClient(AbstractContextManager["RelayClient"]):
    """Calls ``/v1/*`` on one server with the keys it is given."""

    def __init__(
        self,
        base_url: str,
        *,
        verify: Any = True,  # True, a CA bundle path or an ssl.SSLContext; never False
        timeout: float = RELAY_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
        on_request: OnRequest | None = None,
    ) -> None:
        self.base_url = base_url.strip().rstrip("/")
        self.on_request = on_request
        self.request_count = 0
        # the relay is the same server: the same proxy, if any (newapi/proxies.py)
        self.route = proxies.route(self.base_url) if transport is None else proxies.Route()
        self._http = httpx.Client(
            transport=transport,
            timeout=timeout,
            follow_redirects=False,
            verify=verify if verify is not False else True,
            headers={"Accept": "application/json", "User-Agent": f"provisioner/{__version__}"},
            **self.route.httpx_options(),
        )

    def close(self) -> None:
        self._http.close()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def models(self, key: Secret) -> RelayAnswer:
        """``GET /v1/models``: the models the key may use, or the relay's refusal."""
        return self._send("GET", "/v1/models", key)

    def chat(self, key: Secret, model: str) -> RelayAnswer:
        """One minimal completion (``max_tokens: 1``). It spends quota."""
        body = {
            "model": model,
            "messages": [{"role": "user", "content": CHAT_PROMPT}],
            "max_tokens": 1,
            "stream": False,
        }
        return self._send("POST", "/v1/chat/completions", key, body)

    def _send(self, method: str, path: str, key: Secret, body: Any = None) -> RelayAnswer:
        raw = key.reveal().removeprefix("sk-")
        headers = {"Authorization": f"Bearer sk-{raw}"}
        url = self.base_url + path
        started = time.monotonic()
        response: httpx.Response | None = None
        failure = ""
        for hop in range(2):
            try:
                response = self._http.request(method, url, headers=headers, json=body)
            except httpx.TransportError as exc:
                failure = _transport_failure(exc, self._http.timeout.read) + self.route.via
                response = None
                break
            finally:
                self.request_count += 1
            if response.status_code not in _REDIRECTS:
                break
            target = urljoin(url, response.headers.get("location", ""))
            if hop or origin(target) != origin(url):
                # Never hand the key to another host (docs/server-contract.md#trailing-slashes).
                failure = (
                    f"the relay redirected {path} (HTTP {response.status_code}) to another "
                    "place; the key was not sent there. Check the server URL"
                )
                break
            url = target
        seconds = time.monotonic() - started
        latency = int(seconds * 1000)
        status = response.status_code if response is not None else 0
        if self.on_request is not None:
            self.on_request(method, path, status, seconds)
        if failure or response is None:
            return RelayAnswer(status=status, latency_ms=latency, failure=failure)
        return _read(response, Secret(raw), latency)


def _transport_failure(exc: httpx.TransportError, timeout: float | None) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer from the relay within {timeout:g} s" if timeout else "timeout"
    if isinstance(exc, httpx.ConnectError):
        return "cannot connect to the relay (refused, DNS or TLS error)"
    return f"network error talking to the relay ({type(exc).__name__})"


def _read(response: httpx.Response, key: Secret, latency: int) -> RelayAnswer:
    status = response.status_code
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        text = "" if data is not None else _clean(response.text, key)
        kind = "JSON that is not an object" if data is not None else "an answer that is not JSON"
        if status == 200:
            return RelayAnswer(status, latency, failure=f"HTTP 200 with {kind}")
        return RelayAnswer(status, latency, message=text)
    message, code = _error_of(data)
    models = None
    if status == 200 and isinstance(data.get("data"), list):
        models = len(data["data"])
    usage = data.get("usage")
    total = usage.get("total_tokens") if isinstance(usage, dict) else None
    return RelayAnswer(
        status=status,
        latency_ms=latency,
        message=_clean(message, key),
        code=_clean(code, key),
        models=models,
        usage_tokens=total if isinstance(total, int) else None,
    )


def _error_of(data: dict[str, Any]) -> tuple[str, str]:
    """The relay's ``{"error": {"message", "code"}}``, or a dashboard-style ``message``."""
    error = data.get("error")
    if isinstance(error, dict):
        return str(error.get("message") or ""), str(error.get("code") or "")
    if isinstance(error, str):
        return error, ""
    return str(data.get("message") or ""), ""


def _clean(text: str, key: Secret) -> str:
    """Printable, short, request id dropped, and the key masked should a relay echo it."""
    return sanitize(_REQUEST_ID.sub("", text), key, limit=160)
