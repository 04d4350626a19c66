"""Retry policy: jittered exponential backoff bounded in attempts and time.

docs/server-contract.md#rate-limits.

Pure arithmetic; the client owns the loop, the clock and the sleep.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

#: Statuses worth retrying for an idempotent call. 500 is a panic or a DB error
#: (docs/server-contract.md#envelope-and-errors): retried, but fewer times
#: (see ``RetryPolicy.max_500_attempts``).
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass
class RetryPolicy:
    """Full-jitter exponential backoff: ``uniform(0, min(cap, base * factor**n))``."""

    max_attempts: int = 5
    max_retry_time: float = 60.0
    base: float = 0.5
    factor: float = 2.0
    cap: float = 10.0
    max_500_attempts: int = 3
    # Waiting for the rate limit (HTTP 429) is not a failure and has its own, longer bound.
    max_rate_limit_wait: float = 1800.0
    # The window a 429 without Retry-After is read against when the client learns the
    # limit; 0: the server generation's (180 s on every recorded one).
    rate_window: float = 0.0
    rng: Callable[[float, float], float] = field(default=random.uniform)

    def backoff(self, attempt: int) -> float:
        """The wait before attempt ``attempt + 1`` (``attempt`` counts from 1)."""
        ceiling = min(self.cap, self.base * self.factor ** max(attempt - 1, 0))
        return max(0.0, self.rng(0.0, ceiling))

    def attempts_for(self, status: int) -> int:
        if status == 500:
            return min(self.max_attempts, self.max_500_attempts)
        return self.max_attempts


def parse_retry_after(value: str | None, now_epoch: float) -> float | None:
    """``Retry-After`` as seconds to wait: delta-seconds or an HTTP date; None if absent or bad."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - now_epoch
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)
