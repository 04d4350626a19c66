"""A refusal for the account's token cap, said in one set of words everywhere
(provisioner/plan/server_checks.py: cap_of, cap_advice, cap_words)."""

from __future__ import annotations

import pytest

from provisioner.plan.server_checks import cap_of, cap_words


@pytest.mark.parametrize(
    ("message", "cap"),
    [
        ("已达到最大令牌数量限制 (1000)", 1000),
        ("reached the maximum number of tokens (3)", 3),
        ("token limit reached", 0),  # a refusal that names no number
        ("database is locked (5) (SQLITE_BUSY)", None),  # not a cap refusal
    ],
)
def test_cap_of(message: str, cap: int | None) -> None:
    assert cap_of(message) == cap


@pytest.mark.parametrize(
    ("message", "held", "words"),
    [
        (
            "已达到最大令牌数量限制 (10)",
            10,
            "The account holds 10 tokens and its cap is 10: make room with `provisioner "
            "list` (it shows them) and `provisioner delete ID`, or lower a `count` in the "
            "file (the server said: 已达到最大令牌数量限制 (10))",
        ),
        (
            "token limit reached",
            1,
            "The account holds 1 token and the server caps it: make room with `provisioner "
            "list` (it shows them) and `provisioner delete ID`, or lower a `count` in the "
            "file (the server said: token limit reached)",
        ),
    ],
)
def test_cap_words_count_the_tokens_held_not_the_cap(message: str, held: int, words: str) -> None:
    assert cap_words(message, held) == words


def test_cap_words_of_another_refusal_is_none() -> None:
    assert cap_words("database is locked (5) (SQLITE_BUSY)", 4) is None
