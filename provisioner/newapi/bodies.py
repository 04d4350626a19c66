"""The token bodies the client sends, built from the plan's typed settings.

The plan says what a token should be (:class:`~provisioner.plan.actions.TokenFields`,
:class:`~provisioner.plan.actions.FieldUpdates`); this module says how the server is
asked for it: the POST body of a create (docs/server-contract.md#creating-a-token) and
the whole record a PUT replaces (docs/server-contract.md#updating-a-token). The
generation's own field names come later (:func:`provisioner.newapi.dialect.to_wire`).
"""

from __future__ import annotations

from typing import Any

from provisioner.observed import ObservedToken
from provisioner.plan.actions import FieldUpdates, TokenFields


def create_body(fields: TokenFields) -> dict[str, Any]:
    """The POST body of a new token: lists become the server's comma and newline strings."""
    return fields.to_json()


def update_body(token: ObservedToken, updates: FieldUpdates) -> dict[str, Any]:
    """Read-merge-write: ``token``'s whole record with ``updates`` applied.

    A PUT replaces every field, so fields the tool does not manage go back as they were
    read. ``updates.budget`` becomes ``remain_quota = max(0, budget - used_quota)``
    against the token as it is now, so traffic between plan and apply is accounted for.
    """
    body = token.write_fields()
    for field, value in updates.to_json().items():  # the contract's names, lists as strings
        if field == "budget":
            body["remain_quota"] = max(0, value - token.used_quota)
        else:
            body[field] = value
    if body.get("group") != "auto":
        body.pop("auto_groups", None)
        body["cross_group_retry"] = False
    elif "auto_groups" not in body:
        body["auto_groups"] = []
    return body
