"""Durations and instants for people: one wording everywhere."""

from __future__ import annotations


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


def relative(epoch: int, now: int) -> str:
    """``in 12 days`` / ``3 days ago``."""
    span = human_span(abs(epoch - now))
    return f"in {span}" if epoch >= now else f"{span} ago"
