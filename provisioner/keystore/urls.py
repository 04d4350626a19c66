"""The server URL: normalized once, and refused when it would leak the credential.

Errors are :class:`~provisioner.errors.SettingError` (exit 64).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit, urlunsplit

from provisioner.errors import SettingError

HOW_TO_PROVIDE = (
    "Provide the management credential in one of these ways: "
    "the NEWAPI_TOKEN environment variable, "
    "NEWAPI_TOKEN_FILE (a path to a file holding only the credential), "
    "or `provisioner login --url URL` (stores it in the OS keyring)."
)


def normalize_url(url: str) -> str:
    """``https://Host:443/base/`` -> ``https://host:443/base``; SettingError (64) if malformed.

    Scheme and host are lower-cased, the trailing slash is removed. A URL with
    a user name or password, a query or a fragment is refused: the URL names
    a server, and credentials never live in it.
    """
    text = url.strip()
    try:
        parts = urlsplit(text)
        port = parts.port  # raises ValueError on a bad port
    except ValueError as exc:
        raise SettingError(f"invalid server URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise SettingError(
            f"invalid server URL {without_userinfo(text)!r}: it must start with https:// "
            "(or http:// for a local server)"
        )
    if parts.username is not None or parts.password is not None:
        raise SettingError(
            "the server URL must not contain a user name or password; " + HOW_TO_PROVIDE
        )
    host = parts.hostname
    if not host:
        raise SettingError(f"invalid server URL {without_userinfo(text)!r}: no host name")
    if parts.query or parts.fragment:
        raise SettingError(
            f"invalid server URL {without_userinfo(text)!r}: remove the query (?...) or "
            "fragment (#...); give the base URL, e.g. https://api.example.com"
        )
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc = f"{netloc}:{port}"
    path = parts.path.rstrip("/")
    return urlunsplit((scheme, netloc, path, "", ""))


def without_userinfo(text: str) -> str:
    """A URL for a message, with any user name and password masked: everything between
    the scheme and the last ``@`` becomes ``***`` (a password holding ``/``, ``?`` or
    ``#`` is masked too; an ``@`` further on costs the host, never the secret)."""
    if "@" not in text:
        return text
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "", text
    host_part = rest.rsplit("@", 1)[1]
    return f"{scheme}{sep}***@{host_part}"


def is_loopback_host(host: str) -> bool:
    """``localhost``, 127.0.0.0/8, ``::1`` (and ``::ffff:127.x.x.x``).

    Not :func:`provisioner.newapi.proxies.is_loopback` (which reaches past the proxy): this
    one decides where plain http may carry the credential without --insecure-http, and takes
    no name under ``.localhost`` (the resolver decides where such a name goes); that one
    takes those names and not the ``::ffff:`` form. Merging them changes what one allows.
    """
    host = host.strip("[]").lower().rstrip(".")
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def check_url(url: str, *, insecure_http: bool) -> str:
    """Normalize the server URL and refuse plain http to a non-loopback host.

    Returns the normalized URL. Raises SettingError (exit 64).
    """
    normalized = normalize_url(url)
    parts = urlsplit(normalized)
    if parts.scheme == "http" and not insecure_http and not is_loopback_host(parts.hostname or ""):
        raise SettingError(
            f"refusing plain http:// to {parts.hostname}: the credential and new keys would "
            "cross the network unencrypted. Use https://, or pass --insecure-http if you "
            "accept that risk (plain http is allowed without it only for localhost, "
            "127.0.0.0/8 and ::1)."
        )
    return normalized
