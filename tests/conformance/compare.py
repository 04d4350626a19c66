"""Replay record.py's script against the sandbox and compare it with the recordings.

    python -m tests.conformance.compare [PROFILE ...]

For each profile (default: every recorded one) it starts the sandbox in-process
on loopback, plays the script exactly as it was played against the real server,
then compares exchange by exchange and prints matched/total and a short diff of
every step that differs. Exit status 1 when a profile matches less than 95%.
README.md says what is compared and which exchanges cannot match.
"""

from __future__ import annotations

import difflib
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provisioner.sandbox import Sandbox
from provisioner.sandbox.profiles import RECORDED
from provisioner.sandbox.profiles import get as get_profile
from tests.conformance import record

RECORDINGS = Path(__file__).resolve().parent / "recordings"
# These describe the test server's own setup (version, groups): the status only counts.
STATUS_ONLY = frozenset({"status", "user self", "user groups", "auto groups"})
THRESHOLD = 0.95


@dataclass(frozen=True)
class Difference:
    step: str
    recorded: dict[str, Any] | None
    replayed: dict[str, Any] | None

    def diff(self, limit: int = 12) -> list[str]:
        """A few lines of unified diff, recorded (-) against sandbox (+)."""
        old = _lines(self.recorded)
        new = _lines(self.replayed)
        lines = [
            line
            for line in difflib.unified_diff(old, new, "recorded", "sandbox", n=0, lineterm="")
            if not line.startswith(("---", "+++", "@@"))
        ]
        return lines[:limit] + (
            [f"... {len(lines) - limit} more lines"] if len(lines) > limit else []
        )


@dataclass
class Outcome:
    profile: str
    total: int = 0
    matched: int = 0
    differences: list[Difference] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return self.matched / self.total if self.total else 0.0

    def report(self) -> str:
        lines = [f"{self.profile}: {self.matched}/{self.total} matched ({self.ratio:.1%})"]
        for difference in self.differences:
            lines.append(f"  differs: {difference.step}")
            lines += [f"    {line}" for line in difference.diff()]
        return "\n".join(lines)


def recording(profile: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((RECORDINGS / f"{profile}.json").read_text("utf-8"))
    return data


def replay(profile: str, *, header_auth: bool, redis: bool | None = None) -> list[dict[str, Any]]:
    """The script's exchanges against a fresh sandbox answering as ``profile``.

    Rate limits off and no neighbour, as the recorded servers had one user; Redis
    as the recorded server had it (``redis`` says otherwise, for a profile compared with
    another generation's recording). The recorded servers had history: play the
    script once unrecorded first, so that token ids do not start at 1 (README.md).
    """
    chosen = get_profile(profile)
    sandbox = Sandbox(
        ":memory:",
        profile=chosen,
        neighbour=False,
        channels=(),
        redis=chosen.recorded_with_redis if redis is None else redis,
    ).start()
    try:
        user_id = str(sandbox.user_id) if header_auth else None
        record.run(record.Recorder(sandbox.url, sandbox.credential, user_id))
        record.T0 = sandbox.now()  # times are recorded as offsets from the run's start
        recorder = record.Recorder(sandbox.url, sandbox.credential, user_id)
        record.run(recorder)
        return recorder.exchanges
    finally:
        sandbox.stop()


def compare(
    profile: str, recorded: Sequence[dict[str, Any]], replayed: Sequence[dict[str, Any]]
) -> Outcome:
    """Step by step: the status for STATUS_ONLY steps, else request and whole response."""
    outcome = Outcome(profile)
    by_step = {exchange["step"]: exchange for exchange in replayed}
    for exchange in recorded:
        outcome.total += 1
        step = exchange["step"]
        mine = by_step.pop(step, None)
        if mine is not None and _same(step, exchange, mine):
            outcome.matched += 1
        else:
            outcome.differences.append(Difference(step, exchange, mine))
    for step, extra in by_step.items():  # a step the recording does not have
        outcome.total += 1
        outcome.differences.append(Difference(step, None, extra))
    return outcome


def run(profile: str) -> Outcome:
    recorded = recording(profile)
    replayed = replay(profile, header_auth=bool(recorded["header_auth"]))
    return compare(profile, recorded["exchanges"], replayed)


def _same(step: str, recorded: dict[str, Any], replayed: dict[str, Any]) -> bool:
    if step in STATUS_ONLY:
        return bool(recorded["response"]["status"] == replayed["response"]["status"])
    return _canonical(recorded) == _canonical(replayed)


def _canonical(exchange: dict[str, Any]) -> str:
    """Request and response as JSON text, keeping the order of object fields."""
    response = {
        k: exchange["response"][k]
        for k in ("status", "content_type", "retry_after", "body")
        if k in exchange["response"]
    }
    return json.dumps({"request": exchange["request"], "response": response}, ensure_ascii=False)


def _lines(exchange: dict[str, Any] | None) -> list[str]:
    if exchange is None:
        return ["(no such step)"]
    return json.dumps(exchange, ensure_ascii=False, indent=1).splitlines()


def main(argv: Sequence[str] | None = None) -> int:
    names = list(argv if argv is not None else sys.argv[1:]) or list(RECORDED)
    unknown = [name for name in names if name not in RECORDED]
    if unknown:
        print(
            f"no recording for {', '.join(unknown)}; recorded: {', '.join(RECORDED)}",
            file=sys.stderr,
        )
        return 64
    below = 0
    for name in names:
        outcome = run(name)
        print(outcome.report(), flush=True)
        below += outcome.ratio < THRESHOLD
    return 1 if below else 0


if __name__ == "__main__":
    sys.exit(main())
