"""One base for every error a person reads: a message and the exit code it ends with.

The command line turns any :class:`ProvisionerError` into ``error: MESSAGE`` on
stderr and its ``exit_code`` (the table is :mod:`provisioner.exitcodes`).
Subclasses set a default code; a raise site may give another one.
Messages never contain a credential or a full key.

The whole tree, with each class's exit code and where it lives (classes outside this
module are defined next to the code that raises them; the server's errors are drawn
where they live, :mod:`provisioner.newapi.errors`; ``tests/test_errors.py`` keeps both
drawings true)::

    ProvisionerError (1)
    ├── UsageError (64)                    a flag, argument or setting that cannot be used
    │   ├── SettingError (64)              a malformed server URL, user id or CA bundle
    │   ├── SavedPlanError (64)            plan/saved.py: not a plan this version can apply
    │   └── ArgumentsError (64)            cli/parser.py: argparse refused the command line
    ├── CredentialError (77)               no management credential, or one refused
    ├── RefusedError (4)                   a safety rule, a conflict or a server limit
    ├── StalePlanError (5)                 a saved plan no longer matches the server
    ├── SpecError (65)                     spec/diagnostics.py: the spec file is invalid
    ├── KeyringUnavailableError (1)        keystore/keyring_store.py: the OS keyring
    │   └── InsecureKeyringError (1)       a plaintext or discarding backend, refused
    ├── GitHubError (1)                    github/api.py: a GitHub API call failed
    └── NewApiError (1)                    the server: its subtree is drawn in newapi/errors.py
        └── LockLostError (4)              cli/lock.py: the account's lock is no longer ours

Not in the tree, on purpose: ``ValueError`` subclasses that a caller turns into one of
the above with the place they came from (``cli.options.BadValue``,
``sandbox.faults.FaultSpecError``, ``sandbox.options.SandboxUsageError``,
``github.documents.DocumentError``), and the sandbox's ``SandboxStateError`` (its state
file cannot be used): the sandbox imports nothing of the tool but the exit codes, so
``provisioner sandbox`` and ``--sandbox`` turn it into a ``ProvisionerError`` (exit 1).
"""

from __future__ import annotations

from provisioner.exitcodes import ExitCode

__all__ = [
    "CredentialError",
    "ProvisionerError",
    "RefusedError",
    "SettingError",
    "StalePlanError",
    "UsageError",
]


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


class SettingError(UsageError):
    """A server URL, user id, CA bundle or typed credential that is malformed, or plain http
    to a remote host without ``--insecure-http``. The message names what to fix."""


class CredentialError(ProvisionerError):
    """No management credential was found, or the one found is refused (an ``sk-`` relay
    key, a file that cannot be read, a ``nap_`` token cut short). The message says where
    the tool looked and how to provide one."""

    exit_code = ExitCode.AUTH
