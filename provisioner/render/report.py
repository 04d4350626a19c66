"""Render an apply Report (text and JSON)."""

from __future__ import annotations

from typing import Any

from provisioner.plan.report import Report
from provisioner.render.style import Style

_MARK = {
    "ok": ("✓", "green"),
    "failed": ("✗", "red"),
    "skipped": ("-", "yellow"),
    "not-run": ("·", "dim"),
}


def render_text(report: Report, style: Style) -> str:
    lines = []
    for result in report.results:
        mark, color = _MARK[result.status]
        ident = f" (id {result.token_id})" if result.token_id is not None else ""
        line = f"  {mark} {result.kind:<7} {result.name}{ident}"
        if result.error:
            line += f": {result.error}"
        if result.detail:
            line += f" [{result.detail}]"
        lines.append(style(line, color))
    lines.append("")
    if report.keys_delivered:
        lines.append(f"{report.keys_delivered} new keys delivered to {report.sink}.")
    if report.keys_pending:
        names = " ".join(report.keys_pending)
        lines.append(
            "No key sink configured, so no key was revealed. Fetch the new keys with:\n"
            f"  provisioner reveal {names} --keys-to dotenv:.env.keys   (or keyring, json:PATH, "
            "exec:CMD)"
        )
    if report.keys_undelivered:
        names = " ".join(report.keys_undelivered)
        lines.append(
            "Interrupted after creating tokens whose keys were not delivered. A rerun sees "
            f"them as done; fetch their keys with:\n  provisioner reveal {names}"
            + (f" --keys-to {report.sink}" if report.sink else "")
        )
    lines.append(style(summary_line(report), "bold"))
    return "\n".join(lines) + "\n"


def summary_line(report: Report) -> str:
    counts = report.counts()
    ok, failed = counts.get("ok", 0), counts.get("failed", 0)
    rest = counts.get("not-run", 0) + counts.get("skipped", 0)
    if report.interrupted:
        return f"Interrupted: {ok} done, {failed} failed, {rest} not run. Rerun apply to finish."
    if failed:
        names = ", ".join(sorted({r.name for r in report.failed}))
        return f"Apply partly failed: {ok} done, {failed} failed ({names}), {rest} skipped."
    return f"Apply complete: {ok} operations done."


def report_json(report: Report) -> dict[str, Any]:
    return {
        "results": [r.to_json() for r in report.results],
        "summary": {
            **report.counts(),
            "interrupted": report.interrupted,
            "keys_delivered": report.keys_delivered,
        },
        "keys_pending": report.keys_pending,
        "keys_undelivered": report.keys_undelivered,
        "sink": report.sink,
    }
