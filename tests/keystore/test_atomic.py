"""atomic_write: the one way files are replaced (key sinks and saved plans)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from provisioner.keystore.atomic import atomic_write


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_replaces_the_file_whole_and_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "keys.env"
    target.write_text("OLD=1\n", encoding="utf-8")
    atomic_write(target, "NEW=ключ\n")
    assert target.read_text(encoding="utf-8") == "NEW=ключ\n"
    assert [p.name for p in tmp_path.iterdir()] == ["keys.env"]


def test_private_is_0600_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        atomic_write(tmp_path / "keys.json", "{}", private=True)
    finally:
        os.umask(old)
    assert _mode(tmp_path / "keys.json") == 0o600


def test_not_private_takes_the_umask_as_open_does(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        atomic_write(tmp_path / "plan.json", "{}", private=False)
        (tmp_path / "by-open.json").write_text("{}", encoding="utf-8")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "plan.json") == _mode(tmp_path / "by-open.json") == 0o640


def test_a_failed_replace_keeps_the_old_file_and_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "plan.json"
    target.mkdir()  # a folder where the file should go: the rename fails
    with pytest.raises(OSError):
        atomic_write(target, "{}", private=False)
    assert target.is_dir() and [p.name for p in tmp_path.iterdir()] == ["plan.json"]
