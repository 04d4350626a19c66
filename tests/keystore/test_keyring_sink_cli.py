"""``keys.to: keyring`` with a plaintext backend, as a user runs it (docs/sinks.md#keyring)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from keyhelpers import PlaintextKeyring

from tests.e2e.conftest import Cli, sandbox_cli


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    with sandbox_cli(tmp_path) as cli:
        yield cli


def test_apply_refuses_a_plaintext_keyring_before_any_write(
    cli: Cli, use_backend, tmp_path: Path
) -> None:
    plain = tmp_path / "plain.json"
    use_backend(PlaintextKeyring(plain))
    cli.spec("keys:\n  to: keyring\ntokens:\n  - name: app\n")
    refused = cli("apply", "--yes")
    assert refused.code == 64, refused.all
    assert "PlaintextKeyring (keyhelpers)" in refused.err
    assert "PROVISIONER_KEYRING_ALLOW_INSECURE=1" in refused.err
    assert cli.names() == [] and not plain.exists()  # nothing sent, nothing stored

    chosen = cli("apply", "--yes", env={"PROVISIONER_KEYRING_ALLOW_INSECURE": "1"})
    assert chosen.code == 0, chosen.all
    stored = json.loads(plain.read_text())
    service = f"provisioner:{cli.sandbox.url}"
    assert stored[f"{service}\0APP"] == "sk-" + cli.row("app")["key"]
    assert stored[f"{service}\0APP:origin"].startswith(cli.sandbox.url)  # its origin beside it
