"""Durations, instants and counts for people (provisioner/humanize.py)."""

from __future__ import annotations

import pytest

from provisioner.humanize import ago, human_span, plural, relative, utc_time

NOW = 1_800_000_000


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(0, "0 seconds"), (1, "1 second"), (59, "59 seconds"), (60, "1 minute"),
     (3600, "1 hour"), (7200, "2 hours"), (86400, "24 hours"), (172800, "2 days"),
     (-5, "0 seconds")],
)  # fmt: skip
def test_human_span(seconds: int, words: str) -> None:
    assert human_span(seconds) == words


@pytest.mark.parametrize(
    ("epoch", "words"),
    [(NOW, "now"), (NOW + 1, "in 1 second"), (NOW - 1, "1 second ago"),
     (NOW + 3 * 86400, "in 3 days"), (NOW - 3 * 86400, "3 days ago")],
)  # fmt: skip
def test_relative_never_says_in_0_seconds(epoch: int, words: str) -> None:
    assert relative(epoch, NOW) == words


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(0, "just now"), (-30, "just now"), (1, "1 second ago"), (90, "1 minute ago"),
     (5 * 86400, "5 days ago")],
)  # fmt: skip
def test_ago_is_always_the_past(seconds: int, words: str) -> None:
    assert ago(seconds) == words


@pytest.mark.parametrize(
    ("count", "word", "many", "words"),
    [(0, "token", None, "0 tokens"), (1, "token", None, "1 token"), (2, "token", None, "2 tokens"),
     (1, "model", None, "1 model"), (3, "copy", "copies", "3 copies")],
)  # fmt: skip
def test_plural(count: int, word: str, many: str | None, words: str) -> None:
    assert plural(count, word, many) == words


@pytest.mark.parametrize(
    ("form", "words"),
    [("iso", "2027-01-15T08:00:05Z"), ("day", "2027-01-15"), ("minute", "2027-01-15 08:00 UTC"),
     ("second", "2027-01-15 08:00:05 UTC"), ("clock", "08:00:05 UTC")],
)  # fmt: skip
def test_utc_time_has_one_form_per_place(form: str, words: str) -> None:
    assert utc_time(NOW + 5, form) == words  # type: ignore[arg-type]
