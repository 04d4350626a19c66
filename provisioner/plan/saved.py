"""Saved plans: ``plan --out PLAN`` and ``apply PLAN`` (docs/reconcile.md#saved-plans).

The file holds the actions, the spec digest, the server identity and the
fingerprint of every token the plan touches; never a key or credential.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provisioner import __version__
from provisioner.errors import UsageError
from provisioner.observed import Token
from provisioner.plan.model import Action, Conflict, Notice, Plan, fingerprint
from provisioner.spec.desired import Safety

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


def staleness(plan: Plan, inventory: Sequence[Token]) -> list[str]:
    """What moved on the server since the plan was made; empty when it still applies.

    Only tokens the plan touches count: unrelated changes do not make it stale.
    """
    by_id = {t.id: t for t in inventory}
    names: dict[str, list[Token]] = {}
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
        token = by_id.get(action.token_id)
        if token is None:
            moved[f"{action.name} (id {action.token_id}): deleted since the plan"] = None
        elif fingerprint(token) != action.fingerprint:
            moved[f"{action.name} (id {action.token_id}): changed since the plan"] = None
    return list(moved)
