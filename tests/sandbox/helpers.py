"""Helpers shared by the sandbox tests."""

from __future__ import annotations

from typing import Any

import httpx

from provisioner.sandbox import Sandbox
from provisioner.sandbox.store import TOKEN_COLUMNS

# A new-api token record's fields, in the order new-api writes them: the store's columns
# (in new-api's order: the conformance recordings hold the sandbox to it), then two more
FIELD_ORDER = [*TOKEN_COLUMNS, "DeletedAt", "auto_groups"]
# one-api's: its first ten are new-api's, then its own quota and limit fields
ONE_API_FIELD_ORDER = [*FIELD_ORDER[:10], "used_quota", "models", "subnet"]


def client_for(sandbox: Sandbox, **kwargs: Any) -> httpx.Client:
    headers = {"Authorization": f"Bearer {sandbox.credential}", "New-Api-User": "1"}
    headers.update(kwargs.pop("headers", {}))
    kwargs.setdefault("timeout", 5)
    return httpx.Client(verify=False, base_url=sandbox.url, headers=headers, **kwargs)


def create(client: httpx.Client, **fields: Any) -> int:
    """Create a token and return its id (the newest token of that name)."""
    body = client.post("/api/token/", json=fields).json()
    assert body == {"success": True, "message": ""}, body
    items = client.get("/api/token/", params={"p": 1, "size": 100}).json()["data"]["items"]
    return max(t["id"] for t in items if t["name"] == fields.get("name", ""))
