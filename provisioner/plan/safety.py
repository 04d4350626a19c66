"""Safety rules a plan must pass before apply writes anything (docs/reconcile.md#safety).

Each violation names the rule, the numbers and the override.
"""

from __future__ import annotations

from dataclasses import dataclass

from provisioner.humanize import human_span
from provisioner.plan.model import Plan
from provisioner.spec.desired import Safety

# The percentage rule only applies from this many owned tokens (octoDNS's floor idea).
MIN_OWNED_FOR_PCT = 10


@dataclass(frozen=True)
class Violation:
    rule: str
    message: str
    overridable: bool = True

    def __str__(self) -> str:
        hint = " (override: --force)" if self.overridable else ""
        return f"{self.rule}: {self.message}{hint}"


def check(plan: Plan, safety: Safety) -> list[Violation]:
    """Every rule the plan breaks; empty when it is safe to apply."""
    out: list[Violation] = []
    for conflict in plan.conflicts:
        ids = ", ".join(str(i) for i in conflict.ids)
        out.append(
            Violation(
                "conflict",
                f"{len(conflict.ids)} server tokens are named {conflict.name!r} (ids {ids}); "
                "rename or delete all but one on the server",
                overridable=False,
            )
        )
    deletes = [a for a in plan.of_kind("delete") if not a.cleanup]
    disables = [a for a in plan.of_kind("disable") if a.token_id is not None]
    if safety.max_deletes is not None and len(deletes) > safety.max_deletes:
        out.append(
            Violation(
                "safety.max_deletes",
                f"the plan deletes {len(deletes)} tokens, more than the limit of "
                f"{safety.max_deletes}",
            )
        )
    if safety.max_disables is not None and len(disables) > safety.max_disables:
        out.append(
            Violation(
                "safety.max_disables",
                f"the plan disables {len(disables)} tokens, more than the limit of "
                f"{safety.max_disables}",
            )
        )
    if safety.max_changes_pct is not None and plan.owned >= MIN_OWNED_FOR_PCT:
        changed = len(plan.of_kind("update")) + len(disables) + len(deletes)
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
        if action.protected and action.kind in ("disable", "delete", "rotate"):
            out.append(
                Violation(
                    "protected",
                    f"{action.name!r} is protected: true; the plan would {action.kind} it",
                )
            )
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
                        f"{action.name!r} was used {human_span(max(0, idle))} ago, less than "
                        f"min_idle {human_span(safety.min_idle)}; the plan would "
                        f"{action.kind} it",
                    )
                )
    return out
