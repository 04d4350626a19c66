"""The docs agree with the code: exit codes, links; the CLI's usage errors."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from provisioner.cli import build_parser, main
from provisioner.exitcodes import MEANINGS, ExitCode

ROOT = Path(__file__).resolve().parent.parent


def _table(text: str) -> dict[int, str]:
    rows = re.findall(r"^\| (\d+) \| (.+?) \|$", text, re.MULTILINE)
    return {int(code): meaning for code, meaning in rows}


def test_readme_exit_codes_match_the_code() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Exit codes", 1)[1].split("\n## ", 1)[0]
    assert _table(section) == {int(code): text for code, text in MEANINGS.items()}


def test_every_exit_code_has_a_meaning() -> None:
    assert set(MEANINGS) == set(ExitCode)


def test_doc_links_resolve() -> None:
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", doc.read_text()):
            if target.startswith("http"):
                continue
            assert (doc.parent / target).exists(), f"{doc.name} links to missing {target}"


def _anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes."""
    anchors = set()
    for heading in re.findall(r"^#+ (.+)$", markdown, re.MULTILINE):
        text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
        anchors.add(text.replace(" ", "-"))
    return anchors


def _repo_files() -> list[Path]:
    tracked = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [ROOT / name for name in tracked if (ROOT / name).is_file()]


def test_no_file_cites_a_document_outside_the_repo() -> None:
    # Citations name a file and heading in the repo (docs/server-contract.md#paging),
    # never a section number of a document a clone does not have.
    outside = re.compile(r"§ ?\d|\.\./shared|newapi-contract\.md|\bPRODUCT\.md")
    offenders = []
    for path in _repo_files():
        if path.suffix not in (".py", ".md", ".yml", ".yaml", ".toml", ".json", ".txt", ""):
            continue
        if path.suffix == ".json" and "recordings" in path.parts:
            continue  # recorded server answers, kept byte for byte
        text = path.read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            if outside.search(line) and path.name != "test_docs_and_cli.py":
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:80]}")
    assert offenders == []


def test_cited_doc_anchors_exist() -> None:
    cited = re.compile(r"\b(docs/[\w-]+\.md|README\.md)#([\w-]+)")
    missing = []
    anchors: dict[str, set[str]] = {}
    for path in _repo_files():
        if path.suffix not in (".py", ".md"):
            continue
        for doc, anchor in cited.findall(path.read_text(encoding="utf-8", errors="replace")):
            if doc not in anchors:
                target = ROOT / doc
                anchors[doc] = _anchors(target.read_text()) if target.exists() else set()
            if anchor not in anchors[doc]:
                missing.append(f"{path.relative_to(ROOT)} cites {doc}#{anchor}")
    assert missing == []


def test_readme_commands_are_the_ci_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```sh\n(.+?)\n```", readme)
    assert "apply --sandbox --yes -f examples/tokens.yaml" in blocks[0]
    assert "python -m pytest -n 2" in blocks[1]
    assert "python -m pytest -n 2" in (ROOT / ".ci" / "run").read_text()


@pytest.mark.parametrize("command", sorted(build_parser()._subparsers._group_actions[0].choices))
def test_every_command_has_help_and_a_module(command: str) -> None:
    import importlib

    assert importlib.import_module(f"provisioner.cli.commands.{command}").run
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args([command, "--help"])
    assert exc.value.code == 0


def test_usage_errors_are_64(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWAPI_TOKEN", "x" * 32)
    monkeypatch.setenv("CI", "true")
    assert main(["plan", "--no-such-flag"]) == 64
    assert main([]) == 64
    assert main(["check", "--rate-limit", "lots", "--url", "http://127.0.0.1:9"]) == 64
    capsys.readouterr()


def test_help_starts_fast_without_heavy_imports() -> None:
    code = (
        "import sys; from provisioner.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('httpx', 'pydantic', 'yaml', 'keyring', 'jsonschema') "
        "if m in sys.modules]\n"
        "print('HEAVY:' + ','.join(heavy))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    heavy = out.rsplit("HEAVY:", 1)[1].strip()
    assert heavy == "", f"--help imported {heavy}"
