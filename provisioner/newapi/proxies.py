"""Which proxy, if any, a request to one server goes through (docs/credentials.md#proxies).

The environment's proxy variables are read here, once per client, with the usual
meaning (``https_proxy``/``HTTPS_PROXY`` for https URLs, ``http_proxy``/``HTTP_PROXY``
for http URLs, ``all_proxy``/``ALL_PROXY`` for both, lower case first; ``no_proxy``/
``NO_PROXY`` lists hosts, domains, IPs and networks to reach directly, ``*`` for all).
On top of that, loopback (``localhost``, 127.0.0.0/8, ``::1``) is always reached
directly: a proxy elsewhere cannot reach this machine's sandbox.

The client is then built with the one proxy chosen (or none) and ``trust_env=False``,
so httpx never sets up a proxy this server does not use: a SOCKS proxy meant for
other hosts needs no optional package. A SOCKS proxy this server does use needs
``socksio`` (httpx's ``socks`` extra); without it the run stops with one line
saying so (exit 64), not an ImportError.
"""

from __future__ import annotations

import contextlib
import importlib.util
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from provisioner.errors import UsageError
from provisioner.keystore.urls import without_userinfo

_SCHEMES = ("http", "https", "socks5", "socks5h")


@dataclass(frozen=True)
class Route:
    """How requests to one server travel: directly, or through ``proxy`` (from ``variable``)."""

    proxy: str | None = None  # the proxy URL as configured (may hold a password: never shown)
    variable: str = ""  # the environment variable it came from

    @property
    def shown_proxy(self) -> str:
        """The proxy URL without its user name and password."""
        return without_userinfo(self.proxy or "")

    @property
    def via(self) -> str:
        """`` through the proxy URL (from VARIABLE)``, or nothing for a direct route."""
        if not self.proxy:
            return ""
        return f" through the proxy {self.shown_proxy} (from {self.variable})"

    def httpx_options(self) -> dict[str, Any]:
        """Keyword arguments for ``httpx.Client``: this proxy only, nothing from the environment
        (TLS settings from the environment are read by ``ssl_verify_setting``)."""
        return {"trust_env": False, "proxy": self.proxy}


def route(url: str, env: Mapping[str, str] | None = None) -> Route:
    """The route to ``url`` under the environment's proxy settings; refuses (64) a proxy
    setting that cannot be used for it."""
    env = os.environ if env is None else env
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    scheme = parts.scheme.lower()
    found = _proxy_variable(env, scheme) or _proxy_variable(env, "all")
    if found is None:
        return Route()
    variable, value = found
    port = parts.port or (443 if scheme == "https" else 80)
    if is_loopback(host) or _bypassed(host, port, _no_proxy(env)):
        return Route()  # reached directly
    proxy = value if "://" in value else f"http://{value}"
    proxy_scheme = urlsplit(proxy).scheme.lower()
    shown = without_userinfo(proxy)
    if proxy_scheme not in _SCHEMES or not _well_formed(proxy):
        raise UsageError(
            f"{variable}={shown}: not a proxy URL provisioner can use (expected "
            f"http://HOST:PORT, https://... or socks5://...); fix it, unset it, or list "
            f"{host} in NO_PROXY to reach it directly"
        )
    if proxy_scheme.startswith("socks") and importlib.util.find_spec("socksio") is None:
        raise UsageError(
            f"{variable}={shown} is a SOCKS proxy, which needs the optional package socksio "
            "(pip install 'httpx[socks]' next to provisioner); or list "
            f"{host} in NO_PROXY to reach it directly, or unset {variable}"
        )
    return Route(proxy=proxy, variable=variable)


def is_loopback(host: str) -> bool:
    """``localhost`` (and names under it), 127.0.0.0/8 and ``::1``.

    Not :func:`provisioner.keystore.urls.is_loopback_host` (which lets plain http carry the
    credential): this one decides what is reached past a configured proxy, and takes names
    under ``.localhost`` (this machine, RFC 6761) but not ``::ffff:127.x`` (ipaddress does
    not call that form loopback); that one takes the ``::ffff:`` form and no ``.localhost``
    names. Merging them changes what one allows.
    """
    host = host.strip("[]").lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _proxy_variable(env: Mapping[str, str], scheme: str) -> tuple[str, str] | None:
    """(name, value) of ``SCHEME_proxy`` (lower case first, as curl and urllib read it)."""
    for name in (f"{scheme}_proxy", f"{scheme.upper()}_PROXY"):
        value = env.get(name, "").strip()
        if value:
            return name, value
    return None


def _no_proxy(env: Mapping[str, str]) -> list[str]:
    text = env.get("no_proxy") or env.get("NO_PROXY") or ""
    return [entry.strip().lower() for entry in text.split(",") if entry.strip()]


def _bypassed(host: str, port: int, entries: list[str]) -> bool:
    """curl's NO_PROXY: ``*``; a host name matching itself and the names under it (a leading
    dot is ignored); an IP address or network; an entry's ``:PORT`` must match too."""
    address = None
    with contextlib.suppress(ValueError):
        address = ipaddress.ip_address(host.strip("[]"))
    for entry in entries:
        if entry == "*":
            return True
        name, entry_port = entry, None
        if entry.count(":") == 1 and not entry.startswith("["):  # host:port, not IPv6
            name, _, port_text = entry.partition(":")
            entry_port = int(port_text) if port_text.isdigit() else None
        name = name.strip("[]").lstrip(".").rstrip(".")
        if entry_port is not None and entry_port != port:
            continue
        if address is not None:
            try:
                if address in ipaddress.ip_network(name, strict=False):
                    return True
            except ValueError:
                pass
            continue
        if name and (host == name or host.endswith("." + name)):
            return True
    return False


def _well_formed(proxy: str) -> bool:
    """A URL httpx takes as a proxy, with a host (and a port that is a number, if any)."""
    import httpx

    if any(char.isspace() for char in proxy):
        return False
    try:
        parts = urlsplit(proxy)
        _ = parts.port  # ValueError for a port that is not a number
        httpx.Proxy(proxy)
    except (httpx.InvalidURL, ValueError, TypeError):
        return False
    return bool(parts.hostname)
