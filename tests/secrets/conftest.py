"""Fixtures for the secrets layer: keyring backends isolated in tmp_path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring.core
import pytest
from keyhelpers import plaintext_file
from keyring.backend import KeyringBackend
from keyring.backends import fail
from keyrings.alt.file import PlaintextKeyring

from provisioner.secrets import keyring_store


@pytest.fixture(autouse=True)
def isolated_keyring(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test starts with no usable keyring and a fresh timeout state.

    Tests that need one install it with `use_backend`; nothing ever touches
    the developer's real keyring.
    """
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    previous = keyring.core._keyring_backend
    keyring.set_keyring(fail.Keyring())
    keyring_store.reset()
    yield
    keyring_store.reset()
    keyring.core._keyring_backend = previous


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
