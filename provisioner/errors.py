"""One base for every error a person reads: a message and the exit code it ends with.

The command line turns any :class:`ProvisionerError` into ``error: MESSAGE`` on
stderr and its ``exit_code`` (the table is :mod:`provisioner.exitcodes`).
Subclasses set a default code; a raise site may give another one.
Messages never contain a credential or a full key.
"""

from __future__ import annotations

from provisioner.exitcodes import ExitCode


class ProvisionerError(Exception):
    """A failure with a message for people and an exit code."""

    exit_code: ExitCode = ExitCode.ERROR

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if exit_code is not None:
            self.exit_code = ExitCode(int(exit_code))


class UsageError(ProvisionerError):
    """A flag, argument or setting that cannot be used as given."""

    exit_code = ExitCode.USAGE


class RefusedError(ProvisionerError):
    """A safety rule, a conflict or a server limit refuses the change (the plan is printed)."""

    exit_code = ExitCode.REFUSED


class StalePlanError(ProvisionerError):
    """A saved plan no longer matches the server."""

    exit_code = ExitCode.STALE_PLAN


class CredentialError(ProvisionerError):
    """A credential, user id, URL or TLS setting that cannot be used.

    77 for a missing or refused credential; 64 (given at the raise site) for a
    malformed setting or a refused insecure URL. The message names what to do.
    """

    exit_code = ExitCode.AUTH
