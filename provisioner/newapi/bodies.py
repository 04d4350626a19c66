"""The token bodies the client sends, built from the plan's typed settings.

The plan says what a token should be (:class:`~provisioner.plan.actions.TokenFields`,
:class:`~provisioner.plan.actions.FieldUpdates`); this module says how the server is
asked for it: the POST body of a create (docs/server-contract.md#creating-a-token) and
the whole record a PUT replaces (docs/server-contract.md#updating-a-token). The
generation's own field names come later (:func:`provisioner.newapi.dialect.to_wire`).
"""

from __future__ import annotations

from typing import Any

from provisioner.lease import Holder
from provisioner.observed import ObservedToken
from provisioner.plan.actions import FieldUpdates, TokenFields


def create_body(fields: TokenFields) -> dict[str, Any]:
    """The POST body of a new token: lists become the server's comma and newline strings."""
    return fields.to_json()


def lock_body(name: str, lease_end: int, holder: Holder) -> dict[str, Any]:
    """The create body of a lock token (docs/reconcile.md#one-apply-at-a-time): never
    usable as a key, the lease in its expiry, the holder in its model list."""
    return {
        "name": name,
        "expired_time": lease_end,
        "remain_quota": 0,  # exhausted from birth: the relay refuses it
        "unlimited_quota": False,
        "model_limits_enabled": True,  # and no real model is allowed
        "model_limits": holder.encode(),
    }


def update_body(token: ObservedToken, updates: FieldUpdates) -> dict[str, Any]:
    """Read-merge-write: ``token``'s whole record with ``updates`` applied.

    A PUT replaces every field, so fields the tool does not manage go back as they were
    read. What the written fields become is :meth:`FieldUpdates.applied_to`'s rule, the
    one the executor checks the stored record against: ``budget`` becomes ``remain_quota
    = max(0, budget - used_quota)`` against the token as it is now (so traffic between
    plan and apply is accounted for), and a group other than ``auto`` has no
    ``auto_groups`` and no cross-group retry (docs/server-contract.md#updating-a-token).
    """
    body = token.write_fields()  # untouched fields keep the server's own spelling
    after = updates.applied_to(token).to_json()  # the contract's names, lists as strings
    written = {"remain_quota" if field == "budget" else field for field in updates.to_json()}
    written |= {"remain_quota", "cross_group_retry", "auto_groups"}
    for field in after:
        if field in written:
            body[field] = after[field]
    if "auto_groups" not in after:  # leaving auto
        body.pop("auto_groups", None)
    return body
