"""`provisioner login` as a user runs it: a real process, stdin piped, a real file keyring."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from keyhelpers import CREDENTIAL, KEY, plaintext_file
from keyrings.alt.file import PlaintextKeyring

from provisioner.secrets import keyring_store
from provisioner.secrets.credentials import resolve_credential, resolve_user_id

URL = "https://api.example.com"


def login(
    tmp_path: Path,
    *args: str,
    stdin: str,
    backend: str = "keyrings.alt.file.PlaintextKeyring",
    extra_env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,  # clean (tests/conftest.py)
        "PYTHON_KEYRING_BACKEND": backend,
        "XDG_DATA_HOME": str(tmp_path / "xdg-data"),
        "HOME": str(tmp_path / "home"),
        **(extra_env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "provisioner", "login", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=tmp_path,
    )


def read_back(tmp_path: Path) -> PlaintextKeyring:
    import keyring

    backend = PlaintextKeyring()
    backend.file_path = str(plaintext_file(tmp_path / "xdg-data"))
    keyring.set_keyring(backend)
    return backend


def test_login_from_piped_stdin_then_resolve(tmp_path: Path) -> None:
    done = login(tmp_path, "--url", URL + "/", "--user-id", "7", stdin=CREDENTIAL.reveal())
    assert done.returncode == 0, done.stderr
    assert CREDENTIAL.reveal() not in done.stdout + done.stderr
    assert "provisioner:https://api.example.com" in done.stderr
    assert "PlaintextKeyring" in done.stderr
    assert plaintext_file(tmp_path / "xdg-data").is_file()

    read_back(tmp_path)
    assert resolve_credential(URL, {}) == (CREDENTIAL, "keyring")
    assert resolve_user_id({}, URL) == 7


def test_login_url_from_env_and_trailing_newline(tmp_path: Path) -> None:
    done = login(tmp_path, stdin=CREDENTIAL.reveal() + "\n", extra_env={"NEWAPI_URL": URL})
    assert done.returncode == 0, done.stderr
    read_back(tmp_path)
    assert resolve_credential(URL, {})[0] == CREDENTIAL


def test_login_refuses_relay_key(tmp_path: Path) -> None:
    done = login(tmp_path, "--url", URL, stdin=KEY.reveal())
    assert done.returncode == 77
    assert KEY.reveal() not in done.stdout + done.stderr
    assert "relay API key" in done.stderr and "Nothing was stored" in done.stderr
    assert not plaintext_file(tmp_path / "xdg-data").exists()


def test_login_needs_url(tmp_path: Path) -> None:
    done = login(tmp_path, stdin=CREDENTIAL.reveal())
    assert done.returncode == 64
    assert "--url" in done.stderr and "NEWAPI_URL" in done.stderr


@pytest.mark.parametrize("url", ["ftp://x", "https://u:p@api.example.com"])
def test_login_bad_url(tmp_path: Path, url: str) -> None:
    done = login(tmp_path, "--url", url, stdin=CREDENTIAL.reveal())
    assert done.returncode == 64


def test_login_empty_input(tmp_path: Path) -> None:
    done = login(tmp_path, "--url", URL, stdin="")
    assert done.returncode == 64
    assert "empty" in done.stderr


def test_login_bad_user_id(tmp_path: Path) -> None:
    done = login(tmp_path, "--url", URL, "--user-id", "0", stdin=CREDENTIAL.reveal())
    assert done.returncode == 64


def test_login_without_keyring_backend(tmp_path: Path) -> None:
    done = login(
        tmp_path, "--url", URL, stdin=CREDENTIAL.reveal(), backend="keyring.backends.fail.Keyring"
    )
    assert done.returncode == 1
    assert "keyring is unavailable" in done.stderr
    assert "NEWAPI_TOKEN_FILE" in done.stderr
    assert CREDENTIAL.reveal() not in done.stderr


def test_login_http_remote_notes_insecure_flag(tmp_path: Path) -> None:
    done = login(tmp_path, "--url", "http://gateway.lan:3000", stdin=CREDENTIAL.reveal())
    assert done.returncode == 0, done.stderr
    assert "--insecure-http" in done.stderr


def test_login_in_process_with_hanging_keyring(tmp_path: Path, monkeypatch, use_backend) -> None:
    """The command itself is bounded too (run in-process to install the hanging backend)."""
    import argparse
    import io

    from keyhelpers import HangingKeyring

    from provisioner.cli.commands import login as login_command

    use_backend(HangingKeyring())
    monkeypatch.setattr(keyring_store, "DEFAULT_TIMEOUT", 0.3)
    monkeypatch.setattr(sys, "stdin", io.StringIO(CREDENTIAL.reveal()))
    from provisioner.errors import ProvisionerError

    # The backend hangs for 30 s: an answer now is the timeout's.
    with pytest.raises(ProvisionerError) as caught:
        login_command.run(argparse.Namespace(url=URL, user_id=None, quiet=False))
    assert caught.value.exit_code == 1 and "keyring" in str(caught.value)
