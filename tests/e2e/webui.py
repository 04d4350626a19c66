"""What a person does in the web UI (令牌管理), as the dashboard does it: calls to the
sandbox's management API with the account's own credential, over HTTP.

The edit form reads the token and sends the whole record back with the changed
fields (a full-mode PUT); the switch in the list sends a status-only PUT
(docs/server-contract.md#updating-a-token).
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.e2e.conftest import Cli


def _client(cli: Cli) -> httpx.Client:
    headers = {
        "Authorization": f"Bearer {cli.sandbox.credential}",
        "New-Api-User": str(cli.sandbox.user_id),
    }
    return httpx.Client(base_url=cli.sandbox.url, headers=headers, timeout=10)


def _ok(answer: httpx.Response) -> Any:
    body = answer.json()
    assert answer.status_code == 200 and body.get("success"), answer.text
    return body.get("data")


def edit(cli: Cli, name: str, **changes: Any) -> dict[str, Any]:
    """The edit form: read the token named ``name``, change fields, save the whole record."""
    token_id = cli.row(name)["id"]
    with _client(cli) as client:
        record = _ok(client.get(f"/api/token/{token_id}"))
        record.update(changes)
        record.pop("key", None)
        record.pop("status", None)  # the form saves fields; status has its own switch
        return dict(_ok(client.put("/api/token/", json=record)))


def switch(cli: Cli, name: str, *, enabled: bool) -> None:
    """The enable/disable switch in the token list (a status-only PUT)."""
    token_id = cli.row(name)["id"]
    with _client(cli) as client:
        _ok(
            client.put(
                "/api/token/",
                params={"status_only": "true"},
                json={"id": token_id, "status": 1 if enabled else 2},
            )
        )


def create(cli: Cli, **fields: Any) -> None:
    """The create form: one POST (the server answers no id)."""
    body = {"expired_time": -1, "remain_quota": 0, "unlimited_quota": True, **fields}
    with _client(cli) as client:
        _ok(client.post("/api/token/", json=body))
