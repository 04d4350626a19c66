"""``provisioner check``: test the connection, the credential and the dialect (测试连接)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from provisioner.exitcodes import ExitCode
from provisioner.render.plan import dumps
from provisioner.session import Log, connect, run_command

# MaxUserTokens default since v0.10.8 (contract §5.4 check 4); not readable through the API.
DEFAULT_TOKEN_CAP = 1000


def run(args: argparse.Namespace) -> int:
    return run_command(_check, args)


def _check(args: argparse.Namespace, log: Log) -> int:
    spec = None
    if not args.url and not args.sandbox:
        # server.url in the file is a fallback for the URL; a broken file is not fatal here
        from provisioner.spec import SpecError, load_spec

        try:
            spec = load_spec(args.file)
        except (SpecError, OSError):
            spec = None
    with connect(args, log, spec) as conn:
        info = conn.info
        client = conn.client
        tokens = client.list_tokens()
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
    if args.output == "json":
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
    sep = "\n" if args.output == "text" else "  \n"
    sys.stdout.write(sep.join(lines) + "\n")
    sys.stdout.write("OK: the credential works.\n")
    return ExitCode.OK
