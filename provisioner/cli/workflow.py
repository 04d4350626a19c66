"""GitHub Actions workflow commands: always on stderr, never in the document on stdout.

The runner reads workflow commands (``::add-mask::``, ``::error``, ...) from
stdout and stderr alike, so they go to stderr, where they cannot break the one
document a command prints on stdout nor end up in a file stdout is redirected
to (docs/commands.md#outputs). Values are escaped as the runner expects, so no
value can end the line and start a command of its own.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import IO

from provisioner.secret import Secret

STEP_SUMMARY_LIMIT = 1_000_000  # GitHub refuses step summaries over 1 MiB


def active(env: Mapping[str, str] = os.environ) -> bool:
    """True under GitHub Actions (``GITHUB_ACTIONS=true``)."""
    return env.get("GITHUB_ACTIONS", "").lower() == "true"


def escape_data(value: str) -> str:
    """The runner's escaping of a command's message: ``%``, CR and LF."""
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    """The runner's escaping of a property value: the message's, plus ``:`` and ``,``."""
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def command(name: str, message: str, **properties: object) -> str:
    """One workflow command line (without the newline), e.g. ``::error file=a,line=1::msg``."""
    props = ",".join(f"{key}={escape_property(str(value))}" for key, value in properties.items())
    return f"::{name}{' ' + props if props else ''}::{escape_data(message)}"


def add_mask(
    keys: Iterable[Secret],
    stream: IO[str] | None = None,
    env: Mapping[str, str] = os.environ,
) -> int:
    """Under GitHub Actions print ``::add-mask::<key>`` for each key on stderr; the lines printed.

    Call it right after a key is obtained, before anything that could contain
    it is written on either stream. For ``sk-`` keys the bare server form is
    masked as well (it is a substring, so both forms hide).
    """
    if not active(env):
        return 0
    out = stream if stream is not None else sys.stderr
    printed = 0
    for key in keys:
        raw = key.reveal()
        forms = [raw[3:]] if raw.startswith("sk-") and len(raw) > 3 else []
        forms.append(raw)
        for form in forms:
            if form.strip():
                out.write(command("add-mask", form) + "\n")
                printed += 1
    out.flush()
    return printed


def append_step_summary(
    path: str, text: str, fallback: Callable[[int], str], *, headroom: int = 0
) -> None:
    """Append ``text`` to the step summary file at ``path`` whole while the file stays
    under GitHub's 1 MiB with ``headroom`` bytes to spare; else append what ``fallback``
    makes of the bytes left (a shorter text, or a line saying the summary is full)."""
    try:
        used = os.path.getsize(path)
    except OSError:
        used = 0
    room = STEP_SUMMARY_LIMIT - used - headroom
    if len(text.encode()) > room:
        text = fallback(room)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(text)
