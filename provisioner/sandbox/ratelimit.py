"""Sliding-window rate limiters: in-memory timestamps, rejected calls not counted.

Each generation's default limits are in profiles.py.
"""

from __future__ import annotations

import math
import threading
from collections import deque


class SlidingWindow:
    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, now: float) -> int | None:
        """Count a request; returns None if allowed, else the Retry-After seconds."""
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return max(1, math.ceil(hits[0] + self.window - now))
            hits.append(now)
            return None
