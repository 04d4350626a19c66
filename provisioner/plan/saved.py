"""Saved plans as data: ``plan --out PLAN`` and ``apply PLAN`` (docs/reconcile.md#saved-plans).

The document holds the actions, the spec digest, the server identity and the
fingerprint of every token the plan touches; never a key or credential. This module
turns a plan into that document and back, and says what moved since; reading and
writing the file is the shell's (:mod:`provisioner.cli.planfile`), as terraform keeps
``plans/planfile`` next to the plan.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from provisioner import __version__
from provisioner.errors import UsageError
from provisioner.observed import ObservedToken
from provisioner.plan.actions import Action
from provisioner.plan.model import Conflict, Notice, Plan, fingerprint
from provisioner.spec.desired import Safety

KIND = "provisioner-plan"
#: written since 0.3: the typed actions (:meth:`Action.to_saved`)
FORMAT_VERSION = 2
#: format 1 (0.1 and 0.2) holds each action as the plan document does (``set`` in the
#: contract's words); it is still read, so a plan saved before an upgrade still applies
READS = (1, 2)


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


def dumps(
    plan: Plan,
    *,
    spec_path: str,
    spec_digest: str,
    server_url: str,
    user_id: int | None,
    server_version: str,
    safety: Safety,
    keys_to: str | None,
) -> str:
    """The saved plan's text: one JSON document."""
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
        "actions": [a.to_saved() for a in plan.ordered()],
        "conflicts": [{"name": c.name, "ids": list(c.ids)} for c in plan.conflicts],
        "notices": [
            {"kind": n.kind, "name": n.name, "id": n.token_id, "message": n.message}
            for n in plan.notices
        ],
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _looks_like_spec(name: str, text: str) -> bool:
    """A tokens.yaml given where a saved plan belongs (``apply tokens.yaml``)."""
    if PurePath(name).suffix.lower() in (".yaml", ".yml"):
        return True
    return bool(re.search(r"^version:", text, re.MULTILINE)) and bool(
        re.search(r"^tokens:", text, re.MULTILINE)
    )


def spec_hint(name: str) -> str:
    """What to say when ``name`` is a spec file where a saved plan belongs."""
    return (
        f"{name} is a spec file, not a saved plan: `apply PLAN` takes a file written by "
        f"`plan --out PLAN`. Did you mean `provisioner apply -f {name}`?"
    )


def loads(text: str, name: str) -> SavedPlan:
    """The plan in ``text`` (read from ``name``); a :class:`SavedPlanError` (64) says what is
    wrong with it."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if _looks_like_spec(name, text):
            raise SavedPlanError(spec_hint(name)) from None
        raise SavedPlanError(f"{name}: not a saved plan ({exc})") from None
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise SavedPlanError(
            f"{name}: not a provisioner plan (kind {data.get('kind')!r})"
            if isinstance(data, dict)
            else f"{name}: not a provisioner plan"
        )
    version = data.get("format_version")
    if version not in READS:
        reads = " and ".join(str(v) for v in READS)
        raise SavedPlanError(
            f"{name}: plan format {version!r} is not supported "
            f"(this provisioner reads {reads}); run `provisioner plan --out` again"
        )
    read_action = Action.from_json if version == 1 else Action.from_saved
    try:
        plan = Plan(
            actions=[read_action(a) for a in data["actions"]],
            conflicts=[Conflict.from_json(c) for c in data.get("conflicts", [])],
            notices=[Notice.from_json(n) for n in data.get("notices", [])],
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
        raise SavedPlanError(f"{name}: damaged plan file ({exc!r})") from None


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
