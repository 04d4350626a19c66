"""``provisioner check``: test the connection, the credential and the dialect (测试连接)."""

from __future__ import annotations

import sys
from typing import Any

from provisioner.cli.options import CheckOptions
from provisioner.cli.session import Log, connect
from provisioner.exitcodes import ExitCode
from provisioner.render.plan import dumps

# MaxUserTokens default since v0.10.8; not readable through the API
# (docs/server-contract.md#creating-a-token).
DEFAULT_TOKEN_CAP = 1000


def run(opts: CheckOptions) -> int:
    log = Log(opts.common)
    spec = None
    if not opts.server.url and not opts.server.sandbox:
        # server.url in the file is a fallback for the URL; a broken file is not fatal here
        from provisioner.spec import SpecError, load_spec

        try:
            spec = load_spec(opts.common.file)
        except (SpecError, OSError):
            spec = None
    with connect(opts.server, log, spec) as conn:
        info = conn.info
        client = conn.client
        tokens = conn.inventory
        groups = client.user_groups()
        permissions = client.permissions()
        requests = client.request_count
    report: dict[str, Any] = {
        "schema_version": 1,
        "kind": "check",
        "url": conn.url,
        "version": info.version,
        "dialect": {
            "auth": info.auth,
            "list_shape": info.list_shape,
            "keys_masked": info.keys_masked,
            "reveal": info.reveal,
        },
        "quota_per_unit": info.quota_per_unit,
        "user": {"id": info.user_id, "username": info.username, "group": info.user_group},
        "groups": sorted(groups),
        "tokens": len(tokens),
        "token_cap": DEFAULT_TOKEN_CAP,
        "permissions": permissions,
        "requests": requests,
    }
    if opts.common.output == "json":
        sys.stdout.write(dumps(report))
        return ExitCode.OK
    perms = ", ".join(f"{k}: {v}" for k, v in permissions.items())
    lines = [
        f"server      {conn.url}",
        f"version     {info.version or 'unknown'}",
        f"dialect     auth {info.auth}, {info.list_shape} lists, "
        f"{'masked keys' if info.keys_masked else 'full keys'}, "
        f"reveal {'yes' if info.reveal else 'no (keys come with the list)'}",
        f"quota unit  {info.quota_per_unit} per USD",
        f"user        {info.username or '?'} (id {info.user_id}, group {info.user_group or '-'})",
        f"groups      {', '.join(sorted(groups)) or '-'}",
        f"tokens      {len(tokens)} of {DEFAULT_TOKEN_CAP} (the server's default cap)",
        f"permissions {perms}",
    ]
    sep = "\n" if opts.common.output == "text" else "  \n"
    sys.stdout.write(sep.join(lines) + "\n")
    sys.stdout.write("OK: the credential works.\n")
    return ExitCode.OK
