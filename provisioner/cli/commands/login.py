"""``provisioner login``: store a management credential in the OS keyring.

The credential is read with no echo from the terminal, or as one line from
stdin when stdin is not a terminal (``printf %s "$TOKEN" | provisioner login
--url ...``); never from argv. It is stored under service
``provisioner:<url>``, user ``credential``; ``--user-id`` under user
``user_id``. The server is not contacted.
"""

from __future__ import annotations

import os
import sys

from provisioner.cli.options import LoginOptions
from provisioner.exitcodes import ExitCode
from provisioner.newapi.dialect import TOOL_SCOPES, scoped_credential


def _say(opts: LoginOptions, message: str) -> None:
    if not opts.common.quiet:
        print(message, file=sys.stderr)


# Where each generation's credential is made: the console, since no tool can make an
# rc.41+ personal access token (docs/credentials.md#scoped-access-tokens).
WHERE = (
    "  new-api v1.0.0-rc.41 and later: a personal access token (nap_...), made in the\n"
    "  console: Settings -> Access tokens, with the scopes\n"
    f"  {', '.join(TOOL_SCOPES)}\n"
    "  older servers: the system access token (个人设置 -> 系统访问令牌)\n"
)


def _read_credential(url: str) -> str:
    if sys.stdin is not None and sys.stdin.isatty():
        import getpass

        sys.stderr.write(f"Management credential for {url}\n{WHERE}")
        sys.stderr.flush()
        return getpass.getpass("Paste it (input is hidden): ")
    if sys.stdin is None:
        return ""
    return sys.stdin.readline()


def run(opts: LoginOptions) -> int:
    """Store the credential; every failure is a :class:`ProvisionerError` (main reports it)."""
    from provisioner.errors import CredentialError, ProvisionerError, SettingError, UsageError
    from provisioner.keystore import keyring_store
    from provisioner.keystore.credentials import (
        CREDENTIAL_USERNAME,
        USER_ID_USERNAME,
        check_credential_text,
    )
    from provisioner.keystore.urls import check_url, is_loopback_host

    url_text = opts.url or os.environ.get("NEWAPI_URL", "")
    if not url_text.strip():
        raise UsageError(
            "no server URL: pass --url URL or set NEWAPI_URL (the credential is stored per server)."
        )
    # Storing a credential for an http:// server is allowed; using it
    # needs --insecure-http on the server commands (checked there).
    url = check_url(url_text, insecure_http=True)

    user_id = opts.user_id
    if user_id is not None and user_id <= 0:
        raise UsageError("--user-id must be a positive user id (e.g. 1).")

    try:
        text = _read_credential(url)
    except (EOFError, KeyboardInterrupt):
        print("", file=sys.stderr)
        raise UsageError("no credential entered; nothing stored.") from None
    try:
        credential = check_credential_text(text, "the credential entered")
    except (CredentialError, SettingError) as exc:
        raise type(exc)(f"{exc} Nothing was stored.", exc.exit_code) from None

    from provisioner.secret import Secret

    service = keyring_store.service_name(url)
    try:
        keyring_store.set_secret(service, CREDENTIAL_USERNAME, credential)
        if user_id is not None:
            keyring_store.set_secret(service, USER_ID_USERNAME, Secret(str(user_id)))
        backend = keyring_store.backend_name()
    except keyring_store.KeyringUnavailableError as exc:
        raise ProvisionerError(str(exc), ExitCode.ERROR) from None
    scoped = scoped_credential(credential.reveal())

    if opts.common.output == "json":  # docs/json.md#login-provisioner-login---output-json
        from provisioner.render.plan import dumps, json_head

        sys.stdout.write(
            dumps(
                {
                    **json_head("login"),
                    "url": url,
                    "stored": True,
                    "credential": str(credential),
                    "credential_kind": "personal access token" if scoped else "access token",
                    "backend": backend,
                    "service": service,
                    "user": CREDENTIAL_USERNAME,
                    "user_id": user_id,
                }
            )
        )
    _say(
        opts,
        f"Stored the credential ({credential}) for {url} in the OS keyring "
        f"[{backend}], service {service!r}, user {CREDENTIAL_USERNAME!r}"
        + (f"; user id {user_id} under user {USER_ID_USERNAME!r}" if user_id is not None else "")
        + ".",
    )
    if scoped:
        _say(
            opts,
            "It is a personal access token (nap_): run `provisioner check` to see its scopes "
            f"(the tool needs {', '.join(TOOL_SCOPES)}).",
        )
    else:
        _say(
            opts,
            "note: on new-api v1.0.0-rc.41 and later this is a legacy access token, which the "
            "server retires 30 days after its upgrade; a personal access token (nap_...) made "
            "in the console (Settings -> Access tokens) replaces it.",
        )
    if os.environ.get("NEWAPI_TOKEN") or os.environ.get("NEWAPI_TOKEN_FILE"):
        _say(
            opts,
            "note: NEWAPI_TOKEN / NEWAPI_TOKEN_FILE is set and takes precedence over the keyring.",
        )
    if url.startswith("http://"):
        from urllib.parse import urlsplit

        if not is_loopback_host(urlsplit(url).hostname or ""):
            _say(
                opts, "note: this is a plain http:// server; server commands need --insecure-http."
            )
    return ExitCode.OK
