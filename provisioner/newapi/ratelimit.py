"""Client-side pacing modelled on the server's sliding-window limiters.

docs/server-contract.md#rate-limits describes the server's side.

The server keeps, per IP, the timestamps of the last N accepted requests and
refuses one when the N-th newest is younger than the window. Mirroring that
lets a burst of up to N requests through at full speed (small runs are not
slowed) and spaces out only what would have been refused.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


def describe_wait(seconds: float) -> str:
    """``75.2`` -> ``"1 min 16 s"``: for messages a person reads."""
    total = int(seconds + 0.999)
    minutes, secs = divmod(total, 60)
    if minutes:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    return f"{secs} s"


Stamp = list[float]
"""When a request counts in the window: its send time, then when its answer came."""


class SlidingWindowLimiter:
    """At most ``limit`` requests in any ``window`` seconds, plus pauses asked by the server."""

    def __init__(
        self,
        limit: int,
        window: float,
        *,
        name: str = "requests",
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("a rate limit needs limit >= 1 and window > 0")
        self.limit = limit
        self.window = window
        # The server stamps a request when it arrives, between our send and its answer: a
        # request's stamp moves to when its answer came (settle), and a hair more than the
        # window is waited, so the two windows never overlap.
        self.margin = 0.05 + 0.005 * window
        self.name = name
        self._clock = clock
        self._sleep = sleep
        self._stamps: deque[Stamp] = deque()
        self._paused_until = 0.0
        self._lock = threading.Lock()  # list pages may be fetched from a few threads

    def _expire(self, now: float) -> None:
        while self._stamps and self._stamps[0][0] <= now - self.window:
            self._stamps.popleft()

    def wait_needed(self) -> float:
        """Seconds until one more request would be allowed (0 when it is now)."""
        now = self._clock()
        self._expire(now)
        wait = max(0.0, self._paused_until - now)
        if len(self._stamps) >= self.limit:
            # answers come back in any order, so settled stamps may be out of order: the
            # (len - limit + 1)-th earliest must leave the window before one more may go
            times = sorted(stamp[0] for stamp in self._stamps)
            oldest_that_counts = times[len(times) - self.limit]
            wait = max(wait, oldest_that_counts + self.window + self.margin - now)
        return wait

    def acquire(self) -> Stamp:
        """Take a slot, sleeping as long as the window needs; the slot's stamp (for settle).

        Pacing never fails: the window always frees a slot in at most ``window`` seconds
        (plus any pause a 429 asked for).
        """
        with self._lock:
            while True:
                wait = self.wait_needed()
                if wait <= 0:
                    stamp: Stamp = [self._clock()]
                    self._stamps.append(stamp)
                    return stamp
                self._sleep(wait)

    def settle(self, stamp: Stamp) -> None:
        """The request's answer came: the server counted it by now at the latest."""
        with self._lock:
            stamp[0] = max(stamp[0], self._clock())

    def pause(self, seconds: float) -> None:
        """The server said 429 + Retry-After: hold every request for that long."""
        self._paused_until = max(self._paused_until, self._clock() + max(0.0, seconds))
