"""Shared checks for the fault tests: secrets in output, report lines, request targeting,
and the sandbox's traffic (requests held or still on their way)."""

from __future__ import annotations

import re
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from provisioner.sandbox import Sandbox
from provisioner.sandbox.faults import Fault, Triggered
from provisioner.sandbox.wire import Request, Response

# Small retry budget: real sleeps stay in milliseconds (docs/robustness.md).
FAST_RETRY = "attempts=3,base=0.01,cap=0.05,max_time=1.5,rate_wait=2"

REPORT_LINE = re.compile(r"^\s+(?P<mark>[✓✗·-]) (?P<kind>\w+)\s+(?P<name>[^\s:]+)", re.M)


def report_lines(text: str) -> list[tuple[str, str, str]]:
    """(mark, kind, name) for every operation line of a text apply report (after the plan)."""
    report = text.rpartition("\nPlan: ")[2]
    return [(m["mark"], m["kind"], m["name"]) for m in REPORT_LINE.finditer(report)]


def assert_no_secrets(sandbox: Sandbox, *texts: str) -> None:
    """No full key (any row, deleted ones included) and not the credential in any output."""
    secrets = [r["key"] for r in sandbox.rows(include_deleted=True) if r.get("key")]
    secrets.append(sandbox.credential)
    for text in texts:
        for secret in secrets:
            assert secret not in text, "a full key or the credential leaked into the output"
        assert "Traceback" not in text and "internal error" not in text, text


class Traffic:
    """The sandbox's requests between their arrival and its state, watched from the test.

    A client that gives up on a slow answer does not stop the server: the write lands
    later. :meth:`landed` waits for that event (every request that will reach the state
    has), where a rerun used to sleep. :meth:`hold` keeps chosen requests from the state
    until :meth:`release`, and :meth:`wait_held` waits until one is held, so a test can act
    while a request is surely in flight. Start watching before the requests are sent.
    The timeouts only bound a broken run; nothing waits for them to pass.
    """

    def __init__(self, sandbox: Sandbox, timeout: float = 60.0) -> None:
        self.timeout = timeout
        self._cond = threading.Condition()
        self._coming = 0  # arrived, not answered (or dropped) yet
        self._held = 0
        self._hold: Callable[[Request], bool] | None = None
        self._passed = 0  # matching requests let through before holding starts
        self._after = 0
        # Every request is decided on (faults) when it arrives, and recorded in the
        # request log when it is answered or dropped, after its effect is in the state.
        decide, handle, record = sandbox.faults.decide, sandbox.handle, sandbox._record

        def counted_decide(method: str, path: str, pattern: str | None) -> Triggered:
            with self._cond:
                self._coming += 1
            return decide(method, path, pattern)

        def gated_handle(request: Request) -> Response:
            with self._cond:
                if self._hold is not None and self._hold(request):
                    if self._passed < self._after:
                        self._passed += 1
                    else:
                        self._held += 1
                        self._cond.notify_all()
                        self._cond.wait_for(lambda: self._hold is None, self.timeout)
                        self._held -= 1
            return handle(request)

        def counted_record(request: Request, status: int) -> None:
            record(request, status)
            with self._cond:
                self._coming -= 1
                self._cond.notify_all()

        sandbox.faults.decide = counted_decide  # type: ignore[method-assign]
        sandbox.handle = gated_handle  # type: ignore[method-assign]
        sandbox._record = counted_record  # type: ignore[method-assign]

    def hold(self, match: Callable[[Request], bool], *, after: int = 0) -> None:
        """Hold matching requests before they reach the state, once ``after`` went through."""
        with self._cond:
            self._hold, self._after, self._passed = match, after, 0

    def wait_held(self, proc: subprocess.Popen[str] | None = None, *, count: int = 1) -> None:
        """Wait until ``count`` requests are held (or ``proc``, the client, has ended: it
        says why)."""
        if proc is not None:

            def watch() -> None:
                proc.wait()
                with self._cond:
                    self._cond.notify_all()

            threading.Thread(target=watch, daemon=True).start()
        ended = (lambda: proc.poll() is not None) if proc is not None else (lambda: False)
        with self._cond:
            self._cond.wait_for(lambda: self._held >= count or ended(), self.timeout)
            if self._held >= count:
                return
        if proc is not None and ended():
            out, err = proc.communicate()
            raise AssertionError(f"the client ended before a request was held:\n{out}{err}")
        raise AssertionError(f"no request held within {self.timeout:g} s")

    def release(self) -> None:
        with self._cond:
            self._hold = None
            self._cond.notify_all()

    def landed(self) -> None:
        """Wait until every request that arrived is answered or dropped (held ones released
        first): its effect is in the state and it is in ``sandbox.requests``."""
        self.release()
        with self._cond:
            assert self._cond.wait_for(lambda: self._coming == 0, self.timeout), (
                f"{self._coming} request(s) still unanswered"
            )


@dataclass
class NthFault(Fault):
    """A fault that lets the first ``skip`` matching requests through (e.g. hit list page 2)."""

    skip: int = 0
    _seen: int = field(default=0, repr=False)

    def matches(self, method: str, path: str, pattern: str | None) -> bool:
        if not super().matches(method, path, pattern):
            return False
        self._seen += 1
        return self._seen > self.skip


def writes(requests: list[tuple[str, str, int]]) -> list[tuple[str, str, int]]:
    return [r for r in requests if r[0] in ("POST", "PUT", "DELETE", "PATCH")]


def state(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {r["id"]: {k: v for k, v in r.items() if k != "accessed_time"} for r in rows}
