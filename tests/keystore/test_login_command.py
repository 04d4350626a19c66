"""`provisioner login` as a user runs it: a real process, stdin piped, a file keyring (the
test-only ``keyhelpers.FileKeyring``, chosen for the subprocess by PYTHON_KEYRING_BACKEND)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from keyhelpers import CREDENTIAL, KEY, FileKeyring

from provisioner.keystore import keyring_store
from provisioner.keystore.credentials import resolve_credential, resolve_user_id

URL = "https://api.example.com"
HERE = Path(__file__).parent  # keyhelpers, for PYTHON_KEYRING_BACKEND in the subprocess


def login(
    tmp_path: Path,
    *args: str,
    stdin: str,
    backend: str = "keyhelpers.FileKeyring",
    extra_env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,  # clean (tests/conftest.py)
        "PYTHON_KEYRING_BACKEND": backend,
        "TEST_KEYRING_FILE": str(keyring_file(tmp_path)),
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
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


def keyring_file(tmp_path: Path) -> Path:
    return tmp_path / "keyring" / "entries.json"


def read_back(tmp_path: Path) -> FileKeyring:
    import keyring

    backend = FileKeyring(keyring_file(tmp_path))
    keyring.set_keyring(backend)
    return backend


def test_login_from_piped_stdin_then_resolve(tmp_path: Path) -> None:
    done = login(tmp_path, "--url", URL + "/", "--user-id", "7", stdin=CREDENTIAL.reveal())
    assert done.returncode == 0, done.stderr
    assert CREDENTIAL.reveal() not in done.stdout + done.stderr
    assert "provisioner:https://api.example.com" in done.stderr
    assert "FileKeyring" in done.stderr
    assert keyring_file(tmp_path).is_file()

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
    assert not keyring_file(tmp_path).exists()


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


def test_login_refuses_a_plaintext_keyring_unless_chosen(tmp_path: Path) -> None:
    refused = login(
        tmp_path, "--url", URL, stdin=CREDENTIAL.reveal(), backend="keyhelpers.PlaintextKeyring"
    )
    assert refused.returncode == 1, refused.stderr
    assert "PlaintextKeyring (keyhelpers)" in refused.stderr
    assert "PROVISIONER_KEYRING_ALLOW_INSECURE=1" in refused.stderr
    assert not keyring_file(tmp_path).exists() and CREDENTIAL.reveal() not in refused.stderr

    chosen = login(
        tmp_path,
        "--url",
        URL,
        stdin=CREDENTIAL.reveal(),
        backend="keyhelpers.PlaintextKeyring",
        extra_env={"PROVISIONER_KEYRING_ALLOW_INSECURE": "1"},
    )
    assert chosen.returncode == 0, chosen.stderr
    assert keyring_file(tmp_path).is_file()


def test_the_test_extra_leaves_the_machines_keyring_alone() -> None:
    """keyrings.alt is not in the test extra: installing it would make a plaintext file the
    default keyring of the developer's machine (issue 17 item 9)."""
    import tomllib

    project = tomllib.loads((HERE.parents[1] / "pyproject.toml").read_text(encoding="utf-8"))
    extras = project["project"]["optional-dependencies"]
    assert not [dep for deps in extras.values() for dep in deps if "keyrings" in dep.lower()]
