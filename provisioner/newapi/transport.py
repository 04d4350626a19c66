"""Sending one API call: pacing, retries, redirects and the server's clock.

The layer below the envelope (httpx's own layering: auth -> redirects -> single
request). It answers a :class:`Reply` with the status, headers and body of the
last attempt, or raises a transport-level :class:`~provisioner.newapi.errors.NewApiError`
(network failure, an ambiguous write, rate limiting that never ends, an
off-host redirect). What a reply *means* is :mod:`provisioner.newapi.envelope`'s job.

Waiting for the server's rate limit is not failing (docs/server-contract.md#rate-limits):
client-side pacing and HTTP 429 pause every request and then go on, and are
shown through ``on_wait``; the retry budget bounds only retries of calls that
failed (transport errors, 5xx).

Not told the limit (``rate_limit=LEARN``, the default), it goes at full speed
and learns the limit from the first 429 (:mod:`provisioner.newapi.ratelimit`),
says so once through ``on_notice``, and paces to it for the rest of the run.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from provisioner import __version__
from provisioner.newapi import proxies
from provisioner.newapi.errors import (
    AmbiguousWriteError,
    ConnectionFailedError,
    NewApiError,
    NotNewApiError,
    RateLimitedError,
)
from provisioner.newapi.ratelimit import (
    GENERATION_WINDOW,
    LEARN,
    URGENT_RESERVE,
    RateSetting,
    SlidingWindowLimiter,
    Stamp,
    describe_wait,
)
from provisioner.newapi.retry import RetryPolicy, parse_retry_after
from provisioner.secret import Secret

#: reveal routes share the server's per-IP critical window (docs/server-contract.md#rate-limits)
CRITICAL_RATE_LIMIT = (20, 1200.0)
#: 429 without Retry-After (servers before 2026-07-21): pause this long, doubling up to the cap
BACKOFF_429_FIRST, BACKOFF_429_CAP = 2.0, 30.0
#: waits shorter than this are not worth a line on stderr
NOTABLE_WAIT = 1.0

OnRequest = Callable[[str, str, int, float], None]
"""Called after every HTTP exchange: (method, route template, status or 0, seconds)."""
OnWait = Callable[[float, str], None]
"""Called before a notable wait: (seconds, why)."""
OnNotice = Callable[[str], None]
"""Called with a line a person should read once (the rate limit was learned)."""


@dataclass(frozen=True)
class Call:
    """One API call as the layers above describe it."""

    method: str
    route: str  # the route template, e.g. "GET /api/token/:id": the key of request counts
    path: str
    params: dict[str, Any] | None = None
    json_body: Any = None
    idempotent: bool = True  # False: never re-sent after it may have reached the server
    critical: bool = False  # counted by the server's critical limiter (reveals)
    max_attempts: int | None = None  # fewer tries than the policy (a probe fails fast)


@dataclass(frozen=True)
class Reply:
    """The server's answer to a call (the last attempt's)."""

    status: int
    headers: httpx.Headers
    content: bytes
    url: str

    def json(self) -> Any:
        try:
            return json.loads(self.content)
        except (ValueError, UnicodeDecodeError):
            return None

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")


def _ambiguous(exc: httpx.TransportError) -> bool:
    """True when the request may have reached the server (so a write may have committed)."""
    return not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)


def _transport_reason(exc: httpx.TransportError, timeout: float | None) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer within {timeout:g} s (timeout)" if timeout else "timeout"
    if isinstance(exc, httpx.ProxyError):  # the proxy answered, but would not connect
        return f"the proxy refused to connect to it ({exc})"
    if isinstance(exc, httpx.ConnectError):
        return "connection failed (refused, DNS or TLS error)"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the connection was dropped without an answer"
    return f"network error ({type(exc).__name__})"


def origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, f"{host}:{port}"


@dataclass(frozen=True)
class TransportSettings:
    """How calls to a server are sent, declared once: :class:`Transport` takes them, and
    :class:`~provisioner.newapi.client.NewApiClient` hands them on whole."""

    timeout: float = 30.0  # seconds a request may take
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    rate_limit: RateSetting = LEARN  # LEARN: full speed until the first 429 teaches it
    critical_rate_limit: tuple[int, float] | bool | None = True  # reveals; True: the default
    http: httpx.BaseTransport | None = None  # tests: an httpx transport in place of the network
    on_request: OnRequest | None = None
    on_wait: OnWait | None = None
    on_notice: OnNotice | None = None
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    verify: Any = True  # True, a CA bundle path or an ssl.SSLContext; never False


class Transport:
    """Sends calls to one server with one credential. Thread-safe for concurrent reads."""

    def __init__(
        self,
        base_url: str,
        credential: Secret,
        settings: TransportSettings | None = None,
        *,
        user_id: int | None = None,
    ) -> None:
        settings = settings or TransportSettings()
        rate_limit, critical_rate_limit = settings.rate_limit, settings.critical_rate_limit
        self.base_url = base_url
        self._credential = credential
        self.user_id = user_id
        self.retry = settings.retry
        self._sleep = settings.sleep
        self._clock = settings.clock
        self.on_request = settings.on_request
        self.on_wait = settings.on_wait
        self.on_notice = settings.on_notice
        #: the generation's default limit (the client sets it once the probe knows):
        #: the window a 429 without Retry-After is read against
        self.expected_limit: tuple[int, float] = (180, GENERATION_WINDOW)
        self.limiter = self._limiter(rate_limit, "requests")
        self._learns = rate_limit == LEARN
        self._notice_due = False  # learned, not said yet
        if critical_rate_limit is True:
            # Default: on whenever general pacing is on, learned or told (a sandbox run
            # turns both off); 20 reveals in 20 min are far more than an apply needs.
            critical_rate_limit = CRITICAL_RATE_LIMIT if rate_limit else None
        self.critical = (
            self._limiter(critical_rate_limit, "key reveals")
            if isinstance(critical_rate_limit, tuple)
            else None
        )
        # The proxy of this server, if any, from the environment; never one for loopback.
        self.route = proxies.route(base_url) if settings.http is None else proxies.Route()
        self._http = httpx.Client(
            transport=settings.http,
            timeout=settings.timeout,
            follow_redirects=False,
            verify=settings.verify if settings.verify is not False else True,
            event_hooks={"response": [self._note_server_time]},
            headers={"Accept": "application/json", "User-Agent": f"provisioner/{__version__}"},
            **self.route.httpx_options(),
        )
        self.request_counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._server_offset = 0.0
        self._date_seen = ""  # the last Date header parsed
        self._home = origin(base_url)  # redirects may stay here, never leave
        self._urls: dict[str, httpx.URL] = {}  # parsed once per path (creates: one path)
        self._rate_paused_until = 0.0  # a 429 without Retry-After holds every request
        self._local = threading.local()  # urgent(): this thread's calls may use the reserve
        # Called with each attempt right before it leaves, after any wait: raising stops it
        # unsent (the account lock's lease check, provisioner/cli/lock.py).
        self.before_send: Callable[[Call], None] | None = None

    def _limiter(self, limit: RateSetting, name: str) -> SlidingWindowLimiter | None:
        if not limit:
            return None
        if limit == LEARN:
            horizon = max(GENERATION_WINDOW, self.retry.rate_window)  # how long it remembers
            limiter = SlidingWindowLimiter(
                None, horizon, name=name, reserve=URGENT_RESERVE, clock=self._clock
            )
        else:
            assert isinstance(limit, tuple)
            limiter = SlidingWindowLimiter(
                *limit, name=name, reserve=URGENT_RESERVE, clock=self._clock
            )

        def sleep(seconds: float) -> None:
            assert limiter.limit is not None  # a limiter that only records never waits
            self._announce()  # the learned limit is said before any wait for it
            why = (
                f"the rate limit for {name} ({limiter.limit} per {describe_wait(limiter.window)}"
                + (", learned from a 429)" if limit == LEARN else ")")
            )
            self._wait(seconds, why)

        limiter._sleep = sleep
        return limiter

    def _announce(self) -> None:
        """Say once that the limit was learned (and what it is), once it is counted."""
        limiter = self.limiter
        with self._lock:
            if not self._notice_due or limiter is None or limiter.limit is None:
                return
            self._notice_due = False
        if self.on_notice is not None:
            self.on_notice(
                f"the server limits requests: {limiter.limit} per {limiter.window:.0f} s "
                "(learned from a 429); pacing to it"
            )

    @property
    def learning(self) -> bool:
        """True while the pace is learned from the server and no 429 has taught it yet."""
        return self.limiter is not None and self.limiter.learning

    @contextlib.contextmanager
    def urgent(self) -> Iterator[None]:
        """Calls made in this block (this thread) may use the few slots of the limit that
        bulk calls leave free: the account lock's renewal is not queued behind creates."""
        previous = getattr(self._local, "urgent", False)
        self._local.urgent = True
        try:
            yield
        finally:
            self._local.urgent = previous

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        self._http.close()

    @property
    def request_count(self) -> int:
        return sum(self.request_counts.values())

    @property
    def timeout(self) -> float | None:
        return self._http.timeout.read

    # ------------------------------------------------------------------ server time

    def _note_server_time(self, response: httpx.Response) -> None:
        """Remember how far the server's clock (its Date header) is from ours.

        The header changes once a second: a repeat is not parsed again.
        """
        header = response.headers.get("date")
        if not header or header == self._date_seen:
            return
        try:
            stamp = email.utils.parsedate_to_datetime(header).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            return
        self._date_seen = header
        self._server_offset = stamp - time.time()

    def now(self) -> int:
        """The server's current time in unix seconds (its Date header), else ours."""
        return int(time.time() + self._server_offset)

    # ------------------------------------------------------------------ waiting

    def _wait(self, seconds: float, why: str = "the rate limit") -> None:
        if seconds <= 0:
            return
        if seconds >= NOTABLE_WAIT and self.on_wait is not None:
            self.on_wait(seconds, why)
        self._sleep(seconds)

    def _pace(self, call: Call) -> list[tuple[SlidingWindowLimiter, Stamp]]:
        """Client-side pacing: take a slot in each window the call counts against."""
        if self._notice_due and self.limiter is not None:
            self.limiter.await_early()  # the limit is being counted: say it, then wait
            self._announce()
        held = self._rate_paused_until - self._clock()
        if held > 0:
            self._wait(held, "the server's rate limit (HTTP 429)")
        urgent = getattr(self._local, "urgent", False)
        slots = []
        for limiter in (self.limiter, self.critical if call.critical else None):
            if limiter is not None:
                slots.append((limiter, limiter.acquire(urgent=urgent)))
        return slots

    def _after_429(
        self,
        call: Call,
        slots: list[tuple[SlidingWindowLimiter, Stamp]],
        retry_after: float | None,
        streak: int,
    ) -> float:
        """How long to hold every request after a 429 (0: pacing alone waits long enough).

        A learning client learns the limit from its first 429 on a call the global
        limiter alone counts (a reveal's 429 may be the reveal limiter's), and a 429
        despite the learned pace lowers it. Then pacing waits for the window, or the
        server's Retry-After does; a 429 that pacing cannot explain backs off, doubling.
        """
        limiter = self.limiter
        learns = (
            limiter is not None
            and self._learns
            and not call.critical
            and bool(slots)
            and slots[0][0] is limiter
        )
        if not learns:
            return self._pause_length(retry_after, streak)
        assert limiter is not None
        stamp = slots[0][1]
        expected = (self.expected_limit[0], self.retry.rate_window or self.expected_limit[1])
        if limiter.learning:
            limiter.learn(expected, retry_after)
            self._notice_due = True
            # the other requests in flight are answered in moments: the accepted ones count
            limiter.await_early()
            self._announce()
        elif stamp.paced:
            limiter.learn(expected, retry_after)
        if retry_after is not None:
            return retry_after
        if limiter.wait_needed() > 0:
            return 0.0
        return self._pause_length(None, streak)

    @staticmethod
    def _pause_length(retry_after: float | None, streak: int) -> float:
        """Retry-After when the server says; else 2 s, doubling up to 30 s."""
        if retry_after is not None:
            return retry_after
        return min(BACKOFF_429_CAP, BACKOFF_429_FIRST * 2.0 ** max(streak - 1, 0))

    def _pause_for_429(self, pause: float, call: Call) -> None:
        """Hold every request (this thread's next one included) after a 429."""
        for limiter in (self.limiter, self.critical if call.critical else None):
            if limiter is not None:
                limiter.pause(pause)
        self._rate_paused_until = max(self._rate_paused_until, self._clock() + pause)

    # ------------------------------------------------------------------ sending

    def headers(self) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self._credential.reveal()}"}
        if self.user_id is not None:
            headers["New-Api-User"] = str(int(self.user_id))
        return headers

    def send(self, call: Call) -> Reply:
        """One call with pacing and retries; the reply of its last attempt."""
        attempts_cap = call.max_attempts or self.retry.max_attempts
        deadline = self._clock() + self.retry.max_retry_time
        failures = 0  # attempts that failed (transport error, 5xx): bounded by the policy
        streak_429 = 0
        rate_wait = 0.0
        while True:
            slots = self._pace(call)
            try:
                reply = self._send_settled(call, slots)
            except httpx.TransportError as exc:
                failures += 1
                reason = _transport_reason(exc, self.timeout)
                if _ambiguous(exc) and not call.idempotent:
                    raise AmbiguousWriteError(
                        f"{reason} after the request was sent: the server may or may not have "
                        "made the change; re-list to find out (the client does not re-send it)",
                        method=call.method,
                        path=call.path,
                        timed_out=isinstance(exc, httpx.TimeoutException),
                        reason=reason,
                    ) from None
                error: NewApiError = ConnectionFailedError(
                    reason, method=call.method, path=call.path
                )
                if self._backoff(failures, attempts_cap, deadline):
                    continue
                raise error from None
            status = reply.status
            if status == 429:
                # Refused calls are not counted by the server: waiting and sending again is
                # safe even for a create (docs/server-contract.md#rate-limits).
                streak_429 += 1
                retry_after = parse_retry_after(reply.headers.get("Retry-After"), time.time())
                pause = self._after_429(call, slots, retry_after, streak_429)
                if rate_wait + pause > self.retry.max_rate_limit_wait:
                    raise RateLimitedError(
                        f"the server kept answering HTTP 429 (rate limited) for "
                        f"{describe_wait(rate_wait)}; try again later, or pace the client below "
                        "the server's limit with --rate-limit N/SECONDS",
                        retry_after=retry_after,
                        method=call.method,
                        path=call.path,
                    )
                rate_wait += pause
                if pause > 0:
                    self._pause_for_429(pause, call)
                continue
            streak_429 = 0
            if status >= 500:
                if not call.idempotent:
                    raise AmbiguousWriteError(
                        f"the server failed with HTTP {status} while handling the write: it may "
                        "or may not have made the change; re-list to find out (the client does "
                        "not re-send it)",
                        method=call.method,
                        path=call.path,
                    )
                failures += 1
                if status in (500, 502, 503, 504) and self._backoff(
                    failures, min(attempts_cap, self.retry.attempts_for(status)), deadline
                ):
                    continue
            return reply

    def _send_settled(self, call: Call, slots: list[tuple[SlidingWindowLimiter, Stamp]]) -> Reply:
        """Send once; the window slots count from when the answer came (or did not).

        A request refused with 429, or never sent, leaves the window: the server did not
        count it.
        """
        counted = False
        try:
            if self.before_send is not None:
                self.before_send(call)
            counted = True  # from here on it may reach the server
            reply = self._send_once(call)
            counted = reply.status not in (404, 429)  # neither passed the limiter
            return reply
        finally:
            for limiter, stamp in slots:
                limiter.settle(stamp, counted=counted)

    def _backoff(self, failures: int, max_attempts: int, deadline: float) -> bool:
        """Sleep before retrying a failed call; False when the attempts or the time are used up."""
        if failures >= max_attempts:
            return False
        delay = self.retry.backoff(failures)
        if self._clock() + delay > deadline:
            return False
        if delay > 0:
            self._sleep(delay)
        return True

    def _url(self, path: str) -> httpx.URL:
        url = self._urls.get(path)
        if url is None:
            url = httpx.URL(self.base_url + path)
            if len(self._urls) < 1024:  # ids make paths many: keep the first ones
                self._urls[path] = url
        return url

    def _send_once(self, call: Call) -> Reply:
        """Send once, following at most one same-origin redirect."""
        url: httpx.URL | str = self._url(call.path)
        content = None
        headers = self.headers()
        if call.json_body is not None:
            content = json.dumps(call.json_body, ensure_ascii=False).encode()
            headers["Content-Type"] = "application/json"
        params = call.params
        for hop in range(2):
            started = time.perf_counter()
            status = 0
            try:
                response = self._http.request(
                    call.method, url, params=params, content=content, headers=headers
                )
                response.read()
                status = response.status_code
            finally:
                with self._lock:
                    self.request_counts[call.route] += 1
                if self.on_request is not None:
                    self.on_request(call.method, call.route, status, time.perf_counter() - started)
            if status not in (301, 302, 303, 307, 308):
                break
            location = response.headers.get("Location", "")
            target = urljoin(str(response.url), location)
            if origin(target) != self._home:
                raise NotNewApiError(
                    f"the server redirected {call.method} {call.path} to another host "
                    f"({urlsplit(target).netloc or location[:80]}); the credential was not sent "
                    "there. Use that host's URL as the server URL if it is the right one",
                    method=call.method,
                    path=call.path,
                )
            if hop == 1:
                raise NotNewApiError(
                    f"the server redirected {call.method} {call.path} more than once",
                    method=call.method,
                    path=call.path,
                )
            url = target
            # Gin keeps the query in its Location; if a proxy drops it, keep ours: losing
            # ``status_only`` would turn a status change into a full-replacement PUT.
            params = None if urlsplit(target).query else call.params
        return Reply(status, response.headers, response.content, str(response.url))
