"""The management credential and TLS settings (docs/credentials.md).

Order of credentials: ``NEWAPI_TOKEN``, then ``NEWAPI_TOKEN_FILE``, then the
OS keyring entry written by ``provisioner login`` (skipped when ``CI`` is set;
bounded by a timeout). A relay key (``sk-...``) is refused everywhere: it
authenticates ``/v1`` calls, not the token-management API (docs/server-contract.md#authentication).

Errors never contain the credential, only where it came from.
"""

from __future__ import annotations

import os
import re
import ssl
from collections.abc import Mapping
from pathlib import Path

from provisioner.errors import CredentialError, SettingError
from provisioner.keystore import keyring_store
from provisioner.keystore.urls import HOW_TO_PROVIDE, normalize_url
from provisioner.secret import Secret

CREDENTIAL_USERNAME = "credential"
USER_ID_USERNAME = "user_id"

SOURCE_ENV = "NEWAPI_TOKEN"
SOURCE_FILE = "NEWAPI_TOKEN_FILE"
SOURCE_KEYRING = "keyring"


WHAT_CREDENTIAL = (
    "The management API needs the system access token "
    "(个人设置 → 系统访问令牌 / Settings → System Access Token), "
    "or on v1.0.0-rc.41+ a `nap_` personal access token made in the console "
    "(Settings → Access tokens) with the scopes profile:read, api_key:read, "
    "api_key:write and api_key:reveal."
)
# a personal access token of new-api v1.0.0-rc.41+ (docs/credentials.md#scoped-access-tokens)
PAT_SHAPE = re.compile(r"nap_[0-9A-Za-z]{43}")

SK_REFUSAL = (
    "{source} holds a relay API key (it starts with `sk-`). "
    "An `sk-...` key authenticates model calls under /v1, not token management. " + WHAT_CREDENTIAL
)


def _env_flag(env: Mapping[str, str], name: str) -> bool:
    """A variable counts as set unless empty, ``0``, ``false`` or ``no``."""
    return env.get(name, "").strip().lower() not in ("", "0", "false", "no")


def _check_value(value: str, source: str) -> Secret:
    if value.startswith("sk-"):
        raise CredentialError(SK_REFUSAL.format(source=source))
    if any(ch.isspace() for ch in value) or not value.isprintable() or not value.isascii():
        raise CredentialError(
            f"{source} must hold only the credential: it contains spaces, line breaks or "
            "non-ASCII characters (give the bare token, without `Bearer ` or `NAME=`)."
        )
    return Secret(value)


def check_credential_text(value: str, source: str) -> Secret:
    """Validate a credential typed or piped in (``login``); refuses ``sk-`` keys (exit 77)."""
    value = value.strip()
    if not value:
        raise SettingError(f"{source} is empty. {WHAT_CREDENTIAL}")
    secret = _check_value(value, source)
    if value.startswith("nap_") and not PAT_SHAPE.fullmatch(value):
        raise CredentialError(
            f"{source} starts with nap_ but is not a personal access token: those are nap_ "
            f"and 43 letters and digits, this one has {len(value) - 4} characters after "
            "nap_ (a copy cut short?). Copy the whole token from the console (it is shown "
            "once; make a new one if it is gone)."
        )
    return secret


# --------------------------------------------------------------------------- credential


def _env_state(env: Mapping[str, str]) -> str:
    """What the two variables hold, for a message: an empty one is not an unset one."""
    empty = [name for name in (SOURCE_ENV, SOURCE_FILE) if name in env and not env[name].strip()]
    if not empty:
        return "NEWAPI_TOKEN and NEWAPI_TOKEN_FILE are not set"
    unset = [name for name in (SOURCE_ENV, SOURCE_FILE) if name not in env]
    parts = [
        f"{name} is set but empty (a CI secret that is missing or misspelled?)" for name in empty
    ] + [f"{name} is not set" for name in unset]
    return ", ".join(parts)


def resolve_credential(
    url: str,
    env: Mapping[str, str] = os.environ,
    *,
    keyring_timeout: float = 5.0,
) -> tuple[Secret, str]:
    """The management credential and where it came from.

    The source is ``NEWAPI_TOKEN``, ``NEWAPI_TOKEN_FILE`` or ``keyring``.

    Raises CredentialError (77) when none is found or one is refused (``sk-``),
    SettingError (64) for a malformed URL.
    """
    value = env.get("NEWAPI_TOKEN", "").strip()
    if value:
        return _check_value(value, SOURCE_ENV), SOURCE_ENV

    file_name = env.get("NEWAPI_TOKEN_FILE", "").strip()
    if file_name:
        return _read_token_file(file_name), SOURCE_FILE

    normalized = normalize_url(url)
    if _env_flag(env, "CI"):
        raise CredentialError(
            f"no management credential: {_env_state(env)}, and the OS keyring is not consulted "
            "because CI is set. Set NEWAPI_TOKEN (a CI secret) or NEWAPI_TOKEN_FILE. "
            + WHAT_CREDENTIAL
        )

    service = keyring_store.service_name(normalized)
    try:
        stored = keyring_store.get_secret(service, CREDENTIAL_USERNAME, timeout=keyring_timeout)
    except keyring_store.KeyringUnavailableError as exc:
        raise CredentialError(f"no management credential: {_env_state(env)}, and {exc}") from None
    if stored is None or not stored.reveal().strip():
        raise CredentialError(
            f"no management credential for {normalized}: {_env_state(env)} and the OS keyring "
            f"has no entry (service {service!r}). " + HOW_TO_PROVIDE
        )
    return _check_value(stored.reveal().strip(), f"the keyring entry {service!r}"), SOURCE_KEYRING


def _read_token_file(file_name: str) -> Secret:
    path = Path(file_name).expanduser()
    where = f"NEWAPI_TOKEN_FILE ({path})"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CredentialError(
            f"{where} does not exist. Create it with only the credential in it, or unset "
            "NEWAPI_TOKEN_FILE. " + HOW_TO_PROVIDE
        ) from None
    except IsADirectoryError:
        raise CredentialError(f"{where} is a directory, not a file.") from None
    except PermissionError:
        raise CredentialError(f"{where} cannot be read (permission denied).") from None
    except UnicodeDecodeError:
        raise CredentialError(f"{where} is not UTF-8 text.") from None
    except OSError as exc:
        raise CredentialError(f"{where} cannot be read: {exc.strerror}.") from None
    value = text.strip()
    if not value:
        raise CredentialError(
            f"{where} is empty; put the management credential in it. " + WHAT_CREDENTIAL
        )
    return _check_value(value, where)


# --------------------------------------------------------------------------- user id


def parse_user_id(text: str, source: str = "NEWAPI_USER_ID") -> int:
    """A positive decimal user id (the ``New-Api-User`` header).

    docs/server-contract.md#authentication
    """
    value = text.strip()
    if not (value.isascii() and value.isdecimal()) or int(value) <= 0:
        raise SettingError(
            f"{source} must be a positive decimal user id (e.g. 1), got {value[:20]!r}. "
            "The id is shown in the web UI's personal settings."
        )
    return int(value)


def resolve_user_id(
    env: Mapping[str, str] = os.environ,
    url: str | None = None,
    *,
    keyring_timeout: float = 5.0,
) -> int | None:
    """``NEWAPI_USER_ID``, else (given ``url``, outside CI) the id stored by ``login``, else None.

    A malformed NEWAPI_USER_ID raises SettingError (64). The keyring
    fallback is best effort: an unavailable keyring gives None.
    """
    text = env.get("NEWAPI_USER_ID", "").strip()
    if text:
        return parse_user_id(text)
    if url is None or _env_flag(env, "CI"):
        return None

    try:
        stored = keyring_store.get_secret(
            keyring_store.service_name(normalize_url(url)),
            USER_ID_USERNAME,
            timeout=keyring_timeout,
        )
    except keyring_store.KeyringUnavailableError:
        return None
    if stored is None:
        return None
    return parse_user_id(stored.reveal(), "the user id stored by `provisioner login`")


# --------------------------------------------------------------------------- TLS


def ssl_verify_setting(env: Mapping[str, str] = os.environ) -> bool | str | ssl.SSLContext:
    """What to pass as httpx's ``verify=``: True, or an SSLContext for a custom CA.

    Honours ``REQUESTS_CA_BUNDLE``, then ``SSL_CERT_FILE`` (a PEM bundle) and
    ``SSL_CERT_DIR`` (a hashed directory). A custom bundle replaces the
    default trust store, as it does for requests and OpenSSL. Verification is
    never turned off; a variable pointing nowhere is an error (exit 64).
    """
    cafile = None
    for name in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        value = env.get(name, "").strip()
        if value:
            path = Path(value).expanduser()
            if not path.is_file():
                raise SettingError(
                    f"{name}={value} is not a file; point it at a PEM CA bundle or unset it."
                )
            cafile = str(path)
            break
    capath = None
    dir_value = env.get("SSL_CERT_DIR", "").strip()
    if dir_value:
        # OpenSSL accepts a path list; use the first existing directory.
        for candidate in dir_value.split(os.pathsep):
            if candidate and Path(candidate).expanduser().is_dir():
                capath = str(Path(candidate).expanduser())
                break
        else:
            raise SettingError(
                f"SSL_CERT_DIR={dir_value} is not a directory; point it at a directory of "
                "CA certificates or unset it."
            )
    if cafile is None and capath is None:
        return True
    try:
        context = ssl.create_default_context(cafile=cafile, capath=capath)
    except (ssl.SSLError, OSError) as exc:
        raise SettingError(f"the CA bundle {cafile or capath} cannot be loaded: {exc}") from None
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context
