"""Render a :class:`~provisioner.listing.findings.Listing` as a table, JSON or Markdown.

The text table fits a width: when the terminal is narrow, less important
columns are dropped (key, created, units, group, ...) and long names are
shortened, so each token stays on one line. JSON is documented in
``docs/list.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from provisioner.humanize import ago, plural, utc_time
from provisioner.listing.findings import Finding, Listing, Row
from provisioner.render.plan import Header, dumps, json_head
from provisioner.render.safe import md_code, md_text, text
from provisioner.render.style import Style, relative
from provisioner.render.width import ljust, rjust, shorten
from provisioner.render.width import width as columns_of

MIN_NAME_WIDTH = 10
GAP = "  "

_STATUS_COLOR = {
    "enabled": "green",
    "disabled": "dim",
    "expired": "red",
    "exhausted": "red",
}


def _date(epoch: int) -> str:
    return utc_time(epoch, "day")


def _iso(epoch: int) -> str:
    return utc_time(epoch, "iso")


def usd(units: int, quota_per_unit: int) -> float:
    return round(units / quota_per_unit, 6) if quota_per_unit else 0.0


def _money(units: int, quota_per_unit: int) -> str:
    return f"${units / quota_per_unit:,.2f}" if quota_per_unit else "-"


def expiry_text(row: Row, now: int) -> str:
    if row.expired_time == -1:
        return "never"
    return f"{_date(row.expired_time)} ({relative(row.expired_time, now)})"


def last_used_text(row: Row, now: int) -> str:
    return "never" if row.last_used == 0 else ago(now - row.last_used)


def pct_text(row: Row) -> str:
    if row.unlimited:
        return "-"
    if row.used_pct is None:
        return "n/a"
    return f"{row.used_pct:.0f}%"


def units_text(row: Row) -> str:
    if row.unlimited:
        return f"{row.used_quota:,}/unlimited"
    return f"{row.used_quota:,}/{row.budget_quota or 0:,}"


@dataclass(frozen=True)
class Column:
    title: str
    cell: Callable[[Row], str]
    drop_order: int  # 0 = never dropped; higher numbers go first when narrow
    right: bool = False


def _columns(listing: Listing, quota_per_unit: int) -> list[Column]:
    now = listing.now
    columns = [
        Column("NAME", lambda r: text(r.name) or '""', 0),
        Column("ID", lambda r: str(r.id), 0, right=True),
        Column("STATUS", lambda r: r.status, 0),
    ]
    if listing.with_ownership:
        columns.append(Column("OWNER", lambda r: r.ownership or "", 5))
    columns += [
        Column("GROUP", lambda r: text(r.group) or "-", 7),
        Column("USED", lambda r: _money(r.used_quota, quota_per_unit), 3, right=True),
        Column(
            "REMAINING",
            lambda r: "unlimited" if r.unlimited else _money(r.remain_quota or 0, quota_per_unit),
            2,
            right=True,
        ),
        Column("USED%", pct_text, 1, right=True),
        Column("UNITS", units_text, 8, right=True),
        Column("EXPIRES", lambda r: expiry_text(r, now), 4),
        Column("CREATED", lambda r: _date(r.created_time) if r.created_time else "-", 9),
        Column("LAST USED", lambda r: last_used_text(r, now), 6),
        Column("KEY", lambda r: text(r.key) or "-", 10),
    ]
    return columns


def _fit(
    columns: list[Column], cells: list[list[str]], width: int | None
) -> tuple[list[Column], list[list[str]], list[int]]:
    """Drop the least important columns, then shorten names, until the table fits."""
    keep = list(range(len(columns)))

    def widths() -> list[int]:
        return [max([len(columns[i].title)] + [columns_of(row[i]) for row in cells]) for i in keep]

    def total(ws: list[int]) -> int:
        return sum(ws) + len(GAP) * (len(ws) - 1)

    if width is not None:
        droppable = sorted(
            (i for i in keep if columns[i].drop_order), key=lambda i: -columns[i].drop_order
        )
        name_width = widths()[0]
        while total(widths()) > width and droppable:
            # shortening a long name a little beats dropping a whole column
            excess = total(widths()) - width
            if name_width - excess >= max(MIN_NAME_WIDTH, 24):
                break
            keep.remove(droppable.pop(0))
    ws = widths()
    if width is not None and total(ws) > width:
        ws[0] = max(MIN_NAME_WIDTH, ws[0] - (total(ws) - width))
    kept_cols = [columns[i] for i in keep]
    kept_cells = [[row[i] for i in keep] for row in cells]
    return kept_cols, kept_cells, ws


def render_table(listing: Listing, quota_per_unit: int, style: Style, width: int | None) -> str:
    columns = _columns(listing, quota_per_unit)
    cells = [[c.cell(row) for c in columns] for row in listing.rows]
    kept, kept_cells, ws = _fit(columns, cells, width)
    lines = []
    head = GAP.join(
        c.title.rjust(w) if c.right else c.title.ljust(w) for c, w in zip(kept, ws, strict=True)
    )
    lines.append(style(head.rstrip(), "bold"))
    for row, values in zip(listing.rows, kept_cells, strict=True):
        parts = []
        for column, value, w in zip(kept, values, ws, strict=True):
            value = shorten(value, w)  # cells are measured in terminal columns (CJK, emoji)
            padded = rjust(value, w) if column.right else ljust(value, w)
            if column.title == "STATUS":
                padded = style(padded, _STATUS_COLOR.get(row.status, "yellow"))
            parts.append(padded)
        lines.append(GAP.join(parts).rstrip())
    return "\n".join(lines) + "\n"


def listing_summary(listing: Listing) -> str:
    statuses = ", ".join(f"{n} {s}" for s, n in listing.by_status().items())
    total = plural(listing.total, "token")
    shown = total if len(listing.rows) == listing.total else f"{len(listing.rows)} of {total}"
    count = len(listing.findings)
    findings = "no findings" if not count else plural(count, "finding")
    return f"{shown}" + (f" ({statuses})" if statuses else "") + f"; {findings}."


def render_text(
    listing: Listing,
    header: Header,
    quota_per_unit: int,
    style: Style,
    width: int | None = None,
) -> str:
    out = []
    who = f" as {header.user}" if header.user else ""
    out.append(style(text(f"Tokens on {header.url}{who}"), "bold") + "\n\n")
    if listing.rows:
        out.append(render_table(listing, quota_per_unit, style, width))
    else:
        out.append("No tokens" + (" match the filters" if listing.total else "") + ".\n")
    if listing.findings:
        out.append("\n" + style("Findings:", "bold") + "\n")
        for finding in listing.findings:
            label = style(f"{finding.kind:<19}", "yellow")
            name = text(finding.name) or '""'
            out.append(f"  {label} {name} (id {finding.id}): {text(finding.reason)}\n")
    out.append("\n" + listing_summary(listing) + "\n")
    return "".join(out)


def _md_value(column: Column, row: Row) -> str:
    """A table cell: the server's strings (name, group, key) as code spans, never read as
    Markdown; the other cells are ours (numbers, dates)."""
    if column.title == "NAME":
        return md_code(row.name) if row.name else '""'
    if column.title == "GROUP":
        return md_code(row.group) if row.group else "-"
    if column.title == "KEY":
        return md_code(row.key) if row.key else "-"
    return md_text(column.cell(row))


def render_markdown(listing: Listing, header: Header, quota_per_unit: int) -> str:
    out = [f"### provisioner list: {md_code(header.url, cell=False)}", ""]
    if header.user:
        out += [f"User: {md_text(header.user)}", ""]
    columns = _columns(listing, quota_per_unit)
    if listing.rows:
        out.append("| " + " | ".join(c.title for c in columns) + " |")
        out.append("|" + "|".join("---:" if c.right else "---" for c in columns) + "|")
        for row in listing.rows:
            out.append("| " + " | ".join(_md_value(c, row) for c in columns) + " |")
    else:
        out.append("No tokens" + (" match the filters" if listing.total else "") + ".")
    out.append("")
    if listing.findings:
        out += ["#### Findings", ""]
        for f in listing.findings:
            out.append(
                f"- **{f.kind}** {md_code(f.name, cell=False)} (id {f.id}): {md_text(f.reason)}"
            )
        out.append("")
    out.append(listing_summary(listing))
    return "\n".join(out) + "\n"


def row_json(row: Row, now: int, quota_per_unit: int) -> dict[str, Any]:
    return {
        "name": row.name,
        "id": row.id,
        "status": row.status,
        "listed_status": row.listed_status,
        "ownership": row.ownership,
        "group": row.group,
        "unlimited": row.unlimited,
        "used_quota": row.used_quota,
        "remain_quota": row.remain_quota,
        "budget_quota": row.budget_quota,
        "used_usd": usd(row.used_quota, quota_per_unit),
        "remain_usd": None if row.remain_quota is None else usd(row.remain_quota, quota_per_unit),
        "budget_usd": None if row.budget_quota is None else usd(row.budget_quota, quota_per_unit),
        "used_pct": None if row.used_pct is None else round(row.used_pct, 2),
        "expired_time": row.expired_time,
        "expires": "never" if row.expired_time == -1 else _iso(row.expired_time),
        "expires_in": None if row.expired_time == -1 else row.expired_time - now,
        "created_time": row.created_time,
        "created": _iso(row.created_time) if row.created_time else None,
        "last_used_time": row.last_used or None,
        "last_used": _iso(row.last_used) if row.last_used else None,
        "key": row.key,
    }


def finding_json(finding: Finding) -> dict[str, Any]:
    return {"kind": finding.kind, "name": finding.name, "id": finding.id, "reason": finding.reason}


def listing_json(
    listing: Listing,
    header: Header,
    quota_per_unit: int,
    *,
    spec_file: str | None,
    fail_on: tuple[str, ...] = (),
) -> dict[str, Any]:
    failing = listing.failing(fail_on)
    t = listing.thresholds
    return {
        **json_head("list", header),
        "file": spec_file,
        "now": _iso(listing.now),
        "quota_per_unit": quota_per_unit,
        "thresholds": {
            "stale_after": t.stale_after,
            "expiring_within": t.expiring_within,
            "budget_above": t.budget_above,
        },
        "tokens": [row_json(r, listing.now, quota_per_unit) for r in listing.rows],
        "findings": [finding_json(f) for f in listing.findings],
        "summary": {
            "total": listing.total,
            "shown": len(listing.rows),
            "by_status": listing.by_status(),
            "findings": {k: v for k, v in listing.finding_counts().items()},
        },
        "fail_on": list(fail_on),
        "failed": bool(failing),
    }


def render_json(
    listing: Listing,
    header: Header,
    quota_per_unit: int,
    *,
    spec_file: str | None,
    fail_on: tuple[str, ...] = (),
) -> str:
    return dumps(
        listing_json(listing, header, quota_per_unit, spec_file=spec_file, fail_on=fail_on)
    )
