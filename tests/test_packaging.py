"""The wheel carries what an installed tool needs: the package, the schema, the command."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from provisioner.spec.schema import PACKAGED_SCHEMA_PATH, SCHEMA_PATH, render_schema

ROOT = Path(__file__).resolve().parent.parent


def test_the_packaged_schema_is_the_published_one() -> None:
    assert PACKAGED_SCHEMA_PATH.read_text(encoding="utf-8") == render_schema()
    assert SCHEMA_PATH.read_text(encoding="utf-8") == render_schema()


def test_the_wheel_has_its_own_name_the_command_and_the_schema(tmp_path: Path) -> None:
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
    )
    if built.returncode != 0 and "No module named" in built.stderr:
        pytest.skip(f"cannot build a wheel here: {built.stderr.strip()[-200:]}")
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("*.whl")
    assert wheel.name.startswith("newapi_provisioner-")  # not the other project's name
    names = zipfile.ZipFile(wheel).namelist()
    assert "provisioner/data/tokens.schema.json" in names
    assert "provisioner/py.typed" in names
    assert "provisioner/cli/commands/apply.py" in names
    assert not [n for n in names if n.startswith("tests/")]
    (entry_points,) = [n for n in names if n.endswith("entry_points.txt")]
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "provisioner = provisioner.cli:main" in text
