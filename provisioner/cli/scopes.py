"""What each command needs of a scoped access token (new-api v1.0.0-rc.41 and later).

A ``nap_`` token carries scopes; a command is refused (exit 77, naming each missing
scope and what needs it) before it sends anything a missing scope would refuse, so
nothing is ever half-done for lack of one (docs/credentials.md#scoped-access-tokens).
Credentials without scopes (legacy access tokens, older servers) are never asked.

The client learns the scopes once per run, with calls that change nothing
(:meth:`provisioner.newapi.client.NewApiClient.require_scopes`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from provisioner.humanize import plural
from provisioner.newapi.dialect import SCOPE_REVEAL, SCOPE_WRITE

if TYPE_CHECKING:
    from provisioner.cli.delivery import Delivery
    from provisioner.newapi.client import NewApiClient
    from provisioner.plan.model import Plan

# the action kinds that write to the server, and those whose key goes to a sink
WRITES = ("create", "rotate", "rename", "update", "enable", "disable", "delete")
KEYS = ("create", "rotate", "deliver")

#: the commands that need more than reading, whatever they find on the server
COMMANDS: dict[str, dict[str, str]] = {
    "reveal": {SCOPE_REVEAL: "reveal (it reads the full keys)"},
    "rotate": {
        SCOPE_WRITE: "rotate (it creates the new token and renames the old one)",
        SCOPE_REVEAL: "rotate (it delivers the new key)",
    },
    "revoke": {
        SCOPE_WRITE: "revoke (it disables the token and creates the replacement)",
        SCOPE_REVEAL: "revoke (it confirms the leaked key and delivers the replacement's)",
    },
    "scan": {SCOPE_REVEAL: "scan (it compares the full keys)"},
    "test": {SCOPE_REVEAL: "test (it calls the relay with each token's key)"},
    "delete": {SCOPE_WRITE: "delete"},
    "unlock": {SCOPE_WRITE: "unlock (it deletes the lock token)"},
}


def plan_needs(plan: Plan, delivery: Delivery | None) -> dict[str, str]:
    """The scopes carrying out ``plan`` needs (scope -> what in the plan needs it); none
    for a plan without changes: plan itself only reads."""
    needs: dict[str, str] = {}
    writes = [a for a in plan.actions if a.kind in WRITES]
    if writes:
        kinds = sorted({a.kind for a in writes})
        needs[SCOPE_WRITE] = (
            f"this plan's {plural(len(writes), 'change')} ({', '.join(kinds)}), which apply writes"
        )
    keys = [a for a in plan.actions if a.kind in KEYS]
    if keys and delivery is not None:
        needs[SCOPE_REVEAL] = f"delivering {plural(len(keys), 'key')} to {delivery.sink}"
    return needs


def require_for_plan(client: NewApiClient, plan: Plan, delivery: Delivery | None) -> None:
    """Refuse (exit 77) a plan whose apply a missing scope would leave half-done."""
    needs = plan_needs(plan, delivery)
    if needs:
        client.require_scopes(needs)
