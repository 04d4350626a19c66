"""`provisioner validate` through the real CLI (subprocess): exit codes and outputs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

HERE = Path(__file__).parent
REPO = HERE.parents[1]
EXAMPLE = REPO / "examples" / "tokens.yaml"


def validate(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "provisioner", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, **(env or {})},  # clean (tests/conftest.py)
        timeout=60,
        check=False,
    )


def test_valid_example() -> None:
    result = validate("validate", "-f", str(EXAMPLE))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr.strip().endswith("valid, 4 tokens (5 after count)")


def test_invalid_prints_every_error_located() -> None:
    bad = HERE / "bad" / "many_errors.yaml"
    result = validate("validate", "-f", str(bad))
    assert result.returncode == 65
    lines = result.stderr.strip().splitlines()
    assert lines[0] == f"{bad}:4:5: unknown key 'qouta' in token; did you mean 'quota'?"
    assert len(lines) == 5 and lines[-1] == f"{bad}: 4 errors"


def test_github_actions_annotations() -> None:
    bad = HERE / "bad" / "many_errors.yaml"
    result = validate("validate", "-f", str(bad), env={"GITHUB_ACTIONS": "true"})
    assert result.returncode == 65
    assert "::" not in result.stdout  # workflow commands go to stderr, never stdout
    first = result.stderr.splitlines()[0]
    assert first.startswith(f"::error file={bad},line=4,col=5::unknown key 'qouta'")
    warned = validate(
        "validate", "-f", str(HERE / "good" / "long_names.yaml"), env={"GITHUB_ACTIONS": "true"}
    )
    assert warned.returncode == 0
    assert warned.stderr.startswith("::warning file=") and warned.stdout == ""
    as_json = validate(
        "--output", "json", "validate", "-f", str(bad), env={"GITHUB_ACTIONS": "true"}
    )
    assert json.loads(as_json.stdout)["valid"] is False  # one document; the runner reads stderr
    assert as_json.stderr.startswith(f"::error file={bad},line=4,col=5::")


def test_json_output() -> None:
    bad = HERE / "bad" / "duplicate_key.yaml"
    result = validate("--output", "json", "validate", "-f", str(bad))
    assert result.returncode == 65
    document = json.loads(result.stdout)
    assert list(document) == [
        "schema_version",
        "kind",
        "file",
        "valid",
        "errors",
        "warnings",
        "tokens",
        "declared_tokens",
    ]
    assert document["schema_version"] == 1 and document["valid"] is False
    assert document["errors"] == [
        {
            "file": str(bad),
            "line": 5,
            "col": 5,
            "message": "duplicate key 'quota' (first at line 4)",
        }
    ]
    good = json.loads(validate("validate", "--output", "json", "-f", str(EXAMPLE)).stdout)
    assert good["valid"] is True and good["tokens"] == 5 and good["errors"] == []


def test_markdown_output() -> None:
    result = validate(
        "validate", "--output", "markdown", "-f", str(HERE / "bad" / "count_zero.yaml")
    )
    assert result.returncode == 65
    assert "| error |" in result.stdout and "count must be" in result.stdout


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("binary.yaml", bytes(range(256)) * 4),
        ("empty.yaml", b""),
        ("nul.yaml", b"version: 1\x00\ntokens: []\n"),
        ("deep.yaml", b"[" * 5000 + b"]" * 5000),
        ("long_line.yaml", b"version: 1\ntokens: [" + b"a," * 100000 + b"]\n"),
    ],
)
def test_garbage_never_tracebacks(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    result = validate("validate", "-f", str(path))
    assert result.returncode == 65
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(f"{path}:")


def test_directory_and_missing_file(tmp_path: Path) -> None:
    for target, message in ((tmp_path, "is a directory"), (tmp_path / "no.yaml", "no such file")):
        result = validate("validate", "-f", str(target))
        assert result.returncode == 65
        assert f"{target}:1:1: {message}" in result.stderr
        assert "Traceback" not in result.stderr


def test_thousand_tokens(tmp_path: Path) -> None:
    lines = ["version: 1", "keys: {to: keyring}", "defaults:", "  quota: 5 USD", "  expires: 30d"]
    lines.append("tokens:")
    for i in range(1000):
        lines += [
            f"  - name: svc-{i:04d}",
            "    group: auto",
            "    auto_groups: [default, vip]",
            "    models: [gpt-4o-mini, sora-2]",
            "    allow_ips: [10.0.0.0/8]",
            "    rotate: {every: 90d, overlap: 7d}",
        ]
    path = tmp_path / "tokens.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = validate("validate", "-f", str(path))
    assert result.returncode == 0, result.stderr
    assert "valid, 1000 tokens" in result.stderr


def test_pre_commit_hook_runs_every_file() -> None:
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    hook = next(h for h in hooks if h["id"] == "provisioner-validate")
    assert hook["language"] == "python"
    assert re.search(hook["files"], "deploy/tokens.yml") and re.search(hook["files"], "tokens.yaml")
    entry = hook["entry"].split()
    assert entry[0] == "python"
    result = subprocess.run(
        [sys.executable, *entry[1:], str(EXAMPLE), str(HERE / "bad" / "count_zero.yaml")],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert result.returncode == 65
    assert "valid, 4 tokens" in result.stderr and "count_zero.yaml:4:12: count" in result.stderr
