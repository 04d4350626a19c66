"""Render an apply Report (text and JSON)."""

from __future__ import annotations

from typing import Any

from provisioner.humanize import plural
from provisioner.render.safe import md_code, md_text, text, text_names
from provisioner.render.style import Style
from provisioner.report import OpResult, Report

_MARK = {
    "ok": ("✓", "green"),
    "failed": ("✗", "red"),
    "skipped": ("-", "yellow"),
    "not-run": ("·", "dim"),
}
# Failure summaries and runs of like results name this many tokens and count the rest.
NAMED = 3


def _line(result: OpResult) -> str:
    ident = f" (id {result.token_id})" if result.token_id is not None else ""
    line = f"  {_MARK[result.status][0]} {result.kind:<7} {text(result.name)}{ident}"
    if result.error:
        line += f": {text(result.error)}"
    if result.detail:
        line += f" [{text(result.detail)}]"
    return line


def _runs(results: list[OpResult]) -> list[list[OpResult]]:
    """Consecutive results skipped for the same reason (not sent after a cap error), grouped.

    Every other result keeps a line of its own; the JSON report lists them all.
    """
    runs: list[list[OpResult]] = []
    for result in results:
        last = runs[-1][-1] if runs else None
        same = (
            last is not None
            and result.status == "skipped"
            and (last.status, last.kind, last.error) == (result.status, result.kind, result.error)
        )
        if same:
            runs[-1].append(result)
        else:
            runs.append([result])
    return runs


def render_text(report: Report, style: Style) -> str:
    lines = []
    for run in _runs(report.results):
        for result in run[:NAMED]:
            lines.append(style(_line(result), _MARK[result.status][1]))
        if len(run) > NAMED:
            rest = len(run) - NAMED
            lines.append(
                style(f"  … and {rest} more {run[0].kind}s skipped for the same reason", "dim")
            )
    lines.append("")
    lines.extend(_key_lines(report))
    lines.append(style(report_summary(report), "bold"))
    return "\n".join(lines) + "\n"


def _key_lines(report: Report) -> list[str]:
    """Where the keys went, or how to fetch them (escaped for a terminal)."""
    lines: list[str] = []
    if report.keys_delivered:
        lines.append(f"{plural(report.keys_delivered, 'key')} delivered to {report.sink}.")
    if report.keys_moved:
        moves = [f"{old} -> {new}" for old, new in report.keys_moved]
        lines.append(
            f"Moved in {report.sink} (same key, new key name; the old entry removed): "
            f"{text_names(moves, NAMED)}."
        )
    if report.keys_forgotten:
        lines.append(
            f"Removed from {report.sink}, their tokens being deleted: "
            f"{text_names(report.keys_forgotten, NAMED)}."
        )
    if report.keys_pending:
        names = " ".join(text(n) for n in report.keys_pending)
        lines.append(
            "No key sink configured, so no key was revealed. Fetch the new keys with:\n"
            f"  provisioner reveal {names} --keys-to dotenv:.env.keys   (or keyring, json:PATH, "
            "exec:CMD)"
        )
    if report.keys_undelivered:
        names = " ".join(text(n) for n in report.keys_undelivered)
        if report.sink_readable:
            lines.append(
                f"Keys not delivered yet: {text_names(report.keys_undelivered, NAMED)}. "
                "The next apply "
                f"delivers them ({report.sink} is compared with the server at every plan)."
            )
        else:
            lines.append(
                "Tokens were created whose keys were not delivered, and "
                f"{report.sink or 'the sink'} cannot be read back to notice it; fetch their "
                f"keys with:\n  provisioner reveal {names}"
                + (f" --keys-to {report.sink}" if report.sink else "")
            )
    lines.extend(text(note) for note in report.notes)
    lines.extend(text(f"Refused: {refusal}") for refusal in report.refused)
    return lines


def report_summary(report: Report) -> str:
    counts = report.counts()
    ok, failed = counts.get("ok", 0), counts.get("failed", 0)
    skipped, not_run = counts.get("skipped", 0), counts.get("not-run", 0)
    if report.interrupted:
        return (
            f"Interrupted: {ok} done, {failed} failed, {skipped + not_run} not run. "
            "Rerun apply to finish."
        )
    if failed or skipped:
        names = sorted({r.name for r in report.results if r.status in ("failed", "skipped")})
        return (
            f"Apply partly failed: {ok} done, {failed} failed, {skipped} skipped "
            f"({text_names(names, NAMED)})."
        )
    return f"Apply complete: {plural(ok, 'operation')} done."


def render_markdown(report: Report) -> str:
    """The apply report as Markdown: a table of operations, the key lines, the summary.

    Follows the plan's Markdown in one document (``### provisioner apply``).
    """
    out = ["#### Result", ""]
    if report.results:
        out += ["| | operation | token | id | detail |", "|---|---|---|---:|---|"]
        for result in report.results:
            mark = _MARK[result.status][0]
            ident = "" if result.token_id is None else str(result.token_id)
            detail = "; ".join(p for p in (result.error, result.detail) if p)
            out.append(
                f"| {mark} | {result.kind} | {md_code(result.name)} | {ident} | {md_text(detail)} |"
            )
        out.append("")
    for line in _key_lines(report):
        for part in line.split("\n"):
            out.append(md_text(part.strip()) + "  ")
    out += ["", f"**{md_text(report_summary(report))}**", ""]
    return "\n".join(out)


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
        "keys_forgotten": report.keys_forgotten,
        "keys_moved": [{"from": old, "to": new} for old, new in report.keys_moved],
        "notes": report.notes,
        "refused": report.refused,
        "sink": report.sink,
    }
