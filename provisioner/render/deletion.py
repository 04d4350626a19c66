"""Render ``provisioner delete``: the tokens it will delete, then what happened to each. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from provisioner.humanize import plural
from provisioner.listing.findings import Row
from provisioner.render.listing import last_used_text
from provisioner.render.plan import Header, dumps, json_head
from provisioner.render.safe import md_code, md_text, text
from provisioner.render.style import Style


def _who(header: Header) -> str:
    return text(f"{header.url}" + (f" as {header.user}" if header.user else ""))


def render_preview(rows: Sequence[Row], header: Header, now: int, style: Style) -> str:
    """What will be deleted: id, name, status and last use of each token."""
    lines = [style(f"{plural(len(rows), 'token')} to delete on {_who(header)}:", "bold"), ""]
    for row in rows:
        name = text(row.name) or '""'
        lines.append(
            f"  {style('-', 'red')} delete  {name} (id {row.id})  {row.status}, "
            f"last used {last_used_text(row, now)}"
        )
    return "\n".join(lines) + "\n"


def render_results(rows: Sequence[Row], failures: Mapping[int, str], style: Style) -> str:
    """One line per token (``✓`` or ``✗`` with the reason), then a summary line."""
    lines = [""]
    for row in rows:
        name = text(row.name) or '""'
        if row.id in failures:
            lines.append(
                style(f"  ✗ delete  {name} (id {row.id}): {text(failures[row.id])}", "red")
            )
        else:
            lines.append(style(f"  ✓ delete  {name} (id {row.id})", "green"))
    lines += ["", deletion_summary(rows, failures)]
    return "\n".join(lines) + "\n"


def deletion_summary(rows: Sequence[Row], failures: Mapping[int, str]) -> str:
    deleted = len(rows) - len(failures)
    if not failures:
        return f"Deleted {plural(deleted, 'token')}."
    return f"Delete partly failed: {deleted} of {plural(len(rows), 'token')} deleted."


def deletion_json(
    rows: Sequence[Row],
    failures: Mapping[int, str],
    header: Header,
    now: int,
    *,
    done: bool,
) -> dict[str, Any]:
    """``{"schema_version": 1, "kind": "delete", ...}`` (docs/json.md)."""
    tokens = []
    for row in rows:
        tokens.append(
            {
                "id": row.id,
                "name": row.name,
                "status": row.status,
                "last_used_time": row.last_used or None,
                "deleted": done and row.id not in failures,
                "error": failures.get(row.id, ""),
            }
        )
    deleted = sum(1 for t in tokens if t["deleted"])
    return {
        **json_head("delete", header),
        "now": now,
        "tokens": tokens,
        "summary": {"requested": len(rows), "deleted": deleted, "failed": len(failures)},
    }


def render_json(
    rows: Sequence[Row], failures: Mapping[int, str], header: Header, now: int, *, done: bool
) -> str:
    return dumps(deletion_json(rows, failures, header, now, done=done))


def render_markdown(
    rows: Sequence[Row],
    failures: Mapping[int, str],
    header: Header,
    now: int,
    *,
    done: bool,
    refusals: Mapping[int, str] | None = None,
) -> str:
    """``### provisioner delete``: one row per token (what happened, or why it was refused)."""
    refusals = refusals or {}
    who = md_code(header.url, cell=False) + (f" as {md_text(header.user)}" if header.user else "")
    out = [f"### provisioner delete: {who}", ""]
    out += ["| token | id | status | last used | result |", "|---|---:|---|---|---|"]
    for row in rows:
        if row.id in refusals:
            result = f"refused: {md_text(refusals[row.id])}"
        elif row.id in failures:
            result = f"✗ {md_text(failures[row.id])}"
        elif done:
            result = "✓ deleted"
        else:
            result = "not deleted"
        name = md_code(row.name) if row.name else '""'
        out.append(f"| {name} | {row.id} | {row.status} | {last_used_text(row, now)} | {result} |")
    summary = deletion_summary(rows, failures) if done else "Nothing was deleted."
    out += ["", f"**{summary}**", ""]
    return "\n".join(out)
