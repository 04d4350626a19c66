"""The plan comment on a pull request: its marker, its hidden review data, its size.

One comment per spec file, edited in place on every push. It starts with a
hidden marker naming the file (``<!-- provisioner-plan: tokens.yaml -->``);
the action edits only a comment that starts with that marker *and* was written
by the token's own user (docs/ci.md#the-plan-comment), so a marker pasted into
someone else's comment is ignored. A second hidden line carries the plan's
review entries (:func:`provisioner.plan.review.review_entries`), base64 JSON, so
no name can end the HTML comment; apply on merge reads them back.

No key is ever in it: the plan holds none (tests scan every comment anyway).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from provisioner.github.api import Comment
from provisioner.plan.review import ReviewEntry

#: GitHub refuses a comment longer than this many characters
COMMENT_LIMIT = 65_536
#: what the visible plan may use, leaving room for the markers and the footer
PLAN_BUDGET = COMMENT_LIMIT - 2_000
#: review entries beyond this many characters are left out (the fingerprint stays)
ENTRIES_BUDGET = 24_000

_REVIEW_PREFIX = "<!-- provisioner-review: "
_FENCE = re.compile(r"(`{3,})diff")


def marker(file: str) -> str:
    """The first line of the comment of ``file``; no path can end the HTML comment early."""
    path = quote(file, safe="/._~+=,@:")
    while "--" in path:  # "--" may end an HTML comment in GitHub's Markdown
        path = path.replace("--", "-%2D")
    return f"<!-- provisioner-plan: {path} -->"


@dataclass(frozen=True)
class Review:
    """What a plan comment tells apply: the plan's fingerprint, where it was made, and
    (when it fitted) each action's entry."""

    file: str
    sha: str
    fingerprint: str
    counts: dict[str, int] = field(default_factory=dict)
    entries: tuple[ReviewEntry, ...] | None = None
    failed: str = ""  # the plan did not complete: why (then no fingerprint)

    def encode(self) -> str:
        entries: list[Any] | None = None
        if self.entries is not None:
            entries = [e.to_json() for e in self.entries]
            if len(json.dumps(entries, ensure_ascii=False)) > ENTRIES_BUDGET:
                entries = None
        data = {
            "v": 1,
            "file": self.file,
            "sha": self.sha,
            "fingerprint": self.fingerprint,
            "counts": self.counts,
            "entries": entries,
            "failed": self.failed,
        }
        blob = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
        return _REVIEW_PREFIX + base64.b64encode(blob).decode("ascii") + " -->"

    @classmethod
    def decode(cls, body: str) -> Review | None:
        """The review data of a comment body; None when it has none (or it is damaged)."""
        for line in body.splitlines()[:4]:
            if line.startswith(_REVIEW_PREFIX) and line.endswith(" -->"):
                encoded = line[len(_REVIEW_PREFIX) : -len(" -->")]
                try:
                    data = json.loads(base64.b64decode(encoded, validate=True))
                    if not isinstance(data, dict) or data.get("v") != 1:
                        return None
                    raw = data.get("entries")
                    entries = None if raw is None else tuple(ReviewEntry.from_json(e) for e in raw)
                    counts = data.get("counts") or {}
                    return cls(
                        file=str(data["file"]),
                        sha=str(data.get("sha") or ""),
                        fingerprint=str(data.get("fingerprint") or ""),
                        counts={str(k): int(v) for k, v in counts.items()},
                        entries=entries,
                        failed=str(data.get("failed") or ""),
                    )
                except (ValueError, TypeError, KeyError, AttributeError, binascii.Error):
                    return None
        return None


def ours(comments: Iterable[Comment], file: str, author: str) -> Comment | None:
    """The plan comment of ``file``: the first that starts with its marker and was written
    by ``author`` (the token's own user). Others carrying the marker are ignored."""
    first_line = marker(file)
    for comment in comments:
        if comment.author == author and comment.body.split("\n", 1)[0].strip() == first_line:
            return comment
    return None


def body(file: str, review: Review, visible: str) -> str:
    """The whole comment: the marker, the review data, then what people read."""
    return f"{marker(file)}\n{review.encode()}\n{visible.rstrip()}\n"


def fit(markdown: str, limit: int, where: str) -> str:
    """``markdown`` (a plan rendered whole) cut to ``limit`` characters.

    Lines of the diff block are dropped from its end, and a line after the block says
    how many were cut and ``where`` the whole plan is. A plan whose other parts alone
    are too long (thousands of refusals) keeps its heading and summary line only.
    """
    if len(markdown) <= limit:
        return markdown
    lines = markdown.split("\n")
    opening = next((i for i, line in enumerate(lines) if _FENCE.fullmatch(line)), None)
    if opening is not None:
        fence_marker = _FENCE.fullmatch(lines[opening]).group(1)  # type: ignore[union-attr]
        closing = next(
            (i for i in range(opening + 1, len(lines)) if lines[i] == fence_marker), None
        )
        if closing is not None:
            head, block, tail = lines[: opening + 1], lines[opening + 1 : closing], lines[closing:]
            fixed = sum(len(line) + 1 for line in head + tail)
            entries = sum(1 for line in block if not line.startswith(" "))
            kept: list[str] = []
            used = fixed
            for line in block:
                note = _cut_note(len(block) - len(kept), entries - _entries(kept), where)
                if used + len(line) + 1 + len(note) + 2 > limit:
                    break
                kept.append(line)
                used += len(line) + 1
            while kept and len(kept) < len(block) and block[len(kept)].startswith(" "):
                kept.pop()  # never an action without its detail lines: cut before it
            cut = len(block) - len(kept)
            note = _cut_note(cut, entries - _entries(kept), where)
            if used + len(note) + 2 <= limit:
                closing_at = tail.index(fence_marker)
                tail = [*tail[: closing_at + 1], "", note, *tail[closing_at + 1 :]]
                return "\n".join([*head, *kept, *tail])
    return _headline_only(lines, len(markdown), limit, where)


def _entries(lines: Sequence[str]) -> int:
    return sum(1 for line in lines if not line.startswith(" "))


def _cut_note(lines: int, entries: int, where: str) -> str:
    return (
        f"*({lines:,} more line{'' if lines == 1 else 's'} of the plan "
        f"({entries:,} action{'' if entries == 1 else 's'} and notices) not shown here: "
        f"too long for a comment. The whole plan: {where}.)*"
    )


def _headline_only(lines: list[str], size: int, limit: int, where: str) -> str:
    heading = lines[0] if lines and lines[0].startswith("#") else ""
    summary = next((line for line in reversed(lines) if line.startswith("**")), "")
    note = (
        f"*(The plan is {size:,} characters long, too long for a comment. "
        f"The whole plan: {where}.)*"
    )
    text = "\n\n".join(part for part in (heading, note, summary) if part) + "\n"
    return text[:limit]
