"""Which server tokens the file owns (docs/reconcile.md#identity-and-ownership). Pure."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from fnmatch import fnmatchcase

from provisioner.spec.desired import Spec

_OLD_SUFFIX = re.compile(r"\.old-(\d{8})(?:-\d+)?$")


def rotation_name(name: str, now: int, taken: Iterable[str] = ()) -> str:
    """``NAME.old-YYYYMMDD``, made unique against ``taken`` (a second rotation the same day)."""
    day = datetime.fromtimestamp(now, UTC).strftime("%Y%m%d")
    candidate = f"{name}.old-{day}"
    taken_set = set(taken)
    suffix = 2
    while candidate in taken_set:
        candidate = f"{name}.old-{day}-{suffix}"
        suffix += 1
    return candidate


def predecessor_of(name: str) -> str | None:
    """The live name a ``NAME.old-YYYYMMDD`` token was rotated out of, or None."""
    match = _OLD_SUFFIX.search(name)
    return name[: match.start()] if match else None


class Ownership:
    """Which server names the file owns (docs/reconcile.md#identity-and-ownership)."""

    def __init__(self, spec: Spec) -> None:
        self.declared = {t.name for t in spec.tokens}
        self.counts: dict[str, int] = {}
        for token in spec.tokens:
            self.counts[token.base_name] = max(self.counts.get(token.base_name, 0), token.count)
        self.globs = spec.manage.match

    def owns(self, name: str) -> bool:
        if name in self.declared:
            return True
        base = predecessor_of(name)
        if base is not None and (base in self.declared or self.owns(base)):
            return True
        head, sep, tail = name.rpartition("-")
        if sep and tail.isdigit() and head in self.counts and int(tail) > self.counts[head]:
            return True
        return any(fnmatchcase(name, glob) for glob in self.globs)
