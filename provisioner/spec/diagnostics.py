"""Located messages: every spec error and warning points at FILE:LINE:COL."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from provisioner.errors import ProvisionerError
from provisioner.exitcodes import ExitCode

#: How much of a value from the file a message echoes (a 5 MB name is cut).
ECHO_LIMIT = 60
MESSAGE_LIMIT = 1000
_QUOTED = re.compile(f"'[^'\\n]{{{ECHO_LIMIT + 1},}}'|\"[^\"\\n]{{{ECHO_LIMIT + 1},}}\"")
_LONG_WORD = re.compile(f"\\S{{{ECHO_LIMIT + 21},}}")


def clip(text: str, limit: int = ECHO_LIMIT) -> str:
    """``text`` with at most ``limit`` characters kept, then ``...``."""
    return text if len(text) <= limit else text[:limit] + "..."


def clip_echoes(message: str) -> str:
    """Cut the values a message echoes: quoted ones to 60 characters, any other run of 80+
    characters without a space likewise, and the whole message to 1,000."""

    def quoted(match: re.Match[str]) -> str:
        quote = match.group(0)[0]
        return quote + clip(match.group(0)[1:-1]) + quote

    message = _QUOTED.sub(quoted, message)
    message = _LONG_WORD.sub(lambda m: clip(m.group(0)), message)
    return clip(message, MESSAGE_LIMIT)


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One error or warning in a spec file. ``line`` and ``col`` are 1-based.

    The message never echoes a huge value whole (:func:`clip_echoes`).
    """

    file: str
    line: int
    col: int
    message: str
    severity: Literal["error", "warning"] = "error"

    def __post_init__(self) -> None:
        if len(self.message) > ECHO_LIMIT:
            object.__setattr__(self, "message", clip_echoes(self.message))

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.message}"

    def as_dict(self) -> dict[str, object]:
        return {"file": self.file, "line": self.line, "col": self.col, "message": self.message}


class SpecError(ProvisionerError):
    """The spec file is invalid. ``diagnostics`` lists every error found (sorted by position)."""

    exit_code = ExitCode.INVALID_SPEC

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = sorted(diagnostics, key=lambda d: (d.file, d.line, d.col, d.message))
        super().__init__("\n".join(str(d) for d in self.diagnostics) or "invalid spec")
