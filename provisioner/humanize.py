"""Durations, instants and counts for people: one wording everywhere.

Every instant shown to people is written by :func:`utc_time` (the sandbox, a separate
implementation of the server, keeps its own). Names that carry a day
(``NAME.old-YYYYMMDD``) are made and read in :mod:`provisioner.plan.ownership`.
"""

from __future__ import annotations

import time
from typing import Literal

TimeForm = Literal["iso", "day", "minute", "second", "clock"]
_TIME_FORMS: dict[TimeForm, str] = {
    "iso": "%Y-%m-%dT%H:%M:%SZ",  # plans' changes, JSON, export: 2027-01-15T08:00:00Z
    "day": "%Y-%m-%d",  # list's expiry column, a date in a comment: 2027-01-15
    "minute": "%Y-%m-%d %H:%M UTC",  # tables and messages: 2027-01-15 08:00 UTC
    "second": "%Y-%m-%d %H:%M:%S UTC",  # the account lock's lease: 2027-01-15 08:00:05 UTC
    "clock": "%H:%M:%S UTC",  # a time later today: 08:00:05 UTC
}


def utc_time(epoch: float, form: TimeForm = "minute") -> str:
    """The instant ``epoch`` (unix seconds) in UTC, in the ``form`` its place uses."""
    return time.strftime(_TIME_FORMS[form], time.gmtime(epoch))


def human_span(seconds: int) -> str:
    """``45 seconds``, ``5 minutes``, ``3 hours``, ``12 days`` (``1 day``, not ``1 days``)."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        text = f"{seconds} seconds"
    elif seconds < 3600:
        text = f"{seconds // 60} minutes"
    elif seconds < 172800:
        text = f"{seconds // 3600} hours"
    else:
        text = f"{seconds // 86400} days"
    return text[:-1] if text.startswith("1 ") else text


def ago(seconds: int) -> str:
    """An instant ``seconds`` in the past: ``3 days ago``; ``just now`` under a second (and for
    a time a little ahead of ours: a server's clock is not ours, and the past stays past)."""
    return "just now" if seconds < 1 else f"{human_span(seconds)} ago"


def relative(epoch: int, now: int) -> str:
    """``in 12 days`` / ``3 days ago`` / ``now``."""
    if epoch == now:
        return "now"
    span = human_span(abs(epoch - now))
    return f"in {span}" if epoch > now else f"{span} ago"


def plural(count: int, word: str, many: str | None = None) -> str:
    """``1 token``, ``2 tokens``, ``0 tokens``; ``many`` for an irregular plural."""
    return f"{count} {word if count == 1 else many or word + 's'}"
