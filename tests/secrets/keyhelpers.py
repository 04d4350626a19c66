"""Shared test values and keyring backends for tests/secrets (imported by name)."""

from __future__ import annotations

import threading
from pathlib import Path

from keyring.backend import KeyringBackend

from provisioner.secret import Secret

# Known values a leak check can look for. Never put them in assertion messages
# raw: compare Secret objects or use `in` checks on captured text.
KEY_BODY = "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8s9T0u1V2w3X4"
KEY = Secret("sk-" + KEY_BODY)
KEY2 = Secret("sk-" + "Z" * 24 + "y" * 24)
CREDENTIAL = Secret("Q2hhbmdlTWVQbGVhc2VBY2Nlc3NUb2tlbg==")


def plaintext_file(root: Path) -> Path:
    """Where keyrings.alt's PlaintextKeyring keeps its file under XDG_DATA_HOME=root."""
    return root / "python_keyring" / "keyring_pass.cfg"


class RecordingKeyring(KeyringBackend):
    """An in-memory backend that records every call."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}
        self.calls: list[str] = []

    def get_password(self, service: str, username: str) -> str | None:
        self.calls.append("get")
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.calls.append("set")
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.calls.append("delete")
        from keyring.errors import PasswordDeleteError

        if self.store.pop((service, username), None) is None:
            raise PasswordDeleteError("not found")


class HangingKeyring(KeyringBackend):
    """A backend stuck like a locked keyring waiting for a prompt nobody answers.

    ``calls`` names each call that reached it (from the worker thread), so a test can tell
    a call that waited for it from one that failed at once without asking it.
    """

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []
        self.released = threading.Event()  # never set by the tests: it hangs for 30 s

    def _hang(self, call: str) -> None:
        self.calls.append(call)
        self.released.wait(30)

    def get_password(self, service: str, username: str) -> str | None:
        self._hang("get")
        return None

    def set_password(self, service: str, username: str, password: str) -> None:
        self._hang("set")

    def delete_password(self, service: str, username: str) -> None:
        self._hang("delete")


class LockedKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def get_password(self, service: str, username: str) -> str | None:
        from keyring.errors import KeyringLocked

        raise KeyringLocked("locked")

    def set_password(self, service: str, username: str, password: str) -> None:
        from keyring.errors import KeyringLocked

        raise KeyringLocked("locked")

    def delete_password(self, service: str, username: str) -> None:
        from keyring.errors import KeyringLocked

        raise KeyringLocked("locked")
