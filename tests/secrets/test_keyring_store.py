"""The bounded keyring: a real file backend, a hanging one, a locked one, none."""

from __future__ import annotations

import pytest
from keyhelpers import CREDENTIAL, KEY, HangingKeyring, LockedKeyring, plaintext_file

from provisioner.secrets import keyring_store
from provisioner.secrets.credentials import resolve_credential
from provisioner.secrets.sinks import KeyDelivery, KeyringSink

SERVICE = "provisioner:https://api.example.com"


def test_plaintext_backend_round_trip(plaintext_keyring) -> None:
    assert keyring_store.get_secret(SERVICE, "credential") is None
    keyring_store.set_secret(SERVICE, "credential", CREDENTIAL)
    assert keyring_store.get_secret(SERVICE, "credential") == CREDENTIAL
    assert plaintext_file_exists(plaintext_keyring)
    assert "PlaintextKeyring" in keyring_store.backend_name()
    assert keyring_store.delete_secret(SERVICE, "credential") is True
    assert keyring_store.delete_secret(SERVICE, "credential") is False
    assert keyring_store.get_secret(SERVICE, "credential") is None


def plaintext_file_exists(backend) -> bool:
    from pathlib import Path

    return Path(backend.file_path).is_file()


def test_resolve_credential_reads_real_backend(plaintext_keyring, tmp_path, monkeypatch) -> None:
    keyring_store.set_secret(SERVICE, "credential", CREDENTIAL)
    assert plaintext_file(tmp_path / "xdg-data").is_file()
    assert resolve_credential("https://api.example.com/", {}) == (CREDENTIAL, "keyring")


def test_keyring_sink_with_real_backend(plaintext_keyring) -> None:
    result = KeyringSink().deliver([KeyDelivery("a", "A_KEY", KEY, "https://api.example.com")])
    assert result[0].ok
    assert keyring_store.get_secret(SERVICE, "A_KEY") == KEY


def test_hanging_backend_times_out_within_bound(use_backend) -> None:
    backend = use_backend(HangingKeyring())
    # The backend hangs for 30 s: an answer now is the timeout's.
    with pytest.raises(keyring_store.KeyringUnavailable) as info:
        keyring_store.get_secret(SERVICE, "credential", timeout=0.5)
    message = str(info.value)
    assert "did not answer within 0.5 s" in message
    for alternative in ("NEWAPI_TOKEN", "NEWAPI_TOKEN_FILE", "dotenv:PATH", "json:PATH"):
        assert alternative in message

    # later calls fail at once instead of waiting again: the backend is not asked
    with pytest.raises(keyring_store.KeyringUnavailable):
        keyring_store.set_secret(SERVICE, "x", KEY, timeout=5)
    assert "set" not in backend.calls


def test_hanging_backend_through_resolve_credential(use_backend) -> None:
    from provisioner.errors import CredentialError

    use_backend(HangingKeyring())  # hangs for 30 s: an answer now is the timeout's
    with pytest.raises(CredentialError) as info:
        resolve_credential("https://api.example.com", {}, keyring_timeout=0.3)
    assert info.value.exit_code == 77
    assert "did not answer" in str(info.value)


def test_hanging_backend_fails_sink_per_key(use_backend) -> None:
    backend = use_backend(HangingKeyring())
    sink = KeyringSink(timeout=0.3)
    results = sink.deliver(
        [KeyDelivery(n, n.upper(), KEY, "https://api.example.com") for n in ("a", "b", "c")]
    )
    assert [r.ok for r in results] == [False, False, False]
    assert len(backend.calls) <= 1  # the timeout is paid once: b and c never ask the backend


def test_locked_backend(use_backend) -> None:
    use_backend(LockedKeyring())
    with pytest.raises(keyring_store.KeyringUnavailable, match="locked"):
        keyring_store.get_secret(SERVICE, "credential")


def test_no_backend() -> None:
    with pytest.raises(keyring_store.KeyringUnavailable) as info:
        keyring_store.get_secret(SERVICE, "credential")
    assert "no keyring backend" in str(info.value)


def test_importing_secrets_does_not_import_keyring() -> None:
    import subprocess
    import sys

    code = (
        "import sys, provisioner.secrets, provisioner.secrets.credentials, "
        "provisioner.secrets.sinks, provisioner.secrets.keyring_store\n"
        "heavy = [m for m in ('keyring', 'subprocess', 'httpx') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "keyring" not in out.stdout.split(",")
