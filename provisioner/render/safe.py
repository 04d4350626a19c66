"""Strings from the server, made safe for each output (docs/commands.md#names-from-the-server).

Token names, group and model names, server messages and the server version
are typed by whoever uses the web UI, so every renderer passes them through
one of these before they reach a terminal or a Markdown document. Pure.

- :func:`text` for terminals: every character that is not printable (C0 and C1
  controls, DEL, ANSI escapes, bidi and zero-width format characters such as
  U+202E and U+200B, line and paragraph separators, unassigned code points) is
  shown as a Python-style escape (``\\x1b``, ``\\u202e``), so nothing recolours
  the terminal, moves the cursor or reorders what is shown.
- :func:`md_code` for a name in Markdown: an inline code span that no name can
  close, with ``|`` escaped inside table cells.
- :func:`md_text` for prose in Markdown (messages, reasons): escaped so that it
  cannot start a heading, a list, a link, an image, emphasis, HTML or a mention,
  nor end a table cell.
- :func:`fence` wraps lines in a fenced block whose fence no line can close.
- :func:`json_text` makes a JSON document safe to print: the parsed values are
  exactly the server's, only the non-printable characters are ``\\uXXXX``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

__all__ = ["fence", "json_text", "md_code", "md_text", "text", "text_lines"]


_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_char(char: str) -> str:
    if char in _SHORT:
        return _SHORT[char]
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def text(value: object) -> str:
    """``value`` as text for a terminal: every non-printable character escaped.

    ``str.isprintable`` is false for Unicode categories Cc, Cf, Cs, Co, Cn, Zl,
    Zp and every space but U+0020: exactly the characters that can hide, move
    or disguise what a name shows.
    """
    raw = value if isinstance(value, str) else str(value)
    if raw.isprintable():
        return raw
    return "".join(c if c.isprintable() else _escape_char(c) for c in raw)


def text_names(names: Sequence[object], shown: int = 3) -> str:
    """``a, b, c and 4 more``: the first ``shown`` names for a terminal (:func:`text`),
    and how many more there are."""
    first = ", ".join(text(name) for name in names[:shown])
    return first + (f" and {len(names) - shown} more" if len(names) > shown else "")


def text_lines(value: object) -> str:
    """Like :func:`text`, but line breaks (``\\n``) are kept: for multi-line messages."""
    raw = value if isinstance(value, str) else str(value)
    return "\n".join(text(line) for line in raw.split("\n"))


# Backslash-escapable ASCII punctuation (CommonMark 2.4) that can start or end
# Markdown syntax anywhere in a line: emphasis, code, links, images, HTML,
# headings, tables, entities and mentions. GitHub's autolinks (`https://`,
# `www.`) are broken by escaping their `:` and `.`.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#!|~&@])")  # `(` matters only after an escaped `]`
_MD_AUTOLINK = re.compile(r"(?i)(?<=www)\.|:(?=//)")


def md_text(value: object) -> str:
    """``value`` as Markdown prose: non-printables escaped, then Markdown syntax escaped.

    Safe in a table cell (``|`` escaped, no line break can remain) and after
    other text on a line; callers never start a line with it (``-``, ``+``,
    ``1.`` there would start a list).
    """
    escaped = _MD_SPECIAL.sub(r"\\\1", text(value))
    return _MD_AUTOLINK.sub(lambda m: "\\" + m.group(0), escaped)


_BACKTICKS = re.compile(r"`+")


def md_code(value: object, *, cell: bool = True) -> str:
    """``value`` as an inline code span that no content can close.

    The delimiter is one backtick longer than the longest run inside (CommonMark
    6.1), padded with a space when the content starts or ends with a backtick.
    In a table cell (``cell=True``) ``|`` becomes ``\\|``, which GitHub's table
    parser turns back into ``|`` before it reads the span.
    """
    content = text(value)
    if cell:
        content = content.replace("|", "\\|")
    longest = max((len(run) for run in _BACKTICKS.findall(content)), default=0)
    tick = "`" * (longest + 1)
    pad = " " if content.startswith("`") or content.endswith("`") or not content.strip() else ""
    return f"{tick}{pad}{content}{pad}{tick}"


def fence(lines: Iterable[str], info: str = "") -> list[str]:
    """``lines`` in a fenced code block whose fence is longer than any backtick run in them.

    Each line is passed through :func:`text` (no line break can end it early);
    the caller gives the lines unescaped.
    """
    body = [text(line) for line in lines]
    longest = max((len(run) for line in body for run in _BACKTICKS.findall(line)), default=0)
    marker = "`" * max(3, longest + 1)
    return [f"{marker}{info}", *body, marker]


def json_text(document: str) -> str:
    """A JSON text with every non-printable character inside its strings as ``\\uXXXX``.

    ``json.dumps(..., ensure_ascii=False)`` escapes only C0 controls; DEL, C1,
    U+202E and U+2028 would reach a terminal that prints the document. The
    parsed values are unchanged. Outside strings JSON has only ASCII
    punctuation, digits, letters, spaces and the line breaks of the indent,
    which are kept.
    """
    if document.isprintable():
        return document
    out = []
    for char in document:
        if char.isprintable() or char == "\n":
            out.append(char)
        elif ord(char) > 0xFFFF:  # a surrogate pair, as JSON spells it
            code = ord(char) - 0x10000
            out.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
        else:
            out.append(f"\\u{ord(char):04x}")
    return "".join(out)
