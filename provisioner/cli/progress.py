"""Progress on stderr: a live line on a terminal, and a line every 15 s in CI.

A long apply must never look hung: off a terminal (CI logs) a line comes at
least every ``interval`` seconds, like Terraform's "Still creating...": the
phase, done/total, the time elapsed, and any wait for the server's rate limit
with the time it has left. Waits are announced as they start when they are long.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

from provisioner.newapi.ratelimit import describe_wait

INTERVAL = 15.0  # seconds between lines off a terminal
ANNOUNCE_WAIT = 1.0  # off a terminal, a wait this long gets a line (one per interval at most)


class ProgressBoard:
    """Receives the executor's phases and the transport's waits; shows them."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        tty: bool | None = None,
        quiet: bool = False,
        interval: float = INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.quiet = quiet
        self.interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._phase = ""
        self._total = 0
        self._done = 0
        self._started = 0.0
        self._wait_until = 0.0
        self._wait_why = ""
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._live = False  # a live line is on the terminal
        self._label = ""
        self._announced = float("-inf")  # when a wait was last announced

    # -- what the executor and the transport call --

    def phase(self, name: str, total: int) -> None:
        with self._lock:
            self._phase, self._total, self._done = name, total, 0
            if not self._started:
                self._started = self._clock()
            self._start_ticker()
            self._show()

    def advance(self, label: str) -> None:
        with self._lock:
            self._done += 1
            self._label = label
            self._show()

    def waiting(self, seconds: float, why: str) -> None:
        with self._lock:
            self._wait_until = self._clock() + seconds
            self._wait_why = why
            if self.quiet:
                return
            now = self._clock()
            if self.tty:
                self._show()
            elif seconds >= ANNOUNCE_WAIT and now - self._announced >= self.interval:
                # Pacing waits about a second per request once a window is full: say so once
                # per interval, not per request.
                self._announced = now
                self._print(f"Waiting {describe_wait(seconds)} for {why}...")

    def note(self, message: str) -> None:
        """A line to read once (the server's rate limit was learned), above any live line."""
        with self._lock:
            if not self.quiet:
                self._print(message)
                self._show()

    def close(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=2)
        with self._lock:
            if self._live:
                self.stream.write("\r\x1b[2K")
                self.stream.flush()
                self._live = False

    # -- showing --

    def status(self) -> str:
        """One line: the phase, done/total, any wait, the time elapsed."""
        now = self._clock()
        text = f"{self._phase.capitalize() or 'Working'}: {self._done}/{self._total}"
        left = self._wait_until - now
        if left > 0.5:
            text += f", waiting for {self._wait_why} ({describe_wait(left)} left)"
        if self._started:
            text += f" [{int(now - self._started)}s elapsed]"
        return text

    def _live_line(self) -> str:
        return self.status() + (f" {self._label}" if self._label else "")

    def _show(self) -> None:
        if self.quiet or not self.tty or not self._phase:
            return
        self.stream.write("\r\x1b[2K" + self._live_line()[:200])
        self.stream.flush()
        self._live = True

    def _print(self, line: str) -> None:
        if self._live:
            self.stream.write("\r\x1b[2K")
            self._live = False
        self.stream.write(line + "\n")
        self.stream.flush()

    def _start_ticker(self) -> None:
        if self.quiet or self._ticker is not None:
            return
        self._ticker = threading.Thread(target=self._tick, name="progress", daemon=True)
        self._ticker.start()

    def _tick(self) -> None:
        period = 1.0 if self.tty else self.interval
        while not self._stop.wait(period):
            with self._lock:
                if self.tty:
                    self._show()
                else:
                    self._print(f"Still {self._phase or 'working'}... {self.status()}")
