"""Fixtures for the secrets layer: keyring backends isolated in tmp_path.

Every test starts with no usable keyring and a fresh timeout state (tests/conftest.py);
a test that needs one installs it with ``use_backend`` or ``file_keyring``.
"""

from __future__ import annotations

from pathlib import Path

import keyring
import pytest
from keyhelpers import FileKeyring
from keyring.backend import KeyringBackend


@pytest.fixture
def use_backend() -> object:
    def install(backend: KeyringBackend) -> KeyringBackend:
        keyring.set_keyring(backend)
        return backend

    return install


@pytest.fixture
def file_keyring(tmp_path: Path) -> FileKeyring:
    """A test-only file backend (tests/keystore/keyhelpers.py) whose file lives in tmp_path;
    nothing of keyrings.alt, which would become the machine's default once installed."""
    backend = FileKeyring(tmp_path / "keyring.json")
    keyring.set_keyring(backend)
    return backend
