"""Shared checks for the fault tests: secrets in output, report lines, request targeting."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

from provisioner.sandbox import Sandbox
from provisioner.sandbox.faults import Fault

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


def wait_idle(sandbox: Sandbox, started: float, latency: float) -> None:
    """Let requests still sleeping through an injected latency land (the rerun comes later).

    The client gave up on them, but the server still handles them: a write commits late.
    """
    left = started + latency + 0.15 - time.monotonic()
    if latency and left > 0:
        time.sleep(left)


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
