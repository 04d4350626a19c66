"""Which proxy a server is reached through (provisioner/newapi/proxies.py), table-driven."""

from __future__ import annotations

import importlib.util

import pytest

from provisioner.errors import UsageError
from provisioner.newapi.proxies import Route, is_loopback, route

PROXY = "http://proxy.corp:3128"

CASES = [
    # (url, environment, proxy used, variable)
    ("https://api.example.com", {}, None, ""),
    ("https://api.example.com", {"HTTPS_PROXY": PROXY}, PROXY, "HTTPS_PROXY"),
    (
        "https://api.example.com",
        {"https_proxy": PROXY, "HTTPS_PROXY": "http://x:1"},
        PROXY,
        "https_proxy",
    ),
    ("https://api.example.com", {"HTTP_PROXY": PROXY}, None, ""),  # http_proxy is for http URLs
    ("http://api.example.com", {"http_proxy": PROXY}, PROXY, "http_proxy"),
    ("https://api.example.com", {"ALL_PROXY": PROXY}, PROXY, "ALL_PROXY"),
    ("https://api.example.com", {"all_proxy": "proxy.corp:3128"}, PROXY, "all_proxy"),
    # loopback never goes through a proxy
    *[
        (url, {"HTTP_PROXY": PROXY, "HTTPS_PROXY": PROXY, "ALL_PROXY": PROXY}, None, "")
        for url in (
            "http://127.0.0.1:3000",
            "http://127.9.8.7:3000",
            "http://[::1]:3000",
            "http://localhost:3000",
            "https://LOCALHOST.",
            "http://app.localhost:8080",
        )
    ],
    # NO_PROXY, as curl reads it
    ("https://api.example.com", {"HTTPS_PROXY": PROXY, "NO_PROXY": "example.com"}, None, ""),
    ("https://api.example.com", {"HTTPS_PROXY": PROXY, "no_proxy": ".example.com"}, None, ""),
    ("https://api.example.com", {"HTTPS_PROXY": PROXY, "NO_PROXY": "*"}, None, ""),
    (
        "https://myexample.com",
        {"HTTPS_PROXY": PROXY, "NO_PROXY": "example.com"},
        PROXY,
        "HTTPS_PROXY",
    ),
    ("https://10.1.2.3", {"HTTPS_PROXY": PROXY, "NO_PROXY": "10.0.0.0/8"}, None, ""),
    ("https://11.1.2.3", {"HTTPS_PROXY": PROXY, "NO_PROXY": "10.0.0.0/8"}, PROXY, "HTTPS_PROXY"),
    (
        "https://api.example.com:8443",
        {"HTTPS_PROXY": PROXY, "NO_PROXY": "api.example.com:8443"},
        None,
        "",
    ),
    (
        "https://api.example.com",
        {"HTTPS_PROXY": PROXY, "NO_PROXY": "api.example.com:8443"},
        PROXY,
        "HTTPS_PROXY",
    ),
    # a SOCKS proxy for other hosts never matters to this one
    ("https://api.example.com", {"HTTP_PROXY": "socks5://s:1080"}, None, ""),
    ("http://127.0.0.1:3000", {"ALL_PROXY": "socks5://s:1080"}, None, ""),
]


@pytest.mark.parametrize(("url", "env", "proxy", "variable"), CASES)
def test_route(url: str, env: dict[str, str], proxy: str | None, variable: str) -> None:
    chosen = route(url, env)
    assert (chosen.proxy, chosen.variable) == (proxy, variable)
    assert chosen.httpx_options() == {"trust_env": False, "proxy": proxy}


def test_the_proxy_is_named_without_its_password() -> None:
    chosen = route("https://api.example.com", {"HTTPS_PROXY": "http://me:s3cret@proxy.corp:3128"})
    assert chosen.via == " through the proxy http://***@proxy.corp:3128 (from HTTPS_PROXY)"
    assert "s3cret" not in chosen.via and Route().via == ""


@pytest.mark.parametrize("value", ["http://bad host:1", "http://h:port", "ftp://h:21", "http://"])
def test_a_proxy_setting_that_cannot_work_is_a_usage_error(value: str) -> None:
    with pytest.raises(UsageError, match=r"HTTPS_PROXY=.*not a proxy URL .* NO_PROXY") as caught:
        route("https://api.example.com", {"HTTPS_PROXY": value})
    assert caught.value.exit_code == 64


@pytest.mark.skipif(importlib.util.find_spec("socksio") is not None, reason="socksio installed")
def test_a_socks_proxy_without_socksio_is_one_line() -> None:
    with pytest.raises(UsageError) as caught:
        route("https://api.example.com", {"ALL_PROXY": "socks5://me:pw@s:1080"})
    message = str(caught.value)
    assert message.startswith("ALL_PROXY=socks5://***@s:1080 is a SOCKS proxy, which needs")
    assert "socksio" in message and "pw" not in message and "\n" not in message


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.255.0.9", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("a.localhost", True),
        ("localhost.example.com", False),
        ("128.0.0.1", False),
        ("::2", False),
        ("example.com", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize("value", ["http://me:s3/cret@proxy.corp:3128", "me:s3#cret@proxy.corp"])
def test_a_password_that_breaks_the_url_is_masked_too(value: str) -> None:
    """Masking stops at the last ``@``, not at the first ``/`` or ``#`` of the password."""
    with pytest.raises(UsageError) as caught:
        route("https://api.example.com", {"HTTPS_PROXY": value})
    message = str(caught.value)
    assert "cret" not in message and "s3" not in message
    assert "HTTPS_PROXY=http://***@proxy.corp" in message
