"""Shared test values and keyring backends for tests/secrets (imported by name)."""

from __future__ import annotations

import json
import os
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


class FileKeyring(KeyringBackend):
    """A test-only backend: entries in a JSON file, so a test and the subprocess it starts
    can share them. The path comes from the constructor or ``TEST_KEYRING_FILE``
    (``PYTHON_KEYRING_BACKEND=keyhelpers.FileKeyring`` with this folder on PYTHONPATH).

    It exists only for the tests, selected per test: installing the test extra never
    changes the keyring a developer's machine uses (docs/credentials.md#keyring-backends).
    """

    priority = 1  # type: ignore[assignment]

    def __init__(self, path: str | Path | None = None) -> None:
        super().__init__()
        self.file_path = Path(path or os.environ["TEST_KEYRING_FILE"])

    def _load(self) -> dict[str, str]:
        try:
            return dict(json.loads(self.file_path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return {}

    def _save(self, data: dict[str, str]) -> None:
        self.file_path.parent.mkdir(parents=True, exist_ok=True)
        self.file_path.write_text(json.dumps(data), encoding="utf-8")

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(f"{service}\0{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        data = self._load()
        data[f"{service}\0{username}"] = password
        self._save(data)

    def delete_password(self, service: str, username: str) -> None:
        from keyring.errors import PasswordDeleteError

        data = self._load()
        if data.pop(f"{service}\0{username}", None) is None:
            raise PasswordDeleteError("not found")
        self._save(data)


class PlaintextKeyring(FileKeyring):
    """Stands for keyrings.alt's ``PlaintextKeyring`` (a plaintext file): the class the
    tool refuses by kind, without installing keyrings.alt anywhere."""


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
