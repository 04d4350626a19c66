"""The exit-code table (README.md#exit-codes). One source of truth: docs are checked against it."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    ERROR = 1
    CHANGES_PENDING = 2
    REFUSED = 4
    STALE_PLAN = 5
    PARTIAL = 6
    FINDINGS = 8
    USAGE = 64
    INVALID_SPEC = 65
    UNAVAILABLE = 69
    AUTH = 77
    INTERRUPTED = 130


MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "success; with `--detailed-exitcode`: no changes",
    ExitCode.ERROR: "runtime error (network, server error, unexpected)",
    ExitCode.CHANGES_PENDING: "`--detailed-exitcode`: changes pending",
    ExitCode.REFUSED: "refused by a safety rule or a conflict (plan still printed)",
    ExitCode.STALE_PLAN: "saved plan is stale",
    ExitCode.PARTIAL: "partial apply: some operations failed (each one reported)",
    ExitCode.FINDINGS: "a finding: `list --fail-on`, `test` (a key is refused), `scan` "
    "(a key of the account was found), `revoke` (a key of no token of the account)",
    ExitCode.USAGE: "usage error",
    ExitCode.INVALID_SPEC: "invalid spec file",
    ExitCode.UNAVAILABLE: "server unreachable or dialect not supported",
    ExitCode.AUTH: "authentication failed or permission missing",
    ExitCode.INTERRUPTED: "interrupted",
}
