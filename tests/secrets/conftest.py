"""Fixtures for the secrets layer: keyring backends isolated in tmp_path.

Every test starts with no usable keyring and a fresh timeout state (tests/conftest.py);
a test that needs one installs it with ``use_backend`` or ``plaintext_keyring``.
"""

from __future__ import annotations

from pathlib import Path

import keyring
import pytest
from keyhelpers import plaintext_file
from keyring.backend import KeyringBackend
from keyrings.alt.file import PlaintextKeyring


@pytest.fixture
def use_backend() -> object:
    def install(backend: KeyringBackend) -> KeyringBackend:
        keyring.set_keyring(backend)
        return backend

    return install


@pytest.fixture
def plaintext_keyring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PlaintextKeyring:
    """A real file backend (keyrings.alt) whose file lives in tmp_path."""
    data_home = tmp_path / "xdg-data"
    monkeypatch.setenv("XDG_DATA_HOME", str(data_home))
    backend = PlaintextKeyring()
    backend.file_path = str(plaintext_file(data_home))
    keyring.set_keyring(backend)
    return backend
