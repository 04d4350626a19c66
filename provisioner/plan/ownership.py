"""Which server tokens the file owns (docs/reconcile.md#identity-and-ownership). Pure."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from fnmatch import fnmatchcase

from provisioner.spec.desired import MAX_MANUAL_OVERLAP, DesiredToken, Spec
from provisioner.spec.reserved import is_reserved_name

_OLD_SUFFIX = re.compile(r"\.old-(\d{8})(?:-\d+)?$")  # left by a rotation
_LEAKED_SUFFIX = re.compile(r"\.leaked-(\d{8})(?:-\d+)?$")  # left by `provisioner revoke`
# a rotation's new token, until its key is delivered and the old token has moved aside
_NEW_SUFFIX = re.compile(r"\.new-(\d{8})(?:-\d+)?$")
DAY = 86400
# `NAME-N` above a declared count is named in the plan as a likely copy up to this N.
MAX_COPY_HINT = 100


def rotation_name(name: str, now: int, taken: Iterable[str] = ()) -> str:
    """``NAME.old-YYYYMMDD``, made unique against ``taken`` (a second rotation the same day)."""
    return _suffixed(name, "old", now, taken)


def pending_name(name: str, now: int, taken: Iterable[str] = ()) -> str:
    """``NAME.new-YYYYMMDD``: what a rotation's new token is called until its key is delivered.

    The old ``NAME`` stays untouched until the sink confirmed the new key
    (docs/reconcile.md#rotation); two tokens never share the name meanwhile.
    """
    return _suffixed(name, "new", now, taken)


def _suffixed(name: str, word: str, now: int, taken: Iterable[str]) -> str:
    day = datetime.fromtimestamp(now, UTC).strftime("%Y%m%d")
    candidate = f"{name}.{word}-{day}"
    taken_set = set(taken)
    suffix = 2
    while candidate in taken_set:
        candidate = f"{name}.{word}-{day}-{suffix}"
        suffix += 1
    return candidate


def predecessor_of(name: str) -> str | None:
    """The live name a ``NAME.old-YYYYMMDD`` token was rotated out of, or None."""
    match = _OLD_SUFFIX.search(name)
    return name[: match.start()] if match else None


def revoked_from(name: str) -> str | None:
    """The live name a ``NAME.leaked-YYYYMMDD`` token had before ``revoke``, or None."""
    match = _LEAKED_SUFFIX.search(name)
    return name[: match.start()] if match else None


def pending_of(name: str) -> str | None:
    """The live name a rotation's unfinished ``NAME.new-YYYYMMDD`` token was made for, or None."""
    match = _NEW_SUFFIX.search(name)
    return name[: match.start()] if match else None


def rotated_on(name: str) -> int | None:
    """The UTC midnight of the day in ``NAME.old-YYYYMMDD`` (the rotation's day), or None."""
    match = _OLD_SUFFIX.search(name)
    if match is None:
        return None
    try:
        day = datetime.strptime(match.group(1), "%Y%m%d").replace(tzinfo=UTC)
    except ValueError:
        return None
    return int(day.timestamp())


def overlap_allowed(declared: Mapping[str, DesiredToken], name: str) -> tuple[int, str]:
    """The longest overlap a rotation of ``name`` may give its old key, and where it comes
    from: the file's ``rotate.overlap`` for NAME (``declared``: the file's tokens by name),
    else 7 days (``rotate --overlap``)."""
    desired = declared.get(name)
    if desired is not None and desired.rotate is not None:
        return desired.rotate.overlap, "its rotate.overlap"
    return MAX_MANUAL_OVERLAP, "the longest for a token without rotate.overlap"


def old_expiry_bound(name: str, overlap: int) -> int | None:
    """The latest expiry a rotation leftover ``NAME.old-YYYYMMDD`` may have, or None.

    A rotation sets the old token's expiry to (the rotation's time + ``overlap``), and the
    rotation happened on the day its name carries: so the end of that day (UTC) plus
    ``overlap`` bounds it. The bound is a fixed instant (it does not move with time), and
    one a hand edit in the web UI cannot move (docs/reconcile.md#leftovers).
    """
    day = rotated_on(name)
    return None if day is None else day + DAY + overlap


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

    The declared names; for a token that declares ``count`` (any value, 1 included), its
    copies ``NAME-2``, ``NAME-3``, ... in an unbroken run from 2 (the declared copies and
    then those ``present`` on the server); the ``NAME.old-YYYYMMDD`` a rotation of an owned
    name leaves (and ``NAME.new-YYYYMMDD`` from one that did not finish); the
    ``NAME.leaked-YYYYMMDD`` a revoke leaves; and ``manage.match``. Nothing else: a
    hand-made ``llama-3-70`` next to a declared ``llama-3`` is unmanaged.
    """

    def __init__(
        self, spec: Spec, renamed: Iterable[str] = (), present: Iterable[str] = ()
    ) -> None:
        """``renamed``: former names of declared tokens that will be renamed in place;
        ``present``: the names on the server (a counted family's run is observed there)."""
        self.by_name = spec.by_name()  # the declared tokens
        self.declared = set(self.by_name) | set(renamed)
        self.counts: dict[str, int] = {}
        counted: set[str] = set()
        for token in spec.tokens:
            self.counts[token.base_name] = max(self.counts.get(token.base_name, 0), token.count)
            if token.counted:
                counted.add(token.base_name)
        self.globs = spec.manage.match
        names = set(present) | self.declared
        # name -> its base, for the copies beyond the declared count that the run reaches
        self.copies: dict[str, str] = {}
        # name -> its base: copies in such a run next to a token that declares no count
        self._uncounted_runs: dict[str, str] = {}
        for base, count in self.counts.items():
            family = self.copies if base in counted else self._uncounted_runs
            number = count + 1 if base in counted else 2
            while f"{base}-{number}" in names:
                family.setdefault(f"{base}-{number}", base)
                number += 1

    def owns(self, name: str) -> bool:
        if is_reserved_name(name):
            return False  # a lock, or a hand-made token in its namespace: never touched
        if name in self.declared or name in self.copies:
            return True
        base = predecessor_of(name) or revoked_from(name) or pending_of(name)
        if base is not None and self.owns(base):
            return True
        return any(fnmatchcase(name, glob) for glob in self.globs)

    def copy_of(self, name: str) -> str | None:
        """The counted token whose undeclared copy ``name`` is (beyond its count), or None."""
        return self.copies.get(name)

    def uncounted_copy(self, name: str) -> str | None:
        """For an unmanaged ``name``: the declared token it would be a copy of, had that
        token declared ``count`` (``partner-2`` next to a ``partner`` without count)."""
        base = self._uncounted_runs.get(name)
        if base is None or int(name.rpartition("-")[2]) > MAX_COPY_HINT:
            return None
        return base
