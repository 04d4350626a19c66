"""The bounded keyring: a file backend, a hanging one, a locked one, none, and the insecure
ones it refuses (plaintext unless chosen, null always)."""

from __future__ import annotations

import pytest
from keyhelpers import (
    CREDENTIAL,
    KEY,
    FileKeyring,
    HangingKeyring,
    LockedKeyring,
    PlaintextKeyring,
)
from keyring.backend import KeyringBackend

from provisioner.errors import CredentialError
from provisioner.keystore import keyring_store
from provisioner.keystore.credentials import resolve_credential
from provisioner.keystore.sinks import KeyDelivery, KeyringSink

SERVICE = "provisioner:https://api.example.com"


def test_file_backend_round_trip(file_keyring) -> None:
    assert keyring_store.get_secret(SERVICE, "credential") is None
    keyring_store.set_secret(SERVICE, "credential", CREDENTIAL)
    assert keyring_store.get_secret(SERVICE, "credential") == CREDENTIAL
    assert file_keyring.file_path.is_file()
    assert "FileKeyring" in keyring_store.backend_name()
    assert keyring_store.delete_secret(SERVICE, "credential") is True
    assert keyring_store.delete_secret(SERVICE, "credential") is False
    assert keyring_store.get_secret(SERVICE, "credential") is None


def test_resolve_credential_reads_real_backend(file_keyring) -> None:
    keyring_store.set_secret(SERVICE, "credential", CREDENTIAL)
    assert resolve_credential("https://api.example.com/", {}) == (CREDENTIAL, "keyring")


def test_keyring_sink_with_real_backend(file_keyring) -> None:
    result = KeyringSink().deliver([KeyDelivery("a", "A_KEY", KEY, "https://api.example.com")])
    assert result[0].ok
    assert keyring_store.get_secret(SERVICE, "A_KEY") == KEY


# ---------------------------------------------------------------------------- insecure backends


def test_plaintext_backend_is_refused_with_the_way_out(use_backend, tmp_path) -> None:
    use_backend(PlaintextKeyring(tmp_path / "plain.json"))
    for call in (
        lambda: keyring_store.set_secret(SERVICE, "credential", CREDENTIAL),
        lambda: keyring_store.get_secret(SERVICE, "credential"),
    ):
        with pytest.raises(keyring_store.InsecureKeyringError) as info:
            call()
        message = str(info.value)
        assert "PlaintextKeyring (keyhelpers)" in message and "plaintext file" in message
        assert "PROVISIONER_KEYRING_ALLOW_INSECURE=1" in message
        assert "PYTHON_KEYRING_BACKEND" in message and "NEWAPI_TOKEN_FILE" in message
    assert not (tmp_path / "plain.json").exists()  # nothing was written
    with pytest.raises(CredentialError) as refused:
        resolve_credential("https://api.example.com", {})
    assert "PlaintextKeyring" in str(refused.value)
    result = KeyringSink().deliver([KeyDelivery("a", "A_KEY", KEY, "https://api.example.com")])
    assert not result[0].ok and "PROVISIONER_KEYRING_ALLOW_INSECURE" in result[0].error


def test_plaintext_backend_allowed_when_chosen(use_backend, tmp_path, monkeypatch) -> None:
    use_backend(PlaintextKeyring(tmp_path / "plain.json"))
    monkeypatch.setenv("PROVISIONER_KEYRING_ALLOW_INSECURE", "1")
    keyring_store.set_secret(SERVICE, "credential", CREDENTIAL)
    assert keyring_store.get_secret(SERVICE, "credential") == CREDENTIAL
    monkeypatch.setenv("PROVISIONER_KEYRING_ALLOW_INSECURE", "yes")  # only 1 opts in
    with pytest.raises(keyring_store.InsecureKeyringError):
        keyring_store.get_secret(SERVICE, "credential")


def test_null_backend_is_refused_even_when_insecure_is_allowed(use_backend, monkeypatch) -> None:
    from keyring.backends import null

    use_backend(null.Keyring())
    monkeypatch.setenv("PROVISIONER_KEYRING_ALLOW_INSECURE", "1")
    with pytest.raises(keyring_store.InsecureKeyringError) as info:
        keyring_store.set_secret(SERVICE, "A_KEY", KEY)
    assert "discards" in str(info.value) and "ALLOW_INSECURE" not in str(info.value)


class _Chainer(KeyringBackend):
    """Shaped like keyring's ChainerBackend: ``backends`` in priority order."""

    priority = 1  # type: ignore[assignment]

    def __init__(self, *backends: KeyringBackend) -> None:
        super().__init__()
        self.backends = list(backends)

    def get_password(self, service: str, username: str) -> str | None:
        raise AssertionError("the chain itself is never used")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise AssertionError("the chain itself is never used")

    def delete_password(self, service: str, username: str) -> None:
        raise AssertionError("the chain itself is never used")


def test_chainer_resolves_to_its_safe_member(use_backend, tmp_path) -> None:
    safe = FileKeyring(tmp_path / "safe.json")
    use_backend(_Chainer(safe, PlaintextKeyring(tmp_path / "plain.json")))
    keyring_store.set_secret(SERVICE, "A_KEY", KEY)
    assert safe.get_password(SERVICE, "A_KEY") == KEY.reveal()
    assert not (tmp_path / "plain.json").exists()  # never falls through to plaintext
    assert "FileKeyring" in keyring_store.backend_name()


def test_chainer_of_plaintext_only_is_refused(use_backend, tmp_path) -> None:
    use_backend(_Chainer(PlaintextKeyring(tmp_path / "plain.json")))
    with pytest.raises(keyring_store.InsecureKeyringError, match="PlaintextKeyring"):
        keyring_store.get_secret(SERVICE, "A_KEY")


def test_real_keyrings_alt_plaintext_is_refused(use_backend, tmp_path) -> None:
    alt = pytest.importorskip("keyrings.alt.file")
    backend = alt.PlaintextKeyring()
    backend.file_path = str(tmp_path / "keyring_pass.cfg")
    use_backend(backend)
    with pytest.raises(keyring_store.InsecureKeyringError, match=r"PlaintextKeyring \(keyrings"):
        keyring_store.set_secret(SERVICE, "credential", CREDENTIAL)
    assert not (tmp_path / "keyring_pass.cfg").exists()


def test_hanging_backend_times_out_within_bound(use_backend) -> None:
    backend = use_backend(HangingKeyring())
    # The backend hangs for 30 s: an answer now is the timeout's.
    with pytest.raises(keyring_store.KeyringUnavailableError) as info:
        keyring_store.get_secret(SERVICE, "credential", timeout=0.5)
    message = str(info.value)
    assert "did not answer within 0.5 s" in message
    for alternative in ("NEWAPI_TOKEN", "NEWAPI_TOKEN_FILE", "dotenv:PATH", "json:PATH"):
        assert alternative in message

    # later calls fail at once instead of waiting again: the backend is not asked
    with pytest.raises(keyring_store.KeyringUnavailableError):
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
    with pytest.raises(keyring_store.KeyringUnavailableError, match="locked"):
        keyring_store.get_secret(SERVICE, "credential")


def test_no_backend() -> None:
    with pytest.raises(keyring_store.KeyringUnavailableError) as info:
        keyring_store.get_secret(SERVICE, "credential")
    assert "no keyring backend" in str(info.value)


def test_importing_secrets_does_not_import_keyring() -> None:
    import subprocess
    import sys

    code = (
        "import sys, provisioner.keystore, provisioner.keystore.credentials, "
        "provisioner.keystore.sinks, provisioner.keystore.keyring_store\n"
        "heavy = [m for m in ('keyring', 'subprocess', 'httpx') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "keyring" not in out.stdout.split(",")


def test_a_sandbox_key_in_the_keyring_is_found_by_the_origin_check(file_keyring) -> None:
    """``--sandbox`` names its keys' server by its state file, while the keyring keeps them
    under the service of the URL they came from: the origin check looks where they are."""
    from types import SimpleNamespace

    from provisioner.cli.delivery import make_delivery
    from provisioner.secret import Secret

    url = "http://127.0.0.1:41234"

    def connection(state_file: str, user_id: int) -> SimpleNamespace:
        return SimpleNamespace(
            url=url,
            credential=Secret("c" * 48),
            origin=f"sandbox:{state_file}",
            info=SimpleNamespace(user_id=user_id),
        )

    first = make_delivery("keyring", connection("/a/.provisioner/sandbox.db", 1))
    assert first is not None and first.deliver([("app", "APP", KEY)]) == {}
    assert keyring_store.get_secret(f"provisioner:{url}", "APP") == KEY
    assert first.foreign(["APP"]) == {}  # its own key
    for other in (connection("/b/.provisioner/sandbox.db", 1), connection(first.origin[8:], 2)):
        second = make_delivery("keyring", other)
        assert second is not None
        refusal = second.foreign(["APP"])["APP"]
        assert "sandbox:/a/.provisioner/sandbox.db user 1" in refusal
