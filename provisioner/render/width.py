"""How many terminal columns a string takes, for tables that line up. Pure.

A terminal gives a character 0, 1 or 2 columns:

- 2 for East Asian Wide and Fullwidth characters (``unicodedata.east_asian_width``
  ``W`` or ``F``): CJK ideographs, kana, Hangul syllables, full-width forms and
  most emoji (Unicode gives emoji presentation characters ``W``);
- 0 for combining marks (categories Mn, Me), format characters (Cf: zero-width
  space and joiners, bidi controls), Hangul medial vowels and final consonants
  (U+1160..U+11FF, which join the syllable before them), and variation selectors;
- 1 for everything else.

This is what ``wcwidth`` computes for the characters a name can show, with no
dependency: server strings reach a table only through
:func:`provisioner.render.safe.text`, which has already turned controls and
format characters into visible escapes, so what is measured here is what prints.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

__all__ = ["char_width", "ljust", "rjust", "shorten", "width"]

_ZERO_CATEGORIES = frozenset({"Mn", "Me", "Cf"})
_ELLIPSIS = "…"


@lru_cache(maxsize=4096)
def char_width(char: str) -> int:
    """The columns one character takes on a terminal: 0, 1 or 2."""
    code = ord(char)
    if 0x20 <= code < 0x7F:
        return 1
    if code == 0 or unicodedata.category(char) in _ZERO_CATEGORIES:
        return 0
    if 0x1160 <= code <= 0x11FF:  # Hangul jungseong and jongseong: part of the syllable
        return 0
    if unicodedata.east_asian_width(char) in ("W", "F"):
        return 2
    return 1


def width(value: str) -> int:
    """The columns ``value`` takes on a terminal."""
    if value.isascii():
        return len(value)
    return sum(char_width(c) for c in value)


def ljust(value: str, columns: int) -> str:
    """``value`` padded with spaces on the right to ``columns`` terminal columns."""
    return value + " " * max(0, columns - width(value))


def rjust(value: str, columns: int) -> str:
    """``value`` padded with spaces on the left to ``columns`` terminal columns."""
    return " " * max(0, columns - width(value)) + value


def shorten(value: str, columns: int) -> str:
    """``value`` cut to at most ``columns`` terminal columns, ending in ``…`` when cut.

    A wide character is never split: when only one column is left for it, the
    cut string is one column short (the caller pads it).
    """
    if width(value) <= columns:
        return value
    room = max(1, columns - 1)  # the ellipsis takes one column
    kept, used = [], 0
    for char in value:
        w = char_width(char)
        if used + w > room:
            break
        kept.append(char)
        used += w
    return "".join(kept) + _ELLIPSIS
