"""Keys never go to the wrong place (docs/sinks.md): sink targets, git, empty credentials."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from provisioner.errors import CredentialError
from provisioner.keystore.credentials import resolve_credential
from provisioner.keystore.sinks import (
    DotenvSink,
    JsonSink,
    KeyDelivery,
    first_non_dotenv_line,
    git_warning,
)
from provisioner.secret import Secret

KEY = "sk-" + "k" * 48


def _item() -> KeyDelivery:
    return KeyDelivery("a", "A", Secret(KEY), "http://127.0.0.1:3000")


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("", 0),
        ("# only a comment\n\n", 0),
        ("A=1\nexport B='two words'\n  C = 3\n", 0),
        ('MULTI="one\ntwo"\nD=4\n', 0),
        ("A=1\nnot a pair\n", 2),
        ("version: 1\ntokens: []\n", 1),
        ("[section]\nkey=value\n", 1),
    ],
)
def test_first_non_dotenv_line(text: str, line: int) -> None:
    assert first_non_dotenv_line(text) == line


@pytest.mark.parametrize("name", ["keys.yaml", "KEYS.YML", "keys.json", "pyproject.toml", "x.md"])
def test_dotenv_refuses_files_that_are_something_else_by_name(tmp_path: Path, name: str) -> None:
    sink = DotenvSink(tmp_path / name)
    assert "not a dotenv file" in sink.check_target()
    (result,) = sink.deliver([_item()])
    assert not result.ok and "not a dotenv file" in result.error
    assert not (tmp_path / name).exists()


def test_dotenv_refuses_the_spec_and_foreign_content(tmp_path: Path) -> None:
    spec = tmp_path / "tokens.env"
    spec.write_text("version: 1\n")
    assert "is the spec file itself" in DotenvSink(spec, spec_path=spec).check_target()
    notes = tmp_path / "notes"
    notes.write_text("A=1\nhello\n")
    sink = DotenvSink(notes)
    assert "line 2 is not KEY=VALUE" in sink.check_target()
    (result,) = sink.deliver([_item()])  # checked again at write time
    assert not result.ok and notes.read_text() == "A=1\nhello\n"
    assert KEY not in result.error


def test_dotenv_accepts_a_missing_or_dotenv_file(tmp_path: Path) -> None:
    assert DotenvSink(tmp_path / "new" / "keys.env").check_target() == ""
    existing = tmp_path / ".env"
    existing.write_text("# app\nOTHER=1\n")
    sink = DotenvSink(existing)
    assert sink.check_target() == ""
    (result,) = sink.deliver([_item()])
    assert result.ok and existing.read_text() == (
        f"# app\nOTHER=1\n# A: provisioner key of http://127.0.0.1:3000\nA={KEY}\n"
    )


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, ""),
        ("", ""),
        ('{"B": "x"}', ""),
        ("[1]", "holds JSON that is not an object"),
        ("A=1", "is not valid JSON"),
    ],
)
def test_json_target(tmp_path: Path, content: str | None, problem: str) -> None:
    path = tmp_path / "keys.json"
    if content is not None:
        path.write_text(content)
    found = JsonSink(path).check_target()
    assert (problem in found) if problem else found == ""


def test_a_symlink_is_refused_up_front(tmp_path: Path) -> None:
    real = tmp_path / "real.env"
    real.write_text("")
    link = tmp_path / "link.env"
    link.symlink_to(real)
    assert "symbolic link" in DotenvSink(link).check_target()


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def test_git_warning(tmp_path: Path) -> None:
    outside = tmp_path / "plain" / "keys.env"
    outside.parent.mkdir()
    assert git_warning(outside) == ""
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    target = repo / "deep" / "keys.env"  # the folder does not exist yet
    assert git_warning(target) == (  # the line to add: anchored, for the folder to come too
        f"{target} is inside a git work tree and not ignored: add it to .gitignore "
        f"(the line /deep/keys.env in {repo / '.gitignore'})"
    )
    (repo / ".gitignore").write_text("*.env\n")
    assert git_warning(target) == ""


def test_no_git_no_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    assert git_warning(repo / "keys.env") == ""


@pytest.mark.parametrize(
    ("env", "says", "never"),
    [
        ({"NEWAPI_TOKEN": "", "CI": "1"}, "NEWAPI_TOKEN is set but empty", "are not set"),
        ({"NEWAPI_TOKEN_FILE": " ", "CI": "1"}, "NEWAPI_TOKEN_FILE is set but empty", "are not"),
        ({"CI": "1"}, "NEWAPI_TOKEN and NEWAPI_TOKEN_FILE are not set", "empty"),
    ],
)
def test_an_empty_variable_is_not_an_unset_one(env: dict[str, str], says: str, never: str) -> None:
    with pytest.raises(CredentialError) as caught:
        resolve_credential("http://127.0.0.1:3000", env)
    assert says in str(caught.value) and never not in str(caught.value)
    assert caught.value.exit_code == 77
