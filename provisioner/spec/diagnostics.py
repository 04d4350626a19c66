"""Located messages: every spec error and warning points at FILE:LINE:COL."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from provisioner.errors import ProvisionerError
from provisioner.exitcodes import ExitCode


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One error or warning in a spec file. ``line`` and ``col`` are 1-based."""

    file: str
    line: int
    col: int
    message: str
    severity: Literal["error", "warning"] = "error"

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
