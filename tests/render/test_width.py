"""Terminal columns of a string (render/width.py): what a table pads and cuts by."""

from __future__ import annotations

import pytest

from provisioner.render.width import ljust, rjust, shorten, width

# (string, columns a terminal gives it)
WIDTHS = [
    ("", 0),
    ("ascii-name", 10),
    ("令牌", 4),  # CJK ideographs: wide
    ("トークン", 8),  # katakana: wide
    ("토큰", 4),  # Hangul syllables: wide
    ("ＡＢＣ", 6),  # full-width Latin
    ("ｶﾀｶﾅ", 4),  # half-width katakana: narrow
    ("🚀", 2),  # emoji presentation: wide
    ("👍🏽", 4),  # emoji and a skin-tone modifier: each wide
    ("❤️", 1),  # a text-presentation heart and VS16 (the selector takes no column)
    ("é", 1),  # e and a combining acute accent
    ("a\u200bb", 2),  # zero-width space
    ("a\u200db", 2),  # zero-width joiner
    ("\u1100\u1161", 2),  # a conjoining Hangul syllable: L wide, V joins it
    ("café 令牌 🚀", 12),
]


@pytest.mark.parametrize(("value", "columns"), WIDTHS)
def test_width(value: str, columns: int) -> None:
    assert width(value) == columns


@pytest.mark.parametrize(("value", "columns"), WIDTHS)
def test_padding_reaches_the_columns(value: str, columns: int) -> None:
    assert width(ljust(value, columns + 3)) == columns + 3
    assert ljust(value, columns + 3).startswith(value)
    assert rjust(value, columns + 3).endswith(value)
    assert ljust(value, 0) == value  # never cut by padding


@pytest.mark.parametrize(
    ("value", "columns", "expected"),
    [
        ("short", 10, "short"),
        ("a-long-name", 6, "a-lon…"),
        ("令牌名称过长", 6, "令牌…"),  # 2 + 2 + 1: the next wide character does not fit
        ("令牌名称过长", 7, "令牌名…"),
        ("🚀🚀🚀🚀", 4, "🚀…"),
        ("ＡＢＣＤ", 8, "ＡＢＣＤ"),
    ],
)
def test_shorten_never_passes_the_columns(value: str, columns: int, expected: str) -> None:
    assert shorten(value, columns) == expected
    assert width(shorten(value, columns)) <= columns
