"""Durations, instants and counts for people: one wording everywhere."""

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
