"""Making a plan from a spec on a connected server: what plan and apply share.

Plan fails like apply (docs/reconcile.md#plan-knows-the-server): both run the
same checks here, the safety rules and what the server would drop or refuse.
"""

from __future__ import annotations

from collections.abc import Iterable

from provisioner.cli.delivery import Delivery
from provisioner.cli.scopes import require_for_plan
from provisioner.cli.session import Connection
from provisioner.plan.diff import diff
from provisioner.plan.model import Plan
from provisioner.plan.safety import Violation, check
from provisioner.plan.server_checks import ServerFacts, check_server, confirm_on_create
from provisioner.spec.desired import Spec


def server_facts(conn: Connection, spec: Spec) -> ServerFacts:
    """What the checks need beyond the token list; asked only when the file needs it."""
    groups = None
    if any(t.group for t in spec.tokens if t.status != "absent"):  # `auto` is a group too
        groups = conn.client.user_groups()  # None on a server without the route (one-api)
    auto = None
    if any(t.group == "auto" and t.auto_groups for t in spec.tokens if t.status != "absent"):
        auto = conn.client.auto_groups()  # None on a generation without auto groups
    return ServerFacts(
        info=conn.info,
        token_count=len(conn.inventory) + len(conn.locks),
        groups=groups,
        auto_groups=auto,
        max_tokens=spec.max_tokens,
    )


def plan_spec(
    spec: Spec,
    conn: Connection,
    delivery: Delivery | None,
    *,
    rotate_now: Iterable[str] = (),
    rotate_overlap: int | None = None,
) -> tuple[Plan, list[Violation]]:
    """The plan, and every rule it breaks (apply refuses them; plan exits 4)."""
    key_names = [t.key_name for t in spec.tokens if t.status == "enabled"]
    held = delivery.held(key_names) if delivery is not None else None
    # a key of another server or account under one of these names is refused, never
    # replaced: two servers would take turns overwriting it (docs/sinks.md#one-sink-one-server)
    foreign = delivery.foreign(key_names) if delivery is not None else {}
    quota_per_unit = conn.info.quota_per_unit
    plan = diff(
        spec,
        conn.inventory,
        conn.client.now(),
        quota_per_unit=quota_per_unit,
        rotate_now=rotate_now,
        rotate_overlap=rotate_overlap,
        sink_keys=held,
    )
    refused, notices = check_server(
        spec, plan, server_facts(conn, spec), quota_per_unit=quota_per_unit
    )
    plan.notices.extend(notices)
    confirm_on_create(plan, conn.info)
    # a scoped token that could not carry the plan out is refused now (77), not mid-apply
    require_for_plan(conn.client, plan, delivery)
    sinks = [Violation("keys.to", why, overridable=False) for why in foreign.values()]
    return plan, check(plan, spec.safety) + refused + sinks
