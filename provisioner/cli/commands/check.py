"""``provisioner check``: test the connection, the credential and the dialect (测试连接).

On new-api v1.0.0-rc.41 and later it also says which scopes a ``nap_`` access token has
(learned with calls that change nothing) and what each missing one blocks, and warns
that a legacy access token stops working on the server's retire date
(docs/commands.md#check).
"""

from __future__ import annotations

import sys
from typing import Any

from provisioner.cli.options import CheckOptions
from provisioner.cli.session import Log, connect, spec_for_url
from provisioner.exitcodes import ExitCode
from provisioner.render.plan import dumps, json_head

LABEL = 12  # the width of the labels in the text report ("auto groups ")


def _scope_text(granted: dict[str, bool | None]) -> str:
    """``profile:read yes, api_key:write MISSING (blocks ...)``, in the tool's order."""
    from provisioner.newapi.dialect import SCOPE_USES, TOOL_SCOPES

    parts = []
    for scope in TOOL_SCOPES:
        have = granted.get(scope)
        if have is None:
            parts.append(f"{scope} not checked")
        elif have:
            parts.append(f"{scope} yes")
        else:
            parts.append(f"{scope} MISSING (blocks {SCOPE_USES[scope]})")
    return ", ".join(parts)


def _legacy_warning() -> str:
    from provisioner.newapi.dialect import MAKE_A_TOKEN

    return (
        "this credential is a legacy access token, and this server keeps an audit log "
        "(new-api v1.0.0-rc.41 or later): it stops working on the server's retire date, "
        "30 days after the upgrade's first start. The console shows the date under Access "
        "tokens; the API does not publish it. Before then, " + MAKE_A_TOKEN
    )


def _yes_no(value: bool | None, *, unknown: str = "not known yet (no token to look at)") -> str:
    return unknown if value is None else ("yes" if value else "no")


def _cap_text(cap: int | None, exists: bool | None, from_file: object) -> str:
    if cap is None:
        return " (this generation has no token cap)"
    if from_file:
        return f" of {cap} (server.max_tokens in the file)"
    if exists is None:
        return f" of {cap} (new-api's default cap; whether this server has one is not known yet)"
    return f" of {cap} (the default cap; server.max_tokens in the file if yours differs)"


def run(opts: CheckOptions) -> int:
    from provisioner.plan.server_checks import token_cap

    log = Log(opts.common)
    spec = spec_for_url(opts.server, opts.common)
    from provisioner.newapi.errors import ScopeError

    try:
        with connect(opts.server, log, spec, spec_file=opts.common.file) as conn:
            client = conn.client
            groups = client.user_groups()  # None: this server has no groups route
            auto_groups = client.auto_groups()  # None: no auto groups on this generation
            permissions = client.permissions()  # learns whether the reveal routes exist
            scopes = client.scopes  # a nap_ token's, learned by permissions(); else None
            legacy = None
            if scopes is None and conn.info.auth == "bearer":
                legacy = client.has_audit_log()  # only rc.41+ answers it
            info = conn.info
            tokens = len(conn.inventory) + len(conn.locks)
            requests = client.request_count
    except ScopeError as exc:  # the token cannot even list: say which scopes it has
        if opts.common.output == "text":
            sys.stdout.write(_text([f"scopes      {_scope_text(exc.granted)}"], ok=False))
        raise
    warning = _legacy_warning() if legacy else ""
    if warning:
        log.info(f"warning: {warning}")
    from provisioner.newapi.dialect import TOOL_SCOPES

    missing = [s for s in TOOL_SCOPES if (scopes or {}).get(s) is False]
    # scoped tokens, and the audit log a legacy one found, exist only from rc.41 on
    rc41 = scopes is not None or bool(legacy)
    generation = "new-api v1.0.0-rc.41 or later" if rc41 else info.generation
    cap = token_cap(info, spec.max_tokens if spec else None)
    fields = {
        "group": info.group_field,
        "cross_group_retry": info.cross_group_retry,
        "auto_groups": info.auto_groups,
    }
    report: dict[str, Any] = {
        **json_head("check"),
        "url": conn.url,
        "version": info.version,
        "generation": generation,
        "dialect": {
            "auth": info.auth,
            "list_shape": info.list_shape,
            "keys_masked": info.keys_masked,
            "reveal": info.reveal,
            "batch_delete": info.batch_delete,
            "oneapi_fields": info.oneapi_fields,
            "name_max_bytes": info.name_max_bytes,
        },
        "fields": fields,
        "quota_per_unit": info.quota_per_unit,
        "user": {"id": info.user_id, "username": info.username, "group": info.user_group},
        "groups": None if groups is None else sorted(groups),
        "auto_groups": auto_groups,
        "tokens": tokens,
        "token_cap": cap,
        "permissions": permissions,
        "credential": {
            "kind": "scoped" if scopes is not None else ("legacy" if legacy else "access token"),
            "scopes": scopes,
            "missing_scopes": missing,
            "warning": warning,
        },
        "requests": requests,
    }
    code = ExitCode.AUTH if missing else ExitCode.OK
    if opts.common.output == "json":
        sys.stdout.write(dumps(report))
        return code
    perms = ", ".join(f"{k}: {v}" for k, v in permissions.items())
    masked = info.keys_masked if info.keys_masked is not None else info.reveal
    keys = (
        "keys not seen yet"
        if masked is None
        else ("masked keys (revealed on demand)" if masked else "full keys in the list")
    )
    auth = {
        "bearer": "bearer token (no user header needed)",
        "header": "access token + New-Api-User",
        "access-token": "access token (no user header)",
        "unknown": "access token, New-Api-User sent",
    }[info.auth]
    field_text = ", ".join(f"{name} {_yes_no(value)}" for name, value in fields.items())
    if info.oneapi_fields:
        field_text += "; model and IP limits as models/subnet"
    names = (
        f"names up to {info.name_max_bytes} bytes"
        if info.name_max_bytes
        else "name limit: not known yet"
    )
    lines = [
        f"server      {conn.url}",
        f"version     {info.version or 'unknown'} ({generation}, learned from the server)",
        f"dialect     {auth}, {info.list_shape} lists, {keys}, {names}",
        f"fields      {field_text}",
        f"quota unit  {info.quota_per_unit} per USD",
        f"user        {info.username or '?'} (id {info.user_id}, group {info.user_group or '-'})",
        "groups      "
        + ("not available on this server" if groups is None else ", ".join(sorted(groups)) or "-"),
        "auto groups "
        + (
            "not available on this server" if auto_groups is None else ", ".join(auto_groups) or "-"
        ),
        f"tokens      {tokens}{_cap_text(cap, info.token_cap, spec and spec.max_tokens)}",
        f"permissions {perms}",
    ]
    if scopes is not None:
        lines.append(f"scopes      {_scope_text(scopes)}")
    elif legacy:
        lines.append(
            "credential  legacy access token: retired by this server 30 days after its upgrade"
        )
    markdown = opts.common.output == "markdown"
    ok = not missing
    sys.stdout.write(_markdown(conn.url, lines, ok=ok) if markdown else _text(lines, ok=ok))
    if missing:
        from provisioner.newapi.dialect import SCOPE_USES, scope_refusal

        log.error(scope_refusal(scopes or {}, {s: SCOPE_USES[s] for s in missing}))
    return code


def _text(lines: list[str], *, ok: bool = True) -> str:
    """The report for a terminal: the server's strings (version, names, groups) escaped."""
    from provisioner.render.safe import text

    last = "OK: the credential works.\n" if ok else "NOT OK: the credential lacks scopes.\n"
    return "".join(text(line) + "\n" for line in lines) + last


def _markdown(url: str, lines: list[str], *, ok: bool = True) -> str:
    """``### provisioner check``: a two-column table; every value escaped (render.safe)."""
    from provisioner.render.safe import md_code, md_text

    out = [f"### provisioner check: {md_code(url, cell=False)}", "", "| | |", "|---|---|"]
    for line in lines:
        label, value = line[:LABEL].strip(), line[LABEL:].strip()
        out.append(f"| {label} | {md_text(value)} |")
    out += [
        "",
        "**OK: the credential works.**" if ok else "**NOT OK: the credential lacks scopes.**",
        "",
    ]
    return "\n".join(out)
