"""Actions as tests write them: ``make_action("update", "b", token_id=1, set={"budget": 1000})``.

The kind by its name and ``set`` in the plan document's form (docs/json.md), read by
:meth:`provisioner.plan.actions.Action.from_json` into the typed class of that kind, so
a table of actions reads as the plan's JSON does.
"""

from __future__ import annotations

from dataclasses import asdict, is_dataclass
from typing import Any

from provisioner.plan.actions import Action, FieldChange


def make_action(
    kind: str, name: str, *, set: dict[str, Any] | None = None, **fields: Any
) -> Action:
    data: dict[str, Any] = {"kind": kind, "name": name}
    if kind in ("create", "rotate"):
        data["set"] = {"name": name, **(set or {})}
    else:
        data["set"] = dict(set or {})
    if "token_id" in fields:
        data["id"] = fields.pop("token_id")
    changes = fields.pop("changes", ())
    data["changes"] = [
        {"field": c.field, "before": c.before, "after": c.after}
        if isinstance(c, FieldChange)
        else asdict(c)
        if is_dataclass(c)
        else c  # type: ignore[arg-type]
        for c in changes
    ]
    if "unconfirmed" in fields:
        data["unconfirmed"] = list(fields.pop("unconfirmed"))
    data |= fields
    return Action.from_json(data)
