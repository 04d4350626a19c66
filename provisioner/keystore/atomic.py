"""Writing a file so that a crash leaves the old one or the new one, never half of either.

The one home for it: key sinks (private, 0600) and saved plans (the umask's mode) both
write this way. The text goes to a temp file in the same folder, which is synced,
renamed over the target, and the folder synced too, so the rename itself survives a
power cut.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def atomic_write(path: Path, text: str, *, private: bool = True) -> None:
    """Replace ``path`` with ``text`` (UTF-8) in one step.

    ``private``: the file is 0600 whatever the umask (it holds keys); otherwise it gets
    the mode a new file gets from the umask, as ``open(path, "w")`` would give it. The
    folder must exist.
    """
    parent = path.parent if str(path.parent) else Path(".")
    tmp = parent / f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(tmp, flags, 0o600 if private else 0o666)
    try:
        try:
            if private:
                os.fchmod(fd, 0o600)
            view = memoryview(text.encode("utf-8"))
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    try:
        dir_fd = os.open(parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
