"""Saved plans: ``plan --out PLAN`` and ``apply PLAN`` (docs/reconcile.md#saved-plans).

The file holds the actions, the spec digest, the server identity and the
fingerprint of every token the plan touches; never a key or credential.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provisioner import __version__
from provisioner.errors import UsageError
from provisioner.observed import ObservedToken
from provisioner.plan.model import Action, Conflict, Notice, Plan, fingerprint
from provisioner.spec.desired import Safety, Spec

KIND = "provisioner-plan"
FORMAT_VERSION = 1


class SavedPlanError(UsageError):
    """The file is not a plan this version can apply."""


@dataclass
class SavedPlan:
    plan: Plan
    spec_path: str
    spec_digest: str
    server_url: str
    user_id: int | None
    safety: Safety
    keys_to: str | None


def save(
    path: str | Path,
    plan: Plan,
    *,
    spec_path: str,
    spec_digest: str,
    server_url: str,
    user_id: int | None,
    server_version: str,
    safety: Safety,
    keys_to: str | None,
) -> None:
    data: dict[str, Any] = {
        "kind": KIND,
        "format_version": FORMAT_VERSION,
        "provisioner_version": __version__,
        "created": plan.now,
        "spec": {"path": spec_path, "digest": spec_digest},
        "server": {"url": server_url, "user_id": user_id, "version": server_version},
        "quota_per_unit": plan.quota_per_unit,
        "owned": plan.owned,
        "unmanaged": plan.unmanaged,
        "safety": {
            "max_deletes": safety.max_deletes,
            "max_disables": safety.max_disables,
            "max_changes_pct": safety.max_changes_pct,
            "min_idle": safety.min_idle,
        },
        "keys_to": keys_to,
        "actions": [a.to_json() for a in plan.ordered()],
        "conflicts": [{"name": c.name, "ids": list(c.ids)} for c in plan.conflicts],
        "notices": [
            {"kind": n.kind, "name": n.name, "id": n.token_id, "message": n.message}
            for n in plan.notices
        ],
    }
    target = Path(path)
    check_target(target)
    tmp = target.with_name(target.name + ".tmp")
    try:
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        tmp.replace(target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise SavedPlanError(
            f"--out {target}: cannot write the plan ({exc.strerror or exc})", exit_code=1
        ) from None


def check_target(target: Path) -> None:
    """A plan file can be written at ``target``, or a :class:`SavedPlanError` (64) says why."""
    if target.is_dir():
        raise SavedPlanError(
            f"--out {target}: is a directory; name a file, e.g. {target / 'plan.json'}"
        )
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        what = "is not a directory" if parent.exists() else "does not exist"
        raise SavedPlanError(
            f"--out {target}: the folder {parent} {what}; create it first or save elsewhere"
        )


def _looks_like_spec(path: Path, text: str) -> bool:
    """A tokens.yaml given where a saved plan belongs (``apply tokens.yaml``)."""
    if path.suffix.lower() in (".yaml", ".yml"):
        return True
    return bool(re.search(r"^version:", text, re.MULTILINE)) and bool(
        re.search(r"^tokens:", text, re.MULTILINE)
    )


def _spec_hint(path: str | Path) -> str:
    return (
        f"{path} is a spec file, not a saved plan: `apply PLAN` takes a file written by "
        f"`plan --out PLAN`. Did you mean `provisioner apply -f {path}`?"
    )


def load(path: str | Path) -> SavedPlan:
    """Read a plan saved by :func:`save`; a :class:`SavedPlanError` (64) says what is wrong."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SavedPlanError(f"{path}: no such plan file") from None
    except IsADirectoryError:
        raise SavedPlanError(f"{path}: is a directory, not a saved plan") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SavedPlanError(f"{path}: not a saved plan ({exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if _looks_like_spec(Path(path), text):
            raise SavedPlanError(_spec_hint(path)) from None
        raise SavedPlanError(f"{path}: not a saved plan ({exc})") from None
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise SavedPlanError(
            f"{path}: not a provisioner plan (kind {data.get('kind')!r})"
            if isinstance(data, dict)
            else f"{path}: not a provisioner plan"
        )
    if data.get("format_version") != FORMAT_VERSION:
        raise SavedPlanError(
            f"{path}: plan format {data.get('format_version')!r} is not supported "
            f"(this provisioner reads {FORMAT_VERSION}); run `provisioner plan --out` again"
        )
    try:
        plan = Plan(
            actions=[Action.from_json(a) for a in data["actions"]],
            conflicts=[Conflict(c["name"], tuple(c["ids"])) for c in data.get("conflicts", [])],
            notices=[
                Notice(n["name"], n.get("id"), n["kind"], n["message"])
                for n in data.get("notices", [])
            ],
            owned=int(data.get("owned", 0)),
            unmanaged=int(data.get("unmanaged", 0)),
            now=int(data["created"]),
            quota_per_unit=int(data["quota_per_unit"]),
        )
        safety = Safety(**data.get("safety", {}))
        return SavedPlan(
            plan=plan,
            spec_path=data["spec"]["path"],
            spec_digest=data["spec"]["digest"],
            server_url=data["server"]["url"],
            user_id=data["server"].get("user_id"),
            safety=safety,
            keys_to=data.get("keys_to"),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise SavedPlanError(f"{path}: damaged plan file ({exc!r})") from None


def staleness(plan: Plan, inventory: Sequence[ObservedToken]) -> list[str]:
    """What moved on the server since the plan was made; empty when it still applies.

    Only tokens the plan touches count: unrelated changes do not make it stale.
    """
    by_id = {t.id: t for t in inventory}
    names: dict[str, list[ObservedToken]] = {}
    for token in inventory:
        names.setdefault(token.name, []).append(token)
    moved: dict[str, None] = {}  # ordered set: several actions can touch one token
    for action in plan.actions:
        if action.kind == "create":
            if action.name in names:
                ids = ", ".join(str(t.id) for t in names[action.name])
                word = "id" if len(names[action.name]) == 1 else "ids"
                moved[f"{action.name}: now exists on the server ({word} {ids})"] = None
            continue
        if action.token_id is None:
            continue
        observed = by_id.get(action.token_id)
        if observed is None:
            moved[f"{action.name} (id {action.token_id}): deleted since the plan"] = None
        elif fingerprint(observed) != action.fingerprint:
            moved[f"{action.name} (id {action.token_id}): changed since the plan"] = None
    return list(moved)


# Reviewed plans (docs/ci.md#apply-only-what-was-reviewed): the GitHub Action's plan
# comment carries one entry per action, and apply on merge compares today's plan with it.
# An entry holds nothing that moves with time alone: a create's relative expiry is the
# file's duration (not now + duration), a rotation's old-token name and expiry (dated
# today) and a token's last use are left out. What it keeps: which token (its id and the
# fingerprint of its configuration, which traffic never changes) and what is written.


@dataclass(frozen=True)
class ReviewEntry:
    """One action as a review saw it."""

    kind: str
    name: str
    token_id: int | None
    observed: str  # the token's fingerprint when planned ("" for a create)
    write: str  # digest of what the action writes

    def to_json(self) -> list[Any]:
        return [self.kind, self.name, self.token_id, self.observed, self.write]

    @classmethod
    def from_json(cls, data: Any) -> ReviewEntry:
        kind, name, token_id, observed, write = data
        if not all(isinstance(v, str) for v in (kind, name, observed, write)) or not (
            token_id is None or (isinstance(token_id, int) and not isinstance(token_id, bool))
        ):
            raise ValueError(f"not a review entry: {data!r}")
        return cls(kind, name, token_id, observed, write)

    @property
    def label(self) -> str:
        ident = f" (id {self.token_id})" if self.token_id is not None else ""
        return f"{self.kind} {self.name}{ident}"


def _digest(data: Any, size: int = 16) -> str:
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8", errors="surrogatepass")).hexdigest()[:size]


def review_entries(plan: Plan, spec: Spec | None = None) -> list[ReviewEntry]:
    """The plan's actions in execution order, each reduced to what a review approves.

    ``spec`` tells which creates (and rotations' new tokens) expire relative to their
    creation: their ``expired_time`` is then the file's duration, the same at plan and
    at apply. Without it the instant is kept (stable for ``never`` and dates only).
    """
    declared = spec.by_name() if spec is not None else {}
    entries = []
    for action in plan.ordered():
        write = dict(action.set)
        desired = declared.get(action.name)
        if (
            action.kind in ("create", "rotate")
            and "expired_time" in write
            and desired is not None
            and desired.expires.kind == "relative"
        ):
            write["expired_time"] = f"+{desired.expires.seconds}s"
        what = {
            "set": write,
            "key_name": action.key_name,
            "protected": action.protected,
            "cleanup": action.cleanup,
            "unconfirmed": sorted(action.unconfirmed),
        }
        entries.append(
            ReviewEntry(
                action.kind, action.name, action.token_id, action.fingerprint, _digest(what)
            )
        )
    return entries


def review_fingerprint(entries: Sequence[ReviewEntry]) -> str:
    """One digest of a whole plan's entries: equal plans, equal fingerprints."""
    return _digest([e.to_json() for e in entries])


def review_differences(
    reviewed: Sequence[ReviewEntry], current: Sequence[ReviewEntry]
) -> list[str]:
    """What today's plan does that the reviewed one did not, one line each (empty: same)."""

    def key(entry: ReviewEntry) -> tuple[str, str, int | None]:
        return entry.kind, entry.name, entry.token_id

    before = {key(e): e for e in reviewed}
    now = {key(e): e for e in current}
    lines = []
    for entry in current:
        old = before.get(key(entry))
        if old is None:
            lines.append(f"+ {entry.label}: not in the reviewed plan")
        elif old.observed != entry.observed:
            lines.append(f"~ {entry.label}: the token changed on the server since the review")
        elif old.write != entry.write:
            lines.append(f"~ {entry.label}: writes other values than the reviewed plan")
    for entry in reviewed:
        if key(entry) not in now:
            lines.append(f"- {entry.label}: in the reviewed plan, no longer planned")
    return lines
