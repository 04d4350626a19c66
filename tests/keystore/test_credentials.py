"""Credential order, refusals, user id, URL checks, TLS settings."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from keyhelpers import CREDENTIAL, KEY, RecordingKeyring

from provisioner.errors import CredentialError, SettingError
from provisioner.exitcodes import ExitCode
from provisioner.keystore import keyring_store
from provisioner.keystore.credentials import (
    parse_user_id,
    resolve_credential,
    resolve_user_id,
    ssl_verify_setting,
)
from provisioner.keystore.urls import check_url, is_loopback_host, normalize_url
from provisioner.secret import Secret

URL = "https://api.example.com"
SERVICE = "provisioner:https://api.example.com"


def stored(backend: RecordingKeyring, value: str, username: str = "credential") -> None:
    backend.store[(SERVICE, username)] = value


# --------------------------------------------------------------------------- order


def test_env_token_wins_over_file_and_keyring(tmp_path: Path, use_backend) -> None:
    backend = use_backend(RecordingKeyring())
    stored(backend, "from-keyring-xyz")
    token_file = tmp_path / "token"
    token_file.write_text("from-file-xyz\n")
    env = {"NEWAPI_TOKEN": CREDENTIAL.reveal(), "NEWAPI_TOKEN_FILE": str(token_file)}
    secret, source = resolve_credential(URL, env)
    assert (secret, source) == (CREDENTIAL, "NEWAPI_TOKEN")
    assert backend.calls == []


def test_token_file_used_and_stripped(tmp_path: Path, use_backend) -> None:
    backend = use_backend(RecordingKeyring())
    token_file = tmp_path / "token"
    token_file.write_text(f"  {CREDENTIAL.reveal()}\n\n")
    secret, source = resolve_credential(URL, {"NEWAPI_TOKEN_FILE": str(token_file)})
    assert (secret, source) == (CREDENTIAL, "NEWAPI_TOKEN_FILE")
    assert backend.calls == []


def test_empty_env_token_falls_through_to_file(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(CREDENTIAL.reveal())
    env = {"NEWAPI_TOKEN": "  ", "NEWAPI_TOKEN_FILE": str(token_file)}
    assert resolve_credential(URL, env)[1] == "NEWAPI_TOKEN_FILE"


def test_keyring_used_last(use_backend) -> None:
    backend = use_backend(RecordingKeyring())
    stored(backend, CREDENTIAL.reveal())
    secret, source = resolve_credential(URL + "/", {})
    assert (secret, source) == (CREDENTIAL, "keyring")


@pytest.mark.parametrize("ci", ["true", "1", "yes"])
def test_ci_skips_keyring(use_backend, ci: str) -> None:
    backend = use_backend(RecordingKeyring())
    stored(backend, CREDENTIAL.reveal())
    with pytest.raises(CredentialError) as info:
        resolve_credential(URL, {"CI": ci})
    assert backend.calls == []
    assert info.value.exit_code == ExitCode.AUTH
    assert "CI is set" in str(info.value)
    assert "NEWAPI_TOKEN_FILE" in str(info.value)


def test_ci_false_still_uses_keyring(use_backend) -> None:
    backend = use_backend(RecordingKeyring())
    stored(backend, CREDENTIAL.reveal())
    assert resolve_credential(URL, {"CI": "false"})[1] == "keyring"


def test_nothing_found_names_every_way(use_backend) -> None:
    use_backend(RecordingKeyring())
    with pytest.raises(CredentialError) as info:
        resolve_credential(URL, {})
    message = str(info.value)
    assert info.value.exit_code == ExitCode.AUTH
    for way in ("NEWAPI_TOKEN", "NEWAPI_TOKEN_FILE", "provisioner login"):
        assert way in message


def test_unavailable_keyring_is_one_clear_error() -> None:
    # the autouse fixture leaves keyring's fail backend in place
    with pytest.raises(CredentialError) as info:
        resolve_credential(URL, {})
    message = str(info.value)
    assert info.value.exit_code == ExitCode.AUTH
    assert "keyring is unavailable" in message
    assert "NEWAPI_TOKEN_FILE" in message
    assert "dotenv:PATH" in message


# --------------------------------------------------------------------------- refusals


def _sk_checks(info: pytest.ExceptionInfo[CredentialError]) -> None:
    message = str(info.value)
    assert info.value.exit_code == ExitCode.AUTH
    assert KEY.reveal() not in message
    assert "relay API key" in message
    assert "/v1" in message
    assert "系统访问令牌" in message and "System Access Token" in message
    assert "nap_" in message and "api_key:reveal" in message


def test_sk_key_refused_from_env() -> None:
    with pytest.raises(CredentialError) as info:
        resolve_credential(URL, {"NEWAPI_TOKEN": KEY.reveal()})
    _sk_checks(info)
    assert "NEWAPI_TOKEN" in str(info.value)


def test_sk_key_refused_from_file(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(KEY.reveal() + "\n")
    with pytest.raises(CredentialError) as info:
        resolve_credential(URL, {"NEWAPI_TOKEN_FILE": str(token_file)})
    _sk_checks(info)


def test_sk_key_refused_from_keyring(use_backend) -> None:
    backend = use_backend(RecordingKeyring())
    stored(backend, KEY.reveal())
    with pytest.raises(CredentialError) as info:
        resolve_credential(URL, {})
    _sk_checks(info)


@pytest.mark.parametrize("value", ["Bearer abcdefgh", "abc\ndef", "tökén"])
def test_malformed_credential_refused_without_echo(value: str) -> None:
    with pytest.raises(CredentialError) as info:
        resolve_credential(URL, {"NEWAPI_TOKEN": value})
    assert info.value.exit_code == ExitCode.AUTH
    assert value not in str(info.value)


def test_token_file_missing(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(CredentialError) as info:
        resolve_credential(URL, {"NEWAPI_TOKEN_FILE": str(missing)})
    assert info.value.exit_code == ExitCode.AUTH
    assert str(missing) in str(info.value) and "does not exist" in str(info.value)


def test_token_file_empty(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("  \n")
    with pytest.raises(CredentialError) as info:
        resolve_credential(URL, {"NEWAPI_TOKEN_FILE": str(empty)})
    assert "is empty" in str(info.value)


def test_token_file_is_directory(tmp_path: Path) -> None:
    with pytest.raises(CredentialError) as info:
        resolve_credential(URL, {"NEWAPI_TOKEN_FILE": str(tmp_path)})
    assert "directory" in str(info.value)


def test_token_file_unreadable(tmp_path: Path) -> None:
    import os

    if os.geteuid() == 0:
        pytest.skip("root reads any file")
    locked = tmp_path / "locked"
    locked.write_text("x")
    locked.chmod(0)
    with pytest.raises(CredentialError) as info:
        resolve_credential(URL, {"NEWAPI_TOKEN_FILE": str(locked)})
    assert "permission denied" in str(info.value)


# --------------------------------------------------------------------------- user id


@pytest.mark.parametrize(("text", "expected"), [("1", 1), (" 42 ", 42), ("007", 7)])
def test_user_id_parsed(text: str, expected: int) -> None:
    assert resolve_user_id({"NEWAPI_USER_ID": text}) == expected


@pytest.mark.parametrize("text", ["0", "-1", "abc", "1.5", "Bearer 1", "١", "+3"])
def test_user_id_refused(text: str) -> None:
    with pytest.raises(SettingError) as info:
        resolve_user_id({"NEWAPI_USER_ID": text})
    assert info.value.exit_code == ExitCode.USAGE
    assert "positive decimal" in str(info.value)


def test_user_id_absent() -> None:
    assert resolve_user_id({}) is None
    assert resolve_user_id({}, URL) is None  # keyring unavailable: best effort


def test_user_id_from_keyring_fallback(use_backend) -> None:
    backend = use_backend(RecordingKeyring())
    stored(backend, "12", "user_id")
    assert resolve_user_id({}, URL) == 12
    assert resolve_user_id({"NEWAPI_USER_ID": "3"}, URL) == 3
    assert resolve_user_id({"CI": "true"}, URL) is None


def test_parse_user_id_names_source() -> None:
    with pytest.raises(SettingError, match="--user-id"):
        parse_user_id("x", "--user-id")


# --------------------------------------------------------------------------- URL


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://api.example.com/", "https://api.example.com"),
        ("HTTPS://API.Example.COM", "https://api.example.com"),
        ("https://api.example.com:8443/base/", "https://api.example.com:8443/base"),
        (" https://api.example.com ", "https://api.example.com"),
        ("http://[::1]:3000/", "http://[::1]:3000"),
    ],
)
def test_normalize_url(url: str, expected: str) -> None:
    assert normalize_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:3000",
        "http://LOCALHOST",
        "http://127.0.0.1:3000/",
        "http://127.8.9.10",
        "http://[::1]:3000",
        "http://[::ffff:127.0.0.1]",
    ],
)
def test_http_to_loopback_allowed(url: str) -> None:
    assert check_url(url, insecure_http=False).startswith("http://")


@pytest.mark.parametrize(
    "url",
    [
        "http://api.example.com",
        "http://10.0.0.5:3000",
        "http://128.0.0.1",
        "http://localhost.example.com",
        "http://[::2]",
    ],
)
def test_http_to_remote_refused(url: str) -> None:
    with pytest.raises(SettingError) as info:
        check_url(url, insecure_http=False)
    assert info.value.exit_code == ExitCode.USAGE
    assert "--insecure-http" in str(info.value)
    assert check_url(url, insecure_http=True).startswith("http://")


def test_https_always_allowed() -> None:
    assert check_url("https://api.example.com", insecure_http=False) == URL


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("ftp://api.example.com", "https://"),
        ("api.example.com", "https://"),
        ("https://", "no host"),
        ("https://api.example.com/?x=1", "query"),
        ("https://api.example.com:99999", "invalid server URL"),
    ],
)
def test_malformed_urls(url: str, fragment: str) -> None:
    with pytest.raises(SettingError) as info:
        check_url(url, insecure_http=False)
    assert info.value.exit_code == ExitCode.USAGE
    assert fragment in str(info.value)


def test_url_with_credentials_refused_without_echo() -> None:
    secret = CREDENTIAL.reveal()
    with pytest.raises(SettingError) as info:
        check_url(f"https://root:{secret}@api.example.com", insecure_http=False)
    assert info.value.exit_code == ExitCode.USAGE
    assert secret not in str(info.value)
    assert "user name or password" in str(info.value)


def test_loopback_helper() -> None:
    assert is_loopback_host("127.0.0.1") and is_loopback_host("::1")
    assert not is_loopback_host("example.com") and not is_loopback_host("")


# --------------------------------------------------------------------------- TLS


def _bundle() -> str:
    import certifi

    return certifi.where()


def test_tls_default_is_true() -> None:
    assert ssl_verify_setting({}) is True


@pytest.mark.parametrize("variable", ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"])
def test_tls_custom_bundle(variable: str) -> None:
    setting = ssl_verify_setting({variable: _bundle()})
    assert isinstance(setting, ssl.SSLContext)
    assert setting.verify_mode == ssl.CERT_REQUIRED and setting.check_hostname
    assert setting.cert_store_stats()["x509_ca"] > 0


def test_tls_cert_dir(tmp_path: Path) -> None:
    setting = ssl_verify_setting({"SSL_CERT_DIR": f"/nonexistent:{tmp_path}"})
    assert isinstance(setting, ssl.SSLContext)
    assert setting.verify_mode == ssl.CERT_REQUIRED


@pytest.mark.parametrize(
    "env",
    [{"SSL_CERT_FILE": "/nonexistent/ca.pem"}, {"SSL_CERT_DIR": "/nonexistent"}],
)
def test_tls_bad_path_is_usage_error(env: dict[str, str]) -> None:
    with pytest.raises(SettingError) as info:
        ssl_verify_setting(env)
    assert info.value.exit_code == ExitCode.USAGE


def test_tls_bundle_that_is_not_pem(tmp_path: Path) -> None:
    bogus = tmp_path / "ca.pem"
    bogus.write_text("not a certificate")
    with pytest.raises(SettingError):
        ssl_verify_setting({"SSL_CERT_FILE": str(bogus)})


def test_tls_setting_accepted_by_httpx() -> None:
    import httpx

    for env in ({}, {"SSL_CERT_FILE": _bundle()}):
        setting = ssl_verify_setting(env)
        assert setting is not False
        with httpx.Client(verify=setting):
            pass


def test_keyring_store_service_name() -> None:
    assert keyring_store.service_name(URL + "/") == SERVICE
    assert Secret("x") == Secret("x")


def test_service_name_is_normalized() -> None:
    assert keyring_store.service_name("HTTPS://API.Example.com/") == SERVICE
    assert keyring_store.service_name("not a url/") == "provisioner:not a url"
