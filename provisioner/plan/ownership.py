"""Which server tokens the file owns (docs/reconcile.md#identity-and-ownership). Pure."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from fnmatch import fnmatchcase

from provisioner.spec.desired import Spec
from provisioner.spec.reserved import LOCK_PREFIX as _LOCK_PREFIX
from provisioner.spec.reserved import is_reserved_name

_OLD_SUFFIX = re.compile(r"\.old-(\d{8})(?:-\d+)?$")  # left by a rotation
_LEAKED_SUFFIX = re.compile(r"\.leaked-(\d{8})(?:-\d+)?$")  # left by `provisioner revoke`
# apply's lock on the account is a token of this name prefix; the namespace is reserved:
# never declared, never owned, not even by manage.match (docs/reconcile.md#one-apply-at-a-time).
LOCK_PREFIX = _LOCK_PREFIX
# `NAME-N` above a declared count is named in the plan as a likely copy up to this N.
MAX_COPY_HINT = 100


def rotation_name(name: str, now: int, taken: Iterable[str] = ()) -> str:
    """``NAME.old-YYYYMMDD``, made unique against ``taken`` (a second rotation the same day)."""
    return _suffixed(name, "old", now, taken)


def _suffixed(name: str, word: str, now: int, taken: Iterable[str]) -> str:
    day = datetime.fromtimestamp(now, UTC).strftime("%Y%m%d")
    candidate = f"{name}.{word}-{day}"
    taken_set = set(taken)
    suffix = 2
    while candidate in taken_set:
        candidate = f"{name}.{word}-{day}-{suffix}"
        suffix += 1
    return candidate


def is_lock_name(name: str) -> bool:
    return name.startswith(LOCK_PREFIX)


def predecessor_of(name: str) -> str | None:
    """The live name a ``NAME.old-YYYYMMDD`` token was rotated out of, or None."""
    match = _OLD_SUFFIX.search(name)
    return name[: match.start()] if match else None


def revoked_from(name: str) -> str | None:
    """The live name a ``NAME.leaked-YYYYMMDD`` token had before ``revoke``, or None."""
    match = _LEAKED_SUFFIX.search(name)
    return name[: match.start()] if match else None


def leaked_name(
    name: str, now: int, taken: Iterable[str] = (), *, max_bytes: int | None = None
) -> str:
    """``NAME.leaked-YYYYMMDD``, made unique against ``taken``.

    On a server whose names are short (``max_bytes``), NAME is cut to make it fit: the
    token then no longer carries the declared name, so no apply brings it back, and the
    name is free for the replacement.
    """
    full = _suffixed(name, "leaked", now, taken)
    if max_bytes is None or len(full.encode("utf-8")) <= max_bytes:
        return full
    room = max_bytes - (len(full.encode("utf-8")) - len(name.encode("utf-8")))
    base = name.encode("utf-8")[: max(room, 1)].decode("utf-8", errors="ignore")
    return _suffixed(base or name[:1], "leaked", now, taken)


class Ownership:
    """Which server names the file owns (docs/reconcile.md#identity-and-ownership).

    The declared names (with their copies up to the declared count), the
    ``NAME.old-YYYYMMDD`` a rotation of an owned name leaves, the
    ``NAME.leaked-YYYYMMDD`` a revoke leaves, and ``manage.match``. Nothing else:
    a hand-made ``llama-3-70`` next to a declared ``llama-3`` is unmanaged.
    """

    def __init__(self, spec: Spec, renamed: Iterable[str] = ()) -> None:
        """``renamed``: former names of declared tokens that will be renamed in place."""
        self.declared = {t.name for t in spec.tokens} | set(renamed)
        self.counts: dict[str, int] = {}
        for token in spec.tokens:
            self.counts[token.base_name] = max(self.counts.get(token.base_name, 0), token.count)
        self.globs = spec.manage.match

    def owns(self, name: str) -> bool:
        if is_reserved_name(name):
            return False  # a lock, or a hand-made token in its namespace: never touched
        if name in self.declared:
            return True
        base = predecessor_of(name) or revoked_from(name)
        if base is not None and self.owns(base):
            return True
        return any(fnmatchcase(name, glob) for glob in self.globs)

    def copy_beyond_count(self, name: str) -> tuple[str, int] | None:
        """``(base, count)`` when an unmanaged ``name`` looks like ``base-N`` above ``count``."""
        head, sep, tail = name.rpartition("-")
        if not (sep and tail.isdigit() and head in self.counts):
            return None
        number = int(tail)
        if self.counts[head] < number <= MAX_COPY_HINT:
            return head, self.counts[head]
        return None
