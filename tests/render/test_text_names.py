"""``a, b, c and N more``: one helper names a few and counts the rest (render/safe.py)."""

from __future__ import annotations

import pytest

from provisioner.render.safe import text_names


@pytest.mark.parametrize(
    ("names", "shown", "expected"),
    [
        ([], 3, ""),
        (["a"], 3, "a"),
        (["a", "b", "c"], 3, "a, b, c"),
        (["a", "b", "c", "d", "e"], 3, "a, b, c and 2 more"),
        (["a", "b", "c"], 1, "a and 2 more"),
        (["bad\u202ename", "tab\there"], 3, "bad\\u202ename, tab\\there"),  # escaped once
    ],
)
def test_text_names(names: list[str], shown: int, expected: str) -> None:
    assert text_names(names, shown) == expected
