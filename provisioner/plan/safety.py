"""Safety rules a plan must pass before apply writes anything (docs/reconcile.md#safety).

Each violation names the rule, the numbers and the override. Safe by default: a
file that sets no ``safety.max_deletes`` / ``safety.max_disables`` still gets a
limit of max(5, 25% of the owned tokens) on each (:func:`default_limit`).
"""

from __future__ import annotations

from dataclasses import dataclass

from provisioner.humanize import ago, human_span, plural
from provisioner.plan.actions import Action, Rotate
from provisioner.plan.model import Plan
from provisioner.spec.desired import DEFAULT_LIMIT_FLOOR, DEFAULT_LIMIT_PCT, Safety, default_limit

# The percentage rule only applies from this many owned tokens (octoDNS's floor idea).
MIN_OWNED_FOR_PCT = 10


@dataclass(frozen=True)
class Violation:
    rule: str
    message: str
    overridable: bool = True
    override: str = "--force"  # what lifts it, when overridable

    def __str__(self) -> str:
        hint = f" (override: {self.override})" if self.overridable else ""
        return f"{self.rule}: {self.message}{hint}"


def _limit(
    rule: str, verb: str, actions: list[Action], limit: int | None, owned: int
) -> Violation | None:
    """``safety.max_deletes`` / ``max_disables``: the file's limit, else the default."""
    count = len(actions)
    if limit is not None:
        if count <= limit:
            return None
        return Violation(
            f"safety.{rule}",
            f"the plan {verb} {plural(count, 'token')}, more than the limit of {limit}",
        )
    default = default_limit(owned)
    if count <= default:
        return None
    return Violation(
        f"safety.{rule} (default)",
        f"the plan {verb} {plural(count, 'token')}; with no safety.{rule} in the file the limit is "
        f"max({DEFAULT_LIMIT_FLOOR}, {DEFAULT_LIMIT_PCT}% of {owned} owned tokens) = {default}",
        override=f"set `safety: {{{rule}: {count}}}` in the file, or pass --force",
    )


def _protection(action: Action) -> Violation | None:
    """A protected token is never disabled or deleted, and rotated only on its own schedule."""
    if not action.protected:
        return None
    if action.kind in ("disable", "delete"):
        what = f"{action.kind} it"
    elif isinstance(action, Rotate) and not action.scheduled:
        what = "rotate it outside its own rotate.every schedule"
    else:
        return None  # a scheduled rotation: the file asked for it
    return Violation("protected", f"{action.name!r} is protected: true; the plan would {what}")


def check(plan: Plan, safety: Safety) -> list[Violation]:
    """Every rule the plan breaks; empty when it is safe to apply."""
    out: list[Violation] = []
    for conflict in plan.conflicts:
        ids = ", ".join(str(i) for i in conflict.ids)
        out.append(
            Violation(
                "conflict",
                f"{len(conflict.ids)} server tokens are named {conflict.name!r} (ids {ids}); "
                "delete all but one with `provisioner delete ID...` (`provisioner list "
                f"--match {conflict.name!r}` shows which is in use), or rename them on the server",
                overridable=False,
            )
        )
    # leftovers kept in their desired state (Action.cleanup) are not counted
    deletes = [a for a in plan.of_kind("delete") if not a.cleanup]
    disables = [a for a in plan.of_kind("disable") if a.token_id is not None and not a.cleanup]
    for rule, verb, actions, limit in (
        ("max_deletes", "deletes", deletes, safety.max_deletes),
        ("max_disables", "disables", disables, safety.max_disables),
    ):
        violation = _limit(rule, verb, actions, limit, plan.owned)
        if violation is not None:
            out.append(violation)
    if safety.max_changes_pct is not None and plan.owned >= MIN_OWNED_FOR_PCT:
        updates = [a for a in plan.of_kind("update") if not a.cleanup]
        changed = len(updates) + len(disables) + len(deletes)
        pct = 100.0 * changed / plan.owned
        if pct > safety.max_changes_pct:
            out.append(
                Violation(
                    "safety.max_changes_pct",
                    f"the plan changes {changed} of {plan.owned} owned tokens ({pct:.0f}%), "
                    f"more than {safety.max_changes_pct:g}%",
                )
            )
    for action in plan.actions:
        violation = _protection(action)
        if violation is not None:
            out.append(violation)
    if safety.min_idle is not None:
        for action in plan.actions:
            if action.kind not in ("disable", "delete") or action.token_id is None:
                continue
            if action.cleanup or not action.accessed_time:
                continue
            idle = plan.now - action.accessed_time
            if idle < safety.min_idle:
                out.append(
                    Violation(
                        "safety.min_idle",
                        f"{action.name!r} was used {ago(idle)}, less than "
                        f"min_idle {human_span(safety.min_idle)}; the plan would "
                        f"{action.kind} it",
                    )
                )
    return out
