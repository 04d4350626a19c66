"""What every test starts from (a clean environment, a home of its own, no keyring), and
which tests are slow.

As httpx's ``clean_environ``: no test sees the caller's CI variables, credentials,
proxies, CA bundles or colour settings, and none can reach the developer's keyring, git
configuration or home. A test that needs a variable sets it itself (``monkeypatch.setenv``,
``Cli.env``, ``run_main(env=...)``). A subprocess started with ``{**os.environ, ...}`` (or
with no ``env=``) inherits this clean environment.

Two tiers: ``python -m pytest -n 2 -m "not slow"`` is the fast one, for every edit;
``python -m pytest -n 2`` runs everything, as CI does. :data:`SLOW` says what is slow.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring.core
import pytest
from keyring.backends import fail

from provisioner.keystore import keyring_store

HERE = Path(__file__).parent

# The slow tier: every test below these paths is marked ``slow`` (a folder counts for the
# files added to it later).
SLOW = {
    "e2e": "the real CLI against a sandbox over HTTP, one or more runs per test",
    "faults": "the fault matrix, hostile servers, signals, concurrent applies",
    "conformance": "every recorded server generation replayed",
    "spec/test_validate_cli.py": "the CLI as a subprocess per test",
    "spec/test_property.py": "hypothesis: hundreds of generated files",
    "sandbox/test_cli.py": "the sandbox as a subprocess",
    "secrets/test_login_command.py": "login as a subprocess",
    "secrets/test_secret_service.py": "gnome-keyring in a private D-Bus session",
    "test_packaging.py": "builds the wheel",
    "test_clean_environ.py": "pytest in a subprocess, twice",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    slow = [HERE / path for path in SLOW]
    for item in items:
        if any(item.path.is_relative_to(path) for path in slow):
            item.add_marker(pytest.mark.slow)


# Every variable starting with one of these is removed.
DROPPED_PREFIXES = (
    "GITHUB_",  # GITHUB_ACTIONS turns on workflow commands; GITHUB_STEP_SUMMARY gets written
    "RUNNER_",  # the rest of a GitHub runner's context
    "NEWAPI_",  # the server, the credential, the user id
    "PROVISIONER_",  # rate limit, retry policy, lock folder
    "GIT_",  # GIT_DIR, GIT_INDEX_FILE (set when pytest runs from a git hook), GIT_CONFIG_*
    "XDG_",  # where keyring backends and git keep files: the private HOME below decides
    "DBUS_",  # the desktop session bus, through which the real keyring answers
    "GNOME_KEYRING_",
    "KEYRING_PROPERTY_",  # keyring backend settings
)

# These are removed too (compared without case: proxies come as http_proxy and HTTP_PROXY).
DROPPED = frozenset(
    name.upper()
    for name in (
        "CI",
        "NO_COLOR",
        "FORCE_COLOR",
        "CLICOLOR",
        "CLICOLOR_FORCE",
        "TERM",  # TERM=dumb turns colour off; a pseudo-terminal test sets its own
        "COLORTERM",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        "SSLKEYLOGFILE",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "NO_PROXY",
        "NETRC",
        "PYTHON_KEYRING_BACKEND",
    )
)

# Set for every test: subprocesses find no keyring and no system git configuration.
SET = {
    "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def dropped(name: str) -> bool:
    """Whether the clean environment leaves ``name`` out."""
    return name.upper() in DROPPED or name.upper().startswith(DROPPED_PREFIXES)


@pytest.fixture(autouse=True)
def clean_environ(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """The environment without the caller's variables, HOME a fresh folder, no keyring.

    In this process the keyring is the ``fail`` backend (a test that needs one installs
    it, see tests/keystore/conftest.py); a subprocess gets the same through
    ``PYTHON_KEYRING_BACKEND``.
    """
    for name in [name for name in os.environ if dropped(name)]:
        monkeypatch.delenv(name)
    for name, value in SET.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("home")))

    previous = keyring.core._keyring_backend
    keyring.set_keyring(fail.Keyring())
    keyring_store.reset()
    yield
    keyring_store.reset()
    keyring.core._keyring_backend = previous
