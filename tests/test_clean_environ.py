"""tests/conftest.py holds: the caller's environment never reaches a test.

A small suite runs in a pytest subprocess started with a hostile environment (a GitHub
runner's variables, proxies, colour, credentials, a keyring backend, a home, a git
folder). With tests/conftest.py as a plugin it passes and writes nothing to the step
summary; without it, the same suite fails: its checks are real.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# What a GitHub runner, a proxy, a terminal or a developer's shell may carry.
HOSTILE = {
    "GITHUB_ACTIONS": "true",
    "CI": "true",
    "NO_COLOR": "1",
    "FORCE_COLOR": "1",
    "TERM": "dumb",
    "http_proxy": "http://127.0.0.1:9",
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "no_proxy": "example.com",
    "SSL_CERT_FILE": "/nonexistent/ca.pem",
    "REQUESTS_CA_BUNDLE": "/nonexistent/ca.pem",
    "NEWAPI_URL": "http://127.0.0.1:9",
    "NEWAPI_TOKEN": "outer-credential-0123456789abcdef",
    "PROVISIONER_RATE_LIMIT": "not-a-limit",
    "PYTHON_KEYRING_BACKEND": "keyring.backends.SecretService.Keyring",
    "GIT_DIR": "/nonexistent/.git",
}

INNER = """
import json
import os
import subprocess
import sys
from pathlib import Path

import keyring
from keyring.backends import fail

from provisioner.cli import main

OUTER = {outer!r}
OUTER_HOME = {home!r}
STRAY = [*OUTER, "GITHUB_STEP_SUMMARY", "XDG_DATA_HOME"]
STRAY.remove("PYTHON_KEYRING_BACKEND")  # set, to the fail backend


def test_no_outer_variable_is_seen():
    assert [name for name in STRAY if name in os.environ] == []
    assert os.environ["PYTHON_KEYRING_BACKEND"] == "keyring.backends.fail.Keyring"
    assert os.environ["HOME"] != OUTER_HOME and Path(os.environ["HOME"]).is_dir()


def test_a_subprocess_inherits_the_clean_environment():
    code = "import json, os; print(json.dumps(dict(os.environ)))"
    child = json.loads(
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    )
    assert [name for name in STRAY if name in child] == []
    assert child["PYTHON_KEYRING_BACKEND"] == "keyring.backends.fail.Keyring"


def test_no_keyring_in_process():
    assert isinstance(keyring.get_keyring(), fail.Keyring)


def test_a_test_sets_what_it_needs(monkeypatch):
    monkeypatch.setenv("CI", "true")
    assert os.environ["CI"] == "true"


def test_the_cli_writes_no_workflow_command(tmp_path, capsys):
    spec = tmp_path / "tokens.yaml"
    spec.write_text("version: 1\\ntokens:\\n  - name: a\\n    colour: blue\\n")
    assert main(["validate", "-f", str(spec)]) == 65
    err = capsys.readouterr().err
    assert "tokens.yaml:4:5" in err and "::error" not in err
"""


def _run_inner(tmp_path: Path, *plugin: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    home = tmp_path / "outer-home"
    home.mkdir(exist_ok=True)
    summary = tmp_path / "summary.md"
    summary.touch()
    inner = tmp_path / "inner" / "test_inner.py"
    inner.parent.mkdir(exist_ok=True)
    inner.write_text(INNER.format(outer=sorted(HOSTILE), home=str(home)), encoding="utf-8")
    env = {
        **os.environ,
        **HOSTILE,
        "GITHUB_STEP_SUMMARY": str(summary),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "HOME": str(home),
        "PYTHONPATH": str(ROOT),
    }
    argv = ["-q", "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT), *plugin, str(inner)]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done, summary


def test_the_caller_environment_never_reaches_a_test(tmp_path: Path) -> None:
    done, summary = _run_inner(tmp_path, "-p", "tests.conftest")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "5 passed" in done.stdout, done.stdout
    assert summary.read_text() == ""
    assert list((tmp_path / "outer-home").iterdir()) == []  # nothing written in the caller's home


def test_without_the_fixture_the_same_checks_fail(tmp_path: Path) -> None:
    done, _ = _run_inner(tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    failed = {
        line.split("::")[1].split()[0]
        for line in done.stdout.splitlines()
        if line.startswith("FAILED ")
    }
    assert failed == {
        "test_no_outer_variable_is_seen",
        "test_a_subprocess_inherits_the_clean_environment",
        "test_no_keyring_in_process",
        "test_the_cli_writes_no_workflow_command",
    }, done.stdout
