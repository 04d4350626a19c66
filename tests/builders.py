"""Builders shared by the tests: tokens as the server lists them, a git repository."""

from __future__ import annotations

import subprocess
from itertools import count
from pathlib import Path
from typing import Any

from provisioner.observed import ObservedToken

NOW = 1_800_000_000  # 2027-01-15T08:00:00Z
DAY = 86400

_ids = count(1)


def observed(name: str, **fields: Any) -> ObservedToken:
    """A token as the server lists it: enabled, unlimited, never expiring, made and last
    touched ten days before NOW, a fresh id; ``fields`` change any of that."""
    record: dict[str, Any] = {
        "id": next(_ids),
        "name": name,
        "key": "abcd" + "x" * 40 + "wxyz",
        "created_time": NOW - 10 * DAY,
        "accessed_time": NOW - 10 * DAY,
        "expired_time": -1,
        "unlimited_quota": True,
    }
    return ObservedToken(**{**record, **fields})


def git(repo: Path, *args: str) -> None:
    """A git command in the test's repository, as a user with a name and an address."""
    subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )
