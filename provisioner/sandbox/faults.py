"""Fault injection: 5xx, 429, connection drops and latency on chosen routes.

A route is ``"METHOD PATH"`` (PATH may use ``:id``, matching the routed
pattern, or a literal path), ``"* PATH"`` for any method, or ``"*"`` for
everything. The CLI spelling is ``ROUTE=ACTION`` (see :func:`parse_fault`).
"""

from __future__ import annotations

import random
import re
import threading
from dataclasses import dataclass, field

STATUSES = (500, 502, 503, 429)
#: ``busy``: what new-api answers when its SQLite database is busy with another writer
BUSY_MESSAGE = "database is locked (5) (SQLITE_BUSY)"
METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "*")

_ACTION = re.compile(
    r"^(?:(?P<status>500|502|503|429)(?::(?P<retry>\d+))?"
    r"|drop-(?P<drop>before|after)"
    r"|(?P<busy>busy)"
    r"|latency:(?P<latency>\d+(?:\.\d+)?))"
    r"(?:x(?P<times>\d+))?"
    r"(?:@(?P<fraction>\d*\.?\d+))?$"
)


class FaultSpecError(ValueError):
    """A fault that cannot be understood."""


@dataclass
class Fault:
    route: str = "*"
    status: int | None = None
    times: int | None = None
    fraction: float | None = None
    drop: str | None = None
    latency: float = 0.0
    retry_after: int | None = None
    message: str | None = None  # answer HTTP 200 success:false with it, not executed
    gate: threading.Event | None = None  # hold the request until it is set (tests)

    def __post_init__(self) -> None:
        self.route = normalize_route(self.route)
        if self.status is not None and self.status not in STATUSES:
            raise FaultSpecError(f"fault status must be one of {STATUSES}, not {self.status}")
        if self.drop not in (None, "before", "after"):
            raise FaultSpecError(f"drop must be 'before' or 'after', not {self.drop!r}")
        if self.fraction is not None and not 0.0 <= self.fraction <= 1.0:
            raise FaultSpecError(f"fraction must be within 0..1, not {self.fraction}")
        if self.times is not None and self.times < 0:
            raise FaultSpecError("times must be >= 0")
        if self.latency < 0:
            raise FaultSpecError("latency must be >= 0")

    def matches(self, method: str, path: str, pattern: str | None) -> bool:
        if self.route == "*":
            return True
        want_method, _, want_path = self.route.partition(" ")
        if want_method not in ("*", method):
            return False
        return want_path == path or (pattern is not None and want_path == pattern)


def normalize_route(route: str) -> str:
    route = " ".join(route.split())
    if route == "*":
        return route
    method, _, path = route.partition(" ")
    method = method.upper()
    if method not in METHODS or not path.startswith("/"):
        raise FaultSpecError(
            f"bad fault route {route!r}: expected 'METHOD /path' (e.g. 'POST /api/token/') or '*'"
        )
    return f"{method} {path}"


def parse_fault(spec: str) -> Fault:
    """Parse ``ROUTE=ACTION``.

    ACTION is ``500|502|503|429[:RETRY_AFTER]``, ``drop-before``, ``drop-after`` or
    ``latency:SECONDS`` or ``busy`` (HTTP 200 ``success: false``, "database is locked"),
    optionally followed by ``xN`` (next N matching requests)
    and/or ``@F`` (a random fraction F of them). Examples: ``POST /api/token/=500x2``,
    ``GET /api/token/=503@0.1``, ``PUT /api/token/=drop-after``, ``*=latency:0.5``,
    ``POST /api/token/:id/key=429:30``.
    """
    route, sep, action = spec.rpartition("=")
    if not sep or not route.strip():
        raise FaultSpecError(
            f"bad fault {spec!r}: expected ROUTE=ACTION, e.g. 'POST /api/token/=500x2'"
        )
    match = _ACTION.match(action.strip())
    if match is None:
        raise FaultSpecError(
            f"bad fault action {action!r} in {spec!r}: expected 500|502|503|429[:SECONDS], "
            "drop-before, drop-after, busy or latency:SECONDS, optionally with xN and @FRACTION"
        )
    return Fault(
        route=route,
        status=int(match["status"]) if match["status"] else None,
        retry_after=int(match["retry"]) if match["retry"] else None,
        drop=match["drop"],
        message=BUSY_MESSAGE if match["busy"] else None,
        latency=float(match["latency"]) if match["latency"] else 0.0,
        times=int(match["times"]) if match["times"] else None,
        fraction=float(match["fraction"]) if match["fraction"] else None,
    )


@dataclass
class Triggered:
    """What the faults decided for one request."""

    latency: float = 0.0
    status: int | None = None
    retry_after: int | None = None
    drop: str | None = None
    message: str | None = None
    gates: list[threading.Event] = field(default_factory=list)

    @property
    def decided(self) -> bool:
        return self.status is not None or self.drop is not None or self.message is not None


class FaultSet:
    def __init__(self, seed: int | None = 0) -> None:
        self._faults: list[Fault] = []
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def decide(self, method: str, path: str, pattern: str | None) -> Triggered:
        outcome = Triggered()
        with self._lock:
            for fault in self._faults:
                if fault.times == 0 or not fault.matches(method, path, pattern):
                    continue
                decisive = fault.drop is not None or fault.status is not None or fault.message
                if decisive and outcome.decided:
                    continue  # an earlier fault already decided; this one waits its turn
                if fault.fraction is not None and self._rng.random() >= fault.fraction:
                    continue
                if fault.times is not None:
                    fault.times -= 1
                outcome.latency += fault.latency
                if fault.gate is not None:
                    outcome.gates.append(fault.gate)
                if not outcome.decided:
                    if fault.drop:
                        outcome.drop = fault.drop
                    elif fault.status is not None:
                        outcome.status = fault.status
                        outcome.retry_after = fault.retry_after
                    elif fault.message is not None:
                        outcome.message = fault.message
            self._faults = [f for f in self._faults if f.times != 0]
        return outcome
