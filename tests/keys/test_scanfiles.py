"""Which files scan reads, and where it finds keys (docs/keys-in-use.md#scan), with real git."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioner.cli.commands.scan import skipped_lines
from provisioner.cli.scanfiles import (
    GIT_FOLDER,
    KERNEL_FOLDER,
    LINKED_FOLDER,
    Skipped,
    _unquote,
    scan_paths,
)
from provisioner.errors import UsageError
from tests.builders import git

KEY = "sk-" + "a1B2" * 12


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    (root / ".gitignore").write_text("ignored/\n*.log\n")
    (root / "app.py").write_text(f"x = 1\nKEY = '{KEY}'\n")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "one")
    return root


def found(result) -> list[tuple[str, int]]:  # type: ignore[no-untyped-def]
    return [(hit.file, hit.line) for hit in result.hits]


def test_a_work_tree_is_listed_by_git_honouring_gitignore(repo: Path) -> None:
    (repo / "ignored").mkdir()
    (repo / "ignored" / "secret.txt").write_text(KEY)
    (repo / "debug.log").write_text(KEY)
    (repo / "new.txt").write_text(f"\n\n{KEY}\n")  # untracked, not ignored
    result = scan_paths(["."], cwd=repo)
    assert sorted(found(result)) == [("app.py", 2), ("new.txt", 3)]
    assert result.files == 3  # .gitignore, app.py, new.txt


def test_a_named_file_or_ignored_folder_is_read_anyway(repo: Path) -> None:
    (repo / "ignored").mkdir()
    (repo / "ignored" / "secret.txt").write_text(KEY)
    (repo / "debug.log").write_text(KEY)
    result = scan_paths(["debug.log", "ignored"], cwd=repo)
    assert sorted(found(result)) == [("debug.log", 1), ("ignored/secret.txt", 1)]


def test_binary_and_large_files_are_skipped_and_named(tmp_path: Path) -> None:
    (tmp_path / "blob.bin").write_bytes(b"\0\1" + KEY.encode())
    (tmp_path / "big.txt").write_text(KEY + "\n" + "x" * 2048)
    (tmp_path / "ok.txt").write_text(KEY)
    (tmp_path / "link.txt").symlink_to(tmp_path / "ok.txt")
    result = scan_paths([str(tmp_path)], cwd=tmp_path, max_bytes=1024)
    assert found(result) == [("ok.txt", 1)]
    reasons = {s.file: s.reason for s in result.skipped}
    assert reasons["blob.bin"] == "binary"
    assert "over the" in reasons["big.txt"]
    assert "symbolic link" in reasons["link.txt"]


def test_since_reads_added_lines_and_untracked_files(repo: Path) -> None:
    (repo / "app.py").write_text(f"x = 1\nKEY = '{KEY}'\ny = 2\nz = 3\nNEW = '{KEY}'\n")
    (repo / "notes.md").write_text(f"{KEY}\n")
    (repo / "skip.log").write_text(KEY)  # ignored
    (repo / "sub").mkdir()
    (repo / "sub" / "a b.txt").write_text(f"one\n{KEY}\n")
    git(repo, "add", "sub")
    result = scan_paths(["."], cwd=repo, since="HEAD")
    # line 2 was there at HEAD: only the added line 5 counts
    assert sorted(found(result)) == [("app.py", 5), ("notes.md", 1), ("sub/a b.txt", 2)]


def test_since_from_a_subfolder_shows_paths_from_there(repo: Path) -> None:
    (repo / "sub").mkdir()
    (repo / "sub" / "c.txt").write_text(KEY)
    git(repo, "add", "sub")
    assert found(scan_paths(["."], cwd=repo / "sub", since="HEAD")) == [("c.txt", 1)]


def test_since_needs_git_and_a_known_revision(repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "plain"
    outside.mkdir()
    with pytest.raises(UsageError, match="git work tree"):
        scan_paths([str(outside)], cwd=outside, since="HEAD")
    with pytest.raises(UsageError, match="does not know"):
        scan_paths(["."], cwd=repo, since="no-such-rev")


def test_a_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such file"):
        scan_paths(["nope"], cwd=tmp_path)


def test_git_quoted_names() -> None:
    assert _unquote('"b/caf\\303\\251 \\"x\\".txt"') == 'b/café "x".txt'
    assert _unquote("b/plain.txt\t") == "b/plain.txt"


def test_the_key_sink_is_skipped_where_git_does_not_list_it(tmp_path: Path, repo: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / ".env.keys").write_text(f"APP={KEY}\n")
    result = scan_paths(["."], cwd=plain, sink_files=[Path(".env.keys")])
    assert found(result) == []
    assert [(s.file, s.reason) for s in result.skipped] == [(".env.keys", "the key sink (keys.to)")]
    # in a work tree that does not ignore it, the sink file is a leak waiting to be committed
    (repo / ".env.keys").write_text(f"APP={KEY}\n")
    tracked = scan_paths(["."], cwd=repo, sink_files=[repo / ".env.keys"])
    assert (".env.keys", 1) in found(tracked)


# ------------------------------------------------- what a walk does not read, said once


def test_a_walk_names_the_git_folders_and_linked_folders_it_does_not_enter(
    tmp_path: Path,
) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "inside.txt").write_text(KEY)
    tree = tmp_path / "tree"
    (tree / ".git").mkdir(parents=True)  # not a work tree git knows: the folder is walked
    (tree / ".git" / "config").write_text(KEY)
    (tree / "sub" / ".git").mkdir(parents=True)
    (tree / "linked").symlink_to(tmp_path / "real")
    (tree / "app.txt").write_text(KEY)
    result = scan_paths([str(tree)], cwd=tmp_path)
    assert found(result) == [("tree/app.txt", 1)]
    assert {(s.file, s.reason) for s in result.skipped} == {
        ("tree/.git/", GIT_FOLDER),
        ("tree/sub/.git/", GIT_FOLDER),
        ("tree/linked/", LINKED_FOLDER),
    }
    # named on the command line, a linked folder is followed
    assert found(scan_paths(["tree/linked"], cwd=tmp_path)) == [("tree/linked/inside.txt", 1)]


def test_files_that_are_not_regular_are_not_read(tmp_path: Path) -> None:
    import os
    import socket

    os.mkfifo(tmp_path / "pipe")  # reading it would wait for a writer forever
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(tmp_path / "sock"))
        (tmp_path / "ok.txt").write_text(KEY)
        result = scan_paths([str(tmp_path)], cwd=tmp_path)
        named = scan_paths(["pipe"], cwd=tmp_path)  # named too: never opened
    finally:
        server.close()
    assert found(result) == [("ok.txt", 1)] and result.files == 1
    reasons = {s.file: s.reason for s in result.skipped}
    assert reasons == {
        "pipe": "not a regular file (a FIFO), not read",
        "sock": "not a regular file (a socket), not read",
    }
    assert [(s.file, s.reason) for s in named.skipped] == [("pipe", reasons["pipe"])]


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_kernel_files_and_folders_are_not_read(tmp_path: Path) -> None:
    """/proc/kmsg says it is an empty regular file, and a read waits for the kernel's next
    message: it is never opened, so `scan /proc/kmsg` (and `scan /` as root) ends."""
    for path in ("/proc/kmsg", "/proc/self/environ"):
        if Path(path).exists():
            result = scan_paths([path], cwd=tmp_path)
            assert [s.reason for s in result.skipped] == ["a kernel file (/proc, /sys), not read"]
    walked = scan_paths(["/proc"], cwd=tmp_path)
    assert [(s.file, s.reason) for s in walked.skipped] == [("/proc/", KERNEL_FOLDER)]
    assert walked.files == 0


def test_dev_is_walked_without_reading_a_device(tmp_path: Path) -> None:
    result = scan_paths(["/dev"], cwd=tmp_path)  # /dev/zero would never end, /dev/tty waits
    reasons = {s.file: s.reason for s in result.skipped}
    assert reasons["/dev/null"] == "not a regular file (a character device), not read"
    assert all("cannot be read" not in why for why in reasons.values()), reasons


def test_skipped_lines_say_each_reason_once() -> None:
    skipped = [Skipped(f"r{i}/.git/", GIT_FOLDER) for i in range(5)] + [
        Skipped("big.log", "6.0 MB, over the 5.0 MB limit")
    ]
    assert skipped_lines(skipped) == [
        f"skipped 5 ({GIT_FOLDER}): r0/.git/, r1/.git/, r2/.git/ and 2 more",
        "skipped big.log: 6.0 MB, over the 5.0 MB limit",
    ]
