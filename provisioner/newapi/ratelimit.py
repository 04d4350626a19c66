"""Client-side pacing modelled on the server's sliding-window limiters.

docs/server-contract.md#rate-limits describes the server's side.

The server keeps, per IP, the timestamps of the last N accepted requests and
refuses one when the N-th newest is younger than the window. Mirroring that
lets a burst of up to N requests through at full speed (small runs are not
slowed) and spaces out only what would have been refused.

A client not told the limit *learns* it: its limiter starts with no limit and
only records when requests went out; the first HTTP 429 says the window is
full, so the requests the server accepted within the window are the limit
(:meth:`SlidingWindowLimiter.learn`). From then on it paces like a told one.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Final, Literal

if TYPE_CHECKING:
    from provisioner.observed import ServerInfo

LEARN: Final = "learn"
"""The pace when not told the limit: full speed until a 429, then the learned limit."""

RateSetting = tuple[int, float] | Literal["learn"] | None
"""A told limit (N per SECONDS), ``LEARN``, or None (no pacing; 429s are still honoured)."""

#: every recorded generation's global limit counts over 180 s (docs/servers.md)
GENERATION_WINDOW = 180.0
#: slots of a limit kept for urgent calls (the account lock's renewal): bulk calls leave them
URGENT_RESERVE = 2


def generation_limit(info: ServerInfo | None) -> tuple[int, float]:
    """The default global limit of the generation the probe learned (docs/servers.md).

    one-api 480 per 180 s; new-api 360 since 2026-06-10 (2026-08 and later are told
    apart by their auto groups), 180 before. Where the generation is unsure, the
    lower one: what the server let through before its 429 is the better evidence.
    """
    if info is None:
        return 180, GENERATION_WINDOW
    if info.oneapi_fields:
        return 480, GENERATION_WINDOW
    if info.auto_groups:
        return 360, GENERATION_WINDOW
    return 180, GENERATION_WINDOW


def describe_wait(seconds: float) -> str:
    """``75.2`` -> ``"1 min 16 s"``: for messages a person reads."""
    total = int(seconds + 0.999)
    minutes, secs = divmod(total, 60)
    if minutes:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    return f"{secs} s"


class Stamp:
    """One request in the window: when it went out, and when it counts."""

    __slots__ = ("at", "early", "open", "paced", "sent")

    def __init__(self, now: float, paced: bool) -> None:
        self.sent = now
        self.at = now  # moves to when the answer came (settle)
        self.open = True  # no answer yet
        self.paced = paced  # sent under a known limit (a 429 on it is a surprise)
        self.early = False  # in flight when the limit was learned


class SlidingWindowLimiter:
    """At most ``limit`` requests in any ``window`` seconds, plus pauses asked by the server.

    ``limit=None`` paces nothing and records, until :meth:`learn` sets the limit.
    """

    def __init__(
        self,
        limit: int | None,
        window: float,
        *,
        name: str = "requests",
        reserve: int = 0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if (limit is not None and limit < 1) or window <= 0:
            raise ValueError("a rate limit needs limit >= 1 and window > 0")
        self.limit = limit
        self.window = window
        self.reserve = reserve
        self.name = name
        self._clock = clock
        self._sleep = sleep
        self._stamps: deque[Stamp] = deque()
        self._paused_until = 0.0
        self._lock = threading.Lock()  # list pages and creates go a few threads at a time
        self._answered = threading.Condition(self._lock)
        self._early = 0  # requests in flight when the limit was learned, not answered yet
        self.early_wait = 2.0  # at most this long for their answers (they come in moments)

    @property
    def margin(self) -> float:
        # The server stamps a request when it arrives, between our send and its answer: a
        # request's stamp moves to when its answer came (settle), and a hair more than the
        # window is waited, so the two windows never overlap.
        return 0.05 + 0.005 * self.window

    @property
    def learning(self) -> bool:
        """True while the limit is not known (the limiter only records)."""
        return self.limit is None

    def _expire(self, now: float) -> None:
        stamps, edge = self._stamps, now - self.window
        while stamps and stamps[0].at <= edge and not stamps[0].open:
            stamps.popleft()

    def wait_needed(self, *, urgent: bool = False) -> float:
        """Seconds until one more request would be allowed (0 when it is now)."""
        now = self._clock()
        self._expire(now)
        wait = max(0.0, self._paused_until - now)
        if self.limit is None:
            return wait
        cap = self.limit
        if not urgent and self.limit >= 10 * self.reserve:
            cap -= self.reserve
        edge = now - self.window
        times = [s.at for s in self._stamps if s.open or s.at > edge]
        if len(times) >= cap:
            # answers come back in any order, so settled stamps may be out of order: the
            # (len - cap + 1)-th earliest must leave the window before one more may go
            times.sort()
            oldest_that_counts = times[len(times) - cap]
            wait = max(wait, oldest_that_counts + self.window + self.margin - now)
        return wait

    def acquire(self, *, urgent: bool = False) -> Stamp:
        """Take a slot, sleeping as long as the window needs; the slot's stamp (for settle).

        Pacing never fails: the window always frees a slot in at most ``window`` seconds
        (plus any pause a 429 asked for). Urgent calls may use the last few slots that
        bulk calls leave free. The sleep happens outside the lock, so answers settle
        meanwhile.
        """
        while True:
            with self._lock:
                if self._early:  # the limit is being counted: take it once it is known
                    self._answered.wait_for(lambda: not self._early, self.early_wait)
                wait = self.wait_needed(urgent=urgent)
                if wait <= 0:
                    stamp = Stamp(self._clock(), paced=self.limit is not None)
                    self._stamps.append(stamp)
                    return stamp
            self._sleep(wait)

    def settle(self, stamp: Stamp, *, counted: bool = True) -> None:
        """The request's answer came: the server counted it by now at the latest.

        ``counted=False``: the server refused it with 429, and refused requests are not
        counted (docs/server-contract.md#rate-limits): it leaves the window.
        """
        with self._lock:
            was_open, stamp.open = stamp.open, False
            if stamp.early and was_open:
                self._early -= 1
                self._answered.notify_all()
            if not counted:
                with contextlib.suppress(ValueError):  # already gone
                    self._stamps.remove(stamp)
                return
            stamp.at = max(stamp.at, self._clock())
            if stamp.early and was_open and self.limit is not None:
                self.limit += 1  # accepted, so it was in the window the 429 found full

    def learn(self, expected: tuple[int, float], retry_after: float | None) -> tuple[int, float]:
        """The window is full (a 429 came): take what it holds as the limit; (limit, window).

        The first time, the limit is the requests the server accepted within the window
        (those still in flight count once answered), and the window is the generation's
        (``expected``), or, when the server said Retry-After, from the oldest of them to
        when the server will take one more. Nothing in the window (another client used
        it up): the generation's limit. Later, a 429 despite pacing (others share the
        address) lowers the limit to what the window holds.
        """
        with self._lock:
            now = self._clock()
            edge = now - (expected[1] if self.limit is None else self.window)
            # by when they left: one that arrived before the window's edge and was answered
            # after it is not in the server's window
            counted = [s for s in self._stamps if not s.open and s.sent > edge]
            if self.limit is not None:
                self.limit = max(1, min(self.limit, len(counted) or self.limit))
                return self.limit, self.window
            window = expected[1]
            if counted and retry_after is not None:
                # Retry-After is the whole seconds until the oldest leaves (rounded up), and
                # the server's window is whole seconds: from our oldest to then, rounded down
                oldest = min(s.sent for s in counted)
                span = math.floor(now + retry_after - oldest)
                window = min(max(span, math.ceil(retry_after), 1), 24 * 3600)
            for stamp in self._stamps:
                stamp.early = stamp.open
            self._early = sum(1 for stamp in self._stamps if stamp.early)
            self.window = window
            self.limit = len(counted) or expected[0]
            return self.limit, self.window

    def await_early(self) -> tuple[int, float]:
        """Wait (at most ``early_wait``) for the requests in flight when the limit was
        learned to be answered, so the limit counts those the server accepted; (limit,
        window)."""
        with self._answered:
            self._answered.wait_for(lambda: not self._early, self.early_wait)
            assert self.limit is not None
            return self.limit, self.window

    def pause(self, seconds: float) -> None:
        """The server said 429 + Retry-After: hold every request for that long."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + max(0.0, seconds))
