"""The Secret Service backend for real: gnome-keyring inside a private D-Bus session.

Needs Debian's `gnome-keyring` and `dbus` (`dbus-run-session`); skipped with
the reason when they are absent. Everything lives in tmp_path (HOME and the
XDG directories), so the developer's own keyring is never touched; the daemon
exits with its private bus.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from keyhelpers import CREDENTIAL, KEY

REQUIRED = ("dbus-run-session", "gnome-keyring-daemon")
missing = [name for name in REQUIRED if shutil.which(name) is None]

try:
    import secretstorage  # noqa: F401
except ImportError:  # pragma: no cover - depends on the machine
    missing.append("python package secretstorage")

pytestmark = pytest.mark.skipif(
    bool(missing),
    reason=f"Secret Service test needs {', '.join(missing)} (apt-get install gnome-keyring dbus)",
)

URL = "https://api.example.com"

CHECK = """
import sys
from pathlib import Path
from provisioner.keystore import keyring_store
from provisioner.keystore.credentials import resolve_credential, resolve_user_id
from provisioner.secret import Secret
from provisioner.keystore.sinks import KeyDelivery, KeyringSink

expected = Secret(Path(sys.argv[1]).read_text().strip())
key = Secret(Path(sys.argv[2]).read_text().strip())
secret, source = resolve_credential("https://api.example.com", {})
assert source == "keyring", source
assert secret == expected, "credential differs"
assert resolve_user_id({}, "https://api.example.com") == 5
assert "SecretService" in keyring_store.backend_name()
result = KeyringSink().deliver([KeyDelivery("a", "A_KEY", key, "https://api.example.com")])
assert result[0].ok, result[0].error
service = keyring_store.service_name("https://api.example.com")
assert keyring_store.get_secret(service, "A_KEY") == key
print("SECRET-SERVICE-OK")
"""


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)  # clean: no NEWAPI_*, CI, DBUS_* or GNOME_KEYRING_* (tests/conftest.py)
    for name in ("home", "data", "config", "cache", "run"):
        (tmp_path / name).mkdir(mode=0o700)
    env.update(
        HOME=str(tmp_path / "home"),
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        XDG_RUNTIME_DIR=str(tmp_path / "run"),
        PYTHON_KEYRING_BACKEND="keyring.backends.SecretService.Keyring",
        PYTHONPATH=str(Path(__file__).resolve().parents[2]),
        PY=sys.executable,
    )
    return env


def _in_session(tmp_path: Path, script: str) -> subprocess.CompletedProcess[str]:
    """Run the shell ``script`` in a private D-Bus session ($T is tmp_path, $PY Python)."""
    path = tmp_path / "session.sh"
    path.write_text(script)
    return subprocess.run(
        ["dbus-run-session", "--", "sh", str(path)],
        capture_output=True,
        text=True,
        env={**_env(tmp_path), "T": str(tmp_path)},
        timeout=60,
        cwd=tmp_path,
    )


def test_secret_service_round_trip(tmp_path: Path) -> None:
    (tmp_path / "cred").write_text(CREDENTIAL.reveal())
    (tmp_path / "key").write_text(KEY.reveal())
    (tmp_path / "check.py").write_text(CHECK)
    done = _in_session(
        tmp_path,
        "set -e\n"
        # an unlocked login keyring, created with a throwaway password
        "printf %s test-password"
        ' | gnome-keyring-daemon --unlock --components=secrets > "$T/gk.env"\n'
        'export $(cat "$T/gk.env")\n'
        f'"$PY" -m provisioner login --url {URL}/ --user-id 5 < "$T/cred"\n'
        '"$PY" "$T/check.py" "$T/cred" "$T/key"\n',
    )
    output = done.stdout + done.stderr
    assert CREDENTIAL.reveal() not in output and KEY.reveal() not in output
    assert done.returncode == 0, output[-2000:]
    assert "SECRET-SERVICE-OK" in done.stdout
    assert "SecretService" in done.stderr  # login says where it stored the credential


def test_locked_secret_service_gives_clear_error_quickly(tmp_path: Path) -> None:
    """A daemon with no unlocked collection and no prompter: login fails fast, exit 1."""
    (tmp_path / "cred").write_text(CREDENTIAL.reveal())
    done = _in_session(
        tmp_path,
        'gnome-keyring-daemon --start --components=secrets > "$T/gk.env"\n'
        'export $(cat "$T/gk.env")\n'
        f'"$PY" -m provisioner login --url {URL} < "$T/cred"\n'
        'echo "login-exit=$?"\n',
    )
    assert "login-exit=1" in done.stdout, done.stdout + done.stderr[-2000:]
    assert "keyring" in done.stderr and "NEWAPI_TOKEN_FILE" in done.stderr
    assert CREDENTIAL.reveal() not in done.stdout + done.stderr
