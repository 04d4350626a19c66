"""`provisioner login` for new-api v1.0.0-rc.41 and later: where the token is made, what
was taken, and a nap_ copy cut short refused (docs/credentials.md#scoped-access-tokens)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

from keyhelpers import CREDENTIAL
from test_login_command import HERE, URL, keyring_file, login, read_back

from provisioner.keystore.credentials import resolve_credential
from provisioner.secret import Secret
from tests.e2e.conftest import run_in_pty

PAT = "nap_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8s9T0u1V"  # nap_ + 43


def test_a_pasted_nap_token_is_stored_and_named(tmp_path: Path) -> None:
    assert len(PAT) == 47
    done = login(tmp_path, "--url", URL, stdin=PAT + "\n")
    assert done.returncode == 0, done.stderr
    assert "personal access token (nap_): run `provisioner check`" in done.stderr
    assert PAT not in done.stdout + done.stderr
    read_back(tmp_path)
    assert resolve_credential(URL, {}) == (Secret(PAT), "keyring")


def test_json_says_which_kind_was_stored(tmp_path: Path) -> None:
    done = login(tmp_path, "--url", URL, "--output", "json", stdin=PAT)
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["credential_kind"] == "personal access token"
    assert PAT not in done.stdout


def test_a_nap_copy_cut_short_is_refused_and_nothing_stored(tmp_path: Path) -> None:
    done = login(tmp_path, "--url", URL, stdin=PAT[:-5])
    assert done.returncode == 77
    assert "nap_ and 43 letters and digits, this one has 38 characters" in done.stderr
    assert "Nothing was stored" in done.stderr
    assert not keyring_file(tmp_path).exists()
    assert PAT[:-5] not in done.stderr


def test_a_legacy_token_gets_the_retirement_note(tmp_path: Path) -> None:
    done = login(tmp_path, "--url", URL, stdin=CREDENTIAL.reveal())
    assert done.returncode == 0, done.stderr
    assert "on new-api v1.0.0-rc.41 and later this is a legacy access token" in done.stderr


def test_on_a_terminal_it_says_where_the_token_is_made(tmp_path: Path) -> None:
    env = {
        "PYTHON_KEYRING_BACKEND": "keyhelpers.FileKeyring",
        "TEST_KEYRING_FILE": str(keyring_file(tmp_path)),
        "PYTHONPATH": os.pathsep.join([str(HERE), str(Path(__file__).resolve().parents[2])]),
        "HOME": str(tmp_path / "home"),
    }
    fake = SimpleNamespace(workdir=tmp_path, env=env)
    code, screen = run_in_pty(
        fake, ["login", "--url", URL], [(b"input is hidden", PAT.encode() + b"\n")]
    )  # type: ignore[arg-type]
    assert code == 0, screen
    assert "Settings -> Access tokens" in screen
    assert "profile:read, api_key:read" in screen and "api_key:reveal" in screen
    assert "系统访问令牌" in screen
    assert PAT not in screen  # no echo
    read_back(tmp_path)
    assert resolve_credential(URL, {})[0] == Secret(PAT)
