"""What ``provisioner scan`` reads, and the key-shaped strings in it (docs/keys-in-use.md#scan).

Inside a git work tree a folder is listed by git (tracked and untracked files,
``.gitignore`` honoured); elsewhere it is walked. A file named on the command
line is always read. Binary files (a NUL byte in the first 8 KiB, as git
decides) and files over the size limit are skipped and reported. With
``since``, only lines added since a git revision are read (``git diff REV``,
the working tree against REV), plus untracked files.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from provisioner.errors import UsageError
from provisioner.keys.match import find_keys
from provisioner.secret import Secret

BINARY_PROBE = 8000  # bytes git looks at to call a file binary
DEFAULT_MAX_BYTES = 5 * 1024 * 1024
GIT_TIMEOUT = 60.0
_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,\d+)? @@")


@dataclass(frozen=True)
class Hit:
    """A key-shaped string: where it is, and the key (never printed)."""

    file: str  # as shown: relative to the working directory when under it
    line: int
    key: Secret


@dataclass(frozen=True)
class Skipped:
    file: str
    reason: str


@dataclass
class ScanInput:
    hits: list[Hit] = field(default_factory=list)
    files: int = 0  # files (or diffs of files) read
    skipped: list[Skipped] = field(default_factory=list)
    # the key sink's file, listed by git: not ignored, so a commit would take it (shown, path)
    open_sinks: list[tuple[str, Path]] = field(default_factory=list)


def _shown(path: Path, cwd: Path) -> str:
    """``path`` relative to ``cwd`` when under it (symbolic links not resolved), else as is."""
    # git names files from the real top of the work tree; the working directory may be
    # reached through a link (macOS /tmp), so real paths are tried second.
    pairs = [
        (os.path.abspath(path), os.path.abspath(cwd)),
        (os.path.join(os.path.realpath(path.parent), path.name), os.path.realpath(cwd)),
    ]
    for absolute, base in pairs:
        if absolute.startswith(base.rstrip(os.sep) + os.sep):
            return os.path.relpath(absolute, base)
    return str(path)


def _git(args: Sequence[str], cwd: Path) -> subprocess.CompletedProcess[bytes] | None:
    """Run git; None when git is not installed."""
    try:
        return subprocess.run(
            ["git", "-c", "core.quotepath=off", *args],
            cwd=cwd,
            capture_output=True,
            timeout=GIT_TIMEOUT,
            check=False,
        )
    except FileNotFoundError:
        return None
    except subprocess.TimeoutExpired:
        raise UsageError(f"git {args[0]} in {cwd} took over {GIT_TIMEOUT:g} s") from None


def work_tree(directory: Path) -> Path | None:
    """The top of the git work tree holding ``directory``, or None."""
    done = _git(["rev-parse", "--show-toplevel"], directory)
    if done is None or done.returncode != 0:
        return None
    top = done.stdout.decode("utf-8", "surrogateescape").strip()
    return Path(top) if top else None


def tracked(path: Path) -> bool:
    """True when git tracks ``path`` (it is committed or staged), not merely lists it."""
    done = _git(["ls-files", "--error-unmatch", "--", path.name], path.parent)
    return done is not None and done.returncode == 0


def _ignored(path: Path, top: Path) -> bool:
    done = _git(["check-ignore", "-q", str(path.resolve())], top)
    return done is not None and done.returncode == 0


def _git_files(directory: Path, *, untracked_only: bool = False) -> list[Path]:
    args = ["ls-files", "-z", "--others", "--exclude-standard"]
    if not untracked_only:
        args.insert(2, "--cached")
    done = _git(args, directory)
    if done is None or done.returncode != 0:
        raise UsageError(f"git could not list the files of {directory}")
    names = done.stdout.decode("utf-8", "surrogateescape").split("\0")
    return [directory / name for name in dict.fromkeys(names) if name]


# Why a folder met while walking is not entered (each said once, by scan: docs/keys-in-use.md#scan)
GIT_FOLDER = "git's own folder (.git), not read"
LINKED_FOLDER = "symbolic link to a folder (not followed)"
KERNEL_FOLDER = "a kernel file system (/proc, /sys: no storage), not read"


def _kernel_fs(path: Path) -> bool:
    """True on a file system with no storage: procfs, sysfs and the like, whose files
    report a size of 0 and may block when read (/proc/kmsg)."""
    try:
        return os.statvfs(path).f_blocks == 0
    except OSError:
        return False


def _walk(directory: Path, skipped: list[Skipped], cwd: Path) -> list[Path]:
    found: list[Path] = []
    if _kernel_fs(directory):
        skipped.append(Skipped(_shown(directory, cwd) + os.sep, KERNEL_FOLDER))
        return found
    devices = {str(directory): _lstat(directory)[1]}
    for root, dirs, files in os.walk(directory):
        entered = []
        for name in sorted(dirs):
            path = Path(root) / name
            if name == ".git":
                skipped.append(Skipped(_shown(path, cwd) + os.sep, GIT_FOLDER))
                continue
            link, device = _lstat(path)
            if link:
                skipped.append(Skipped(_shown(path, cwd) + os.sep, LINKED_FOLDER))
            elif device != devices.get(root) and _kernel_fs(path):
                skipped.append(Skipped(_shown(path, cwd) + os.sep, KERNEL_FOLDER))
            else:
                devices[str(path)] = device
                entered.append(name)
        dirs[:] = entered
        found.extend(Path(root) / name for name in sorted(files))
    return found


def _lstat(path: Path) -> tuple[bool, int]:
    """One look at ``path`` itself: whether it is a symbolic link, and its device
    (not a link and device -1 when it cannot be looked at)."""
    try:
        info = os.lstat(path)
    except OSError:
        return False, -1
    return stat.S_ISLNK(info.st_mode), info.st_dev


def files_under(path: Path, skipped: list[Skipped], cwd: Path) -> tuple[list[Path], bool]:
    """The files a folder holds, as git sees them in a work tree; and whether git listed them.
    Folders a walk does not enter are added to ``skipped``."""
    top = work_tree(path)
    if top is None or _ignored(path, top):
        # a folder git ignores was still named: read all of it
        return _walk(path, skipped, cwd), False
    return _git_files(path), True


_NOT_REGULAR = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def not_regular(mode: int) -> str:
    """What a file that is not a regular one is ("a FIFO", ...), or ""."""
    for test, what in _NOT_REGULAR:
        if test(mode):
            return what
    return ""


def scan_file(path: Path, shown: str, max_bytes: int, into: ScanInput) -> None:
    try:
        info = os.lstat(path)
        if stat.S_ISLNK(info.st_mode):
            into.skipped.append(Skipped(shown, "symbolic link (not followed)"))
            return
        what = not_regular(info.st_mode)
        if what:  # reading one can wait forever (a FIFO, a terminal) or never end (a device)
            into.skipped.append(Skipped(shown, f"not a regular file ({what}), not read"))
            return
        if not stat.S_ISREG(info.st_mode):
            return  # gone since git listed it, or a submodule
        size = info.st_size
        if size == 0 and _kernel_fs(path):  # /proc/kmsg: "empty", and a read waits for more
            into.skipped.append(Skipped(shown, "a kernel file (/proc, /sys), not read"))
            return
        if size > max_bytes:
            into.skipped.append(Skipped(shown, f"{_mb(size)}, over the {_mb(max_bytes)} limit"))
            return
        data = _read(path, max_bytes)
    except BlockingIOError:
        into.skipped.append(Skipped(shown, "reading it would wait for more (not read)"))
        return
    except OSError as exc:
        into.skipped.append(Skipped(shown, f"cannot be read ({exc.strerror or exc})"))
        return
    if b"\0" in data[:BINARY_PROBE]:
        into.skipped.append(Skipped(shown, "binary"))
        return
    into.files += 1
    if b"sk-" not in data:
        return
    text = data.decode("utf-8", errors="replace")
    into.hits.extend(Hit(shown, line, key) for line, key in find_keys(text))


def _read(path: Path, max_bytes: int) -> bytes:
    """The file's bytes, opened so that nothing can make the read wait (O_NONBLOCK) and cut
    at ``max_bytes`` should it have grown since it was measured."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0))
    try:
        chunks, total = [], 0
        while total <= max_bytes:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        return b"".join(chunks)[: max_bytes + 1]
    finally:
        os.close(fd)


def _mb(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB"


def scan_paths(
    paths: Sequence[str],
    *,
    cwd: Path,
    max_bytes: int = DEFAULT_MAX_BYTES,
    since: str | None = None,
    sink_files: Sequence[Path] = (),
) -> ScanInput:
    """Every key-shaped string under ``paths``; files read once each.

    ``sink_files`` (the key sink's file) are skipped in folders git does not list: keys
    belong there. Where git lists one, it is not ignored, so it is read: a leak waiting.
    """
    sinks = {os.path.abspath(cwd / p) for p in sink_files}
    result = ScanInput()
    resolved: list[Path] = []
    for text in dict.fromkeys(paths):
        path = Path(text) if Path(text).is_absolute() else cwd / text
        if not path.exists():
            raise UsageError(f"{text}: no such file or folder")
        resolved.append(path)
    if since is not None:
        _scan_since(resolved, since, cwd, max_bytes, result)
        return result
    seen: set[Path] = set()
    for path in resolved:
        if path.is_dir():  # named: a link to a folder is followed
            files, by_git = files_under(path, result.skipped, cwd)
        else:
            files, by_git = [path], True
        for file in files:
            absolute = Path(os.path.abspath(file))  # symbolic links stay themselves
            if absolute in seen:
                continue
            seen.add(absolute)
            if not by_git and str(absolute) in sinks:
                result.skipped.append(Skipped(_shown(file, cwd), "the key sink (keys.to)"))
                continue
            if str(absolute) in sinks and path.is_dir():  # git listed it: not ignored
                result.open_sinks.append((_shown(file, cwd), absolute))
            scan_file(file, _shown(file, cwd), max_bytes, result)
    return result


def _scan_since(
    paths: Sequence[Path], since: str, cwd: Path, max_bytes: int, into: ScanInput
) -> None:
    by_top: dict[Path, list[Path]] = {}
    for path in paths:
        top = work_tree(path if path.is_dir() else path.parent)
        if top is None:
            raise UsageError(f"--since needs a git work tree, and {path} is not in one")
        by_top.setdefault(top, []).append(path)
    for top, group in by_top.items():
        check = _git(["rev-parse", "--verify", "--quiet", f"{since}^{{commit}}"], top)
        if check is None or check.returncode != 0:
            raise UsageError(
                f"--since {since}: git does not know this revision in {top} "
                "(in CI, fetch it first: actions/checkout with fetch-depth: 0)"
            )
        specs = [os.path.relpath(p.resolve(), top.resolve()) for p in group]
        done = _git(
            ["diff", "--no-color", "--no-ext-diff", "--unified=0", since, "--", *specs], top
        )
        if done is None or done.returncode != 0:
            raise UsageError(f"git diff {since} failed in {top}")
        _read_diff(done.stdout.decode("utf-8", "replace"), top, cwd, into)
        untracked = _git(["ls-files", "-z", "--others", "--exclude-standard", "--", *specs], top)
        if untracked is None or untracked.returncode != 0:
            raise UsageError(f"git could not list the untracked files of {top}")
        for name in untracked.stdout.decode("utf-8", "surrogateescape").split("\0"):
            if name:
                scan_file(top / name, _shown(top / name, cwd), max_bytes, into)


def _read_diff(diff: str, top: Path, cwd: Path, into: ScanInput) -> None:
    """Added lines of a ``--unified=0`` diff, numbered as in the working tree."""
    shown = ""
    number = 0
    in_hunk = False
    for line in diff.split("\n"):
        if line.startswith("diff --git "):
            shown, in_hunk = "", False
            continue
        if not in_hunk:
            if line.startswith("+++ "):
                target = _unquote(line[4:])
                if target != "/dev/null":
                    path = top / target.removeprefix("b/")
                    shown = _shown(path, cwd)
                    into.files += 1
            elif line.startswith("Binary files ") and shown == "":
                into.skipped.append(Skipped(_binary_name(line, top, cwd), "binary"))
        hunk = _HUNK.match(line)
        if hunk:
            number, in_hunk = int(hunk.group(1)), True
            continue
        if not in_hunk or not shown:
            continue
        if line.startswith("+"):
            into.hits.extend(Hit(shown, number, key) for _, key in find_keys(line[1:]))
            number += 1
        elif line.startswith(" "):
            number += 1


def _unquote(name: str) -> str:
    """git quotes a name with unusual bytes in C style (octal escapes), even with quotepath off."""
    name = name.rstrip("\t")
    if not (len(name) >= 2 and name.startswith('"') and name.endswith('"')):
        return name
    out = bytearray()
    body, index = name[1:-1], 0
    while index < len(body):
        char = body[index]
        if char != "\\" or index + 1 == len(body):
            out += char.encode("utf-8")
            index += 1
            continue
        following = body[index + 1]
        octal = body[index + 1 : index + 4]
        if len(octal) == 3 and all(c in "01234567" for c in octal):
            out.append(int(octal, 8) & 0xFF)
            index += 4
            continue
        out += _C_ESCAPES.get(following, following).encode("utf-8")
        index += 2
    return out.decode("utf-8", "replace")


_C_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}


def _binary_name(line: str, top: Path, cwd: Path) -> str:
    match = re.search(r" and (?:b/)?(.+) differ$", line)
    name = match.group(1) if match else line
    return name if name == "/dev/null" else _shown(top / name, cwd)
