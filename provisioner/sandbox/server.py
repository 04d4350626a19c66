"""The sandbox HTTP server and its Python API for tests (docs/sandbox.md).

``Sandbox`` owns the SQLite store, the clock, the fault set and a
``ThreadingHTTPServer`` (HTTP/1.1 keep-alive) running in a daemon thread.
"""

from __future__ import annotations

import contextlib
import email.utils
import socket
import sys
import threading
import time
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from provisioner.sandbox import access, profiles
from provisioner.sandbox.api import App, Request, Response
from provisioner.sandbox.faults import Fault, FaultSet
from provisioner.sandbox.messages import Lang
from provisioner.sandbox.profiles import Profile
from provisioner.sandbox.relay import Relay
from provisioner.sandbox.store import Store
from provisioner.sandbox.wire import fail

USER_ID = 1
GATE_TIMEOUT = 60.0  # the longest a gate fault holds a request
OTHER_USER_ID = 2  # owns a few tokens user 1 must never see or touch

_FAULT_BODIES: dict[int, tuple[str, bytes]] = {
    500: ("text/plain; charset=utf-8", b"Internal Server Error"),
    502: (
        "text/html",
        b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
        b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
        b"</body>\r\n</html>\r\n",
    ),
    503: (
        "text/html",
        b"<html>\r\n<head><title>503 Service Temporarily Unavailable</title>"
        b"</head>\r\n<body>\r\n<center><h1>503 Service Temporarily Unavailable</h1></center>"
        b"\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
    ),
}
_REASONS = {429: "Too Many Requests", 502: "Bad Gateway", 503: "Service Unavailable"}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    sandbox: Sandbox

    def __init__(self, address: tuple[str, int], sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self.connections_lock:
            connections = list(self.connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "new-api-sandbox"
    sys_version = ""
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Small responses must not wait for delayed ACKs (Nagle): one write, no delay.
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def version_string(self) -> str:
        return self.server_version

    def date_time_string(self, timestamp: float | None = None) -> str:
        # The Date header follows the sandbox clock, so advance() is visible to clients.
        when = self.server.sandbox.now() if timestamp is None else timestamp
        return email.utils.formatdate(when, usegmt=True)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.sandbox.log_requests:
            sys.stderr.write(f"{self.address_string()} {format % args}\n")

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self) -> None:
        sandbox = self.server.sandbox
        split = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=split.path or "/",
            query=split.query,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=self._read_body(),
            client_ip=self.client_address[0],
        )
        route, _ = sandbox.app.resolve(request.method, request.path)
        decision = sandbox.faults.decide(
            request.method, request.path, route.pattern if route else None
        )
        delay = sandbox.latency + decision.latency
        if delay > 0:
            time.sleep(delay)
        for gate in decision.gates:  # a test holds this request until it opens the gate
            gate.wait(GATE_TIMEOUT)
        if sandbox.stopped:  # stopped while this request slept: just hang up
            self.close_connection = True
            return None
        if decision.drop == "before":
            return self._drop(request)
        if decision.status is not None:
            response = _fault_response(decision.status, decision.retry_after)
        elif decision.message is not None:
            response = fail(decision.message)
        else:
            response = sandbox.handle(request)
        if decision.drop == "after":
            return self._drop(request)
        self._send(request, response)

    def _drop(self, request: Request) -> None:
        self.server.sandbox._record(request, 0)
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _send(self, request: Request, response: Response) -> None:
        self.server.sandbox._record(request, response.status)
        self.send_response(response.status, _REASONS.get(response.status))
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        if self.command != "HEAD":
            # one write with the head (send_header fills the buffer; typeshed does not know it)
            self._headers_buffer.append(b"\r\n" + response.body)  # type: ignore[attr-defined]
            self.flush_headers()
        else:
            self.end_headers()
        self.wfile.flush()

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _dispatch


def _fault_response(status: int, retry_after: int | None) -> Response:
    if status == 429:
        headers = [] if retry_after is None else [("Retry-After", str(retry_after))]
        return Response(429, b"", headers)
    content_type, body = _FAULT_BODIES[status]
    return Response(status, body, [("Content-Type", content_type)])


class Sandbox:
    """A local new-api-family token server answering as one generation (docs/sandbox.md).

    ``profile`` names the generation (profiles.py; default the newest). The
    deprecated ``auth``/``list_shape`` switches pick one instead: ``auth="legacy"``
    is new-api-2026-07, ``list_shape="array"`` new-api-2025-05.
    """

    def __init__(
        self,
        db_path: str | Path = ".provisioner/sandbox.db",
        *,
        profile: str | Profile | None = None,
        auth: str | None = None,
        list_shape: str | None = None,
        rate_limits: bool = False,
        lang: Lang = "en",
        max_user_tokens: int | None = None,
        latency: float = 0.0,
        fault_seed: int | None = 0,
        limits: dict[str, tuple[int, float]] | None = None,
        max_quota: int | None = None,
        log_requests: bool = False,
        neighbour: bool = True,
        channels: Iterable[str] | None = None,
        redis: bool = False,
        auto_group: bool = False,
        scopes: Iterable[str] | None = None,
        legacy_retired: bool = False,
    ) -> None:
        chosen = profiles.resolve(profile, auth=auth, list_shape=list_shape)
        granted: tuple[str, ...] = ()
        if chosen.access_tokens:  # checked before the database is touched
            granted = access.check_scopes(
                tuple(access.DEFAULT_SCOPES if scopes is None else scopes)
            )
        elif scopes is not None or legacy_retired:
            raise ValueError(
                "scopes= and legacy_retired= are for the generation with scoped access tokens "
                f"(new-api-2026-10), not {chosen.name}"
            )
        self.store = Store(db_path)
        self.latency = latency
        self.log_requests = log_requests
        self.faults = FaultSet(fault_seed)
        self._offset = float(self.store.get_meta("clock_offset") or 0.0)
        self._lock = threading.RLock()
        self._requests: list[tuple[str, str, int]] = []
        self.app = App(
            self.store,
            self._clock,
            profile=chosen,
            lang=lang,
            max_user_tokens=max_user_tokens,
            max_quota=max_quota,
            rate_limits=rate_limits,
            limits=limits,
            channels=channels,
            redis=redis,
            auto_group=auto_group,
            legacy_retired=legacy_retired,
        )
        self._ensure_users(neighbour)
        # rc.41: a new nap_ token at each start (only its hash is stored, so an earlier
        # start's value cannot be printed again; the 20 newest stay valid)
        self.scopes = granted
        self._access_token = self.issue_access_token(granted) if granted else ""
        self._server: _Server | None = None
        self.stopped = False
        self._thread: threading.Thread | None = None

    @property
    def profile(self) -> Profile:
        return self.app.profile

    # -- lifecycle --

    def _ensure_users(self, neighbour: bool) -> None:
        with self.store.lock:
            self.store.add_user(USER_ID, "sandbox", "default", 100_000_000)  # if missing
            if neighbour and self.store.user(OTHER_USER_ID) is None:
                self.store.add_user(OTHER_USER_ID, "neighbour", "default", 100_000_000)
                if self.store.count_tokens(OTHER_USER_ID):
                    return  # another process seeded them meanwhile
                now = self.now()
                self.store.insert_tokens(
                    {
                        "user_id": OTHER_USER_ID,
                        "name": f"neighbour-{i}",
                        "created_time": now,
                        "remain_quota": 1_000_000,
                    }
                    for i in range(1, 4)
                )

    def start(self, host: str = "127.0.0.1", port: int = 0) -> Sandbox:
        if self._server is not None:
            raise RuntimeError("sandbox already started")
        self._server = _Server((host, port), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.01},
            name="sandbox-http",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        self.stopped = True
        if server is not None:
            server.shutdown()
            server.close_connections()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.store.close()

    def __enter__(self) -> Sandbox:
        if self._server is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("sandbox not started")
        host, port = self._server.server_address[:2]
        host = str(host)
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    @property
    def credential(self) -> str:
        """The management credential to use: on rc.41 the nap_ token issued at this start,
        elsewhere the user's access token."""
        return self._access_token or self.legacy_credential

    @property
    def legacy_credential(self) -> str:
        """The user's (legacy) access token, stable for this db; rc.41 retires it."""
        user = self.store.user(USER_ID)
        assert user is not None
        return str(user["access_token"])

    @property
    def legacy_retire_at(self) -> int | None:
        """When rc.41 stops accepting the legacy token (unix seconds); None elsewhere."""
        return self.app.legacy_retire_at if self.profile.access_tokens else None

    def issue_access_token(
        self,
        scopes: Iterable[str],
        *,
        name: str = "sandbox",
        expires_at: int = 0,
        user_id: int = USER_ID,
    ) -> str:
        """A new ``nap_`` token, as the console makes one; its value is returned once and
        only its SHA-256 is kept. ValueError for a grant the console would refuse."""
        if not self.profile.access_tokens:
            raise ValueError(f"{self.profile.name} has no scoped access tokens")
        granted = access.check_scopes(tuple(scopes))
        raw = access.generate()
        self.store.insert_access_token(
            user_id,
            name,
            access.fingerprint(raw),
            access.hint(raw),
            granted,
            expires_at,
            self.now(),
            keep=access.MAX_PER_USER,
        )
        return raw

    def audit(self, user_id: int = USER_ID) -> list[dict[str, Any]]:
        """The user's audit log, newest first (what GET /api/audit/self pages through)."""
        return self.store.audit(user_id)[0]

    @property
    def user_id(self) -> int:
        return USER_ID

    # -- the clock --

    def _clock(self) -> float:
        return time.time() + self._offset

    def now(self) -> int:
        return int(self._clock())

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds
            self.store.set_meta("clock_offset", repr(self._offset))

    # -- requests --

    def handle(self, request: Request) -> Response:
        with self._lock:  # one request at a time against the state: checks are atomic
            try:
                return self.app.handle(request)
            except Exception as exc:  # gin's recovery middleware answers 500
                return Response.json(
                    {
                        "error": {
                            "message": f"Panic detected, error: {exc}",
                            "type": "new_api_panic",
                        }
                    },
                    500,
                )

    def _record(self, request: Request, status: int) -> None:
        with self._lock:
            self._requests.append((request.method, request.target, status))

    @property
    def requests(self) -> list[tuple[str, str, int]]:
        with self._lock:
            return list(self._requests)

    # -- faults --

    def inject(
        self,
        route: str = "POST /api/token/",
        *,
        status: int | None = None,
        times: int | None = None,
        fraction: float | None = None,
        drop: str | None = None,
        latency: float = 0.0,
        retry_after: int | None = None,
    ) -> Fault:
        fault = Fault(
            route=route,
            status=status,
            times=times,
            fraction=fraction,
            drop=drop,
            latency=latency,
            retry_after=retry_after,
        )
        self.faults.add(fault)
        return fault

    def add_fault(self, fault: Fault) -> None:
        self.faults.add(fault)

    def clear_faults(self) -> None:
        self.faults.clear()

    # -- state helpers for tests --

    def seed(self, n: int, prefix: str = "seed-") -> list[int]:
        now = self.now()
        with self._lock:
            start = self.store.count_tokens(USER_ID)
            return self.store.insert_tokens(
                (
                    {
                        "user_id": USER_ID,
                        "name": f"{prefix}{start + i}",
                        "created_time": now,
                        "remain_quota": 5_000_000,
                    }
                    for i in range(1, n + 1)
                ),
                reuse_ids=self.profile.hard_delete,
            )

    def rows(self, include_deleted: bool = False) -> list[dict[str, Any]]:
        return self.store.all_rows(include_deleted)

    def consume(self, token_id: int, quota: int, *, client_ip: str = "127.0.0.1") -> bool:
        """A relay call spending ``quota`` with this token's key; True if it was charged.

        The same code as ``POST /v1/chat/completions``: the key checks (with their
        lazy status flips), then the spending.
        """
        with self._lock:
            token = self.store.token(token_id)
            if token is None:
                return False
            checked, refusal = self.app.relay.check(token["key"], client_ip, self.app.lang)
            if refusal is not None:
                return False
            self.app.relay.spend(checked, quota)
            return True

    def relay_auth(self, key: str, *, client_ip: str = "127.0.0.1") -> bool:
        """Would a relay call with this key (``sk-``, ``Bearer`` or bare) pass its checks now?

        The same checks as ``GET /v1/models``, lazy status flips included.
        """
        with self._lock:
            _, refusal = self.app.relay.check(Relay.key_from(key), client_ip, self.app.lang)
            return refusal is None
