"""Paths in a spec file are relative to the spec's folder (provisioner/cli/paths.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from provisioner.cli.paths import SANDBOX_STATE, resolve_sink, sandbox_state, where_note
from provisioner.spec import load_spec_text


@pytest.fixture
def root(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "infra").mkdir()
    before = os.getcwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(before)


def _spec(keys_to: str, file: str = "infra/tokens.yaml"):  # type: ignore[no-untyped-def]
    return load_spec_text(f"version: 1\nkeys: {{to: '{keys_to}'}}\ntokens: []\n", file)


@pytest.mark.parametrize(
    ("keys_to", "file", "resolved"),
    [
        ("dotenv:keys.env", "infra/tokens.yaml", "dotenv:infra/keys.env"),
        ("json:secrets/keys.json", "infra/tokens.yaml", "json:infra/secrets/keys.json"),
        ("dotenv:../keys.env", "infra/tokens.yaml", "dotenv:infra/../keys.env"),
        ("dotenv:keys.{host}.env", "infra/tokens.yaml", "dotenv:infra/keys.{host}.env"),
        ("dotenv:keys.env", "tokens.yaml", "dotenv:keys.env"),  # the working folder's spec
        ("dotenv:keys.env", "-", "dotenv:keys.env"),  # stdin: the working folder
        ("dotenv:/etc/keys.env", "infra/tokens.yaml", "dotenv:/etc/keys.env"),
        ("dotenv:~/keys.env", "infra/tokens.yaml", "dotenv:~/keys.env"),
        ("keyring", "infra/tokens.yaml", "keyring"),
        ("exec:./store.sh {key_name}", "infra/tokens.yaml", "exec:./store.sh {key_name}"),
    ],
)
def test_a_sink_path_is_relative_to_the_spec(
    root: Path, keys_to: str, file: str, resolved: str
) -> None:
    warned: list[str] = []
    assert resolve_sink(_spec(keys_to, file), file, warned.append).keys_to == resolved
    assert warned == []


def test_an_old_file_in_the_working_folder_is_kept_with_a_warning(root: Path) -> None:
    (root / "keys.env").write_text("APP=sk-old\n")
    warned: list[str] = []
    spec = resolve_sink(_spec("dotenv:keys.env"), "infra/tokens.yaml", warned.append)
    assert spec.keys_to == "dotenv:keys.env"  # no key lost: the file that holds them
    (warning,) = warned
    assert "relative to the file's folder now (infra/keys.env)" in warning
    assert "mv keys.env infra/keys.env" in warning
    assert "the working folder's file, kept from an earlier version" in where_note(
        spec, "infra/tokens.yaml"
    )
    # once moved, the file next to the spec wins and nothing is said
    (root / "keys.env").rename(root / "infra" / "keys.env")
    warned.clear()
    spec = resolve_sink(_spec("dotenv:keys.env"), "infra/tokens.yaml", warned.append)
    assert (spec.keys_to, warned) == ("dotenv:infra/keys.env", [])
    assert where_note(spec, "infra/tokens.yaml") == (
        "keys go to dotenv:infra/keys.env (paths in the file are relative to its folder)"
    )


def test_an_old_host_file_is_found_through_the_placeholder(root: Path) -> None:
    (root / "keys.api.example.com.env").write_text("APP=sk-old\n")
    warned: list[str] = []
    spec = resolve_sink(_spec("dotenv:keys.{host}.env"), "infra/tokens.yaml", warned.append)
    assert spec.keys_to == "dotenv:keys.{host}.env" and len(warned) == 1


def test_the_sandbox_state_lives_next_to_the_spec(root: Path) -> None:
    warned: list[str] = []
    assert sandbox_state("infra/tokens.yaml", warned.append) == Path("infra") / SANDBOX_STATE
    assert sandbox_state("tokens.yaml", warned.append) == SANDBOX_STATE
    assert sandbox_state(None, warned.append) == SANDBOX_STATE  # no spec: the working folder
    assert sandbox_state("<stdin>", warned.append) == SANDBOX_STATE
    assert warned == []
    SANDBOX_STATE.parent.mkdir()
    SANDBOX_STATE.write_bytes(b"")  # a state an earlier version kept in the working folder
    assert sandbox_state("infra/tokens.yaml", warned.append) == SANDBOX_STATE
    assert "lives next to the spec now (infra/.provisioner/sandbox.db)" in warned[0]
