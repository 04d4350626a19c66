"""Render ``test``, ``revoke`` and ``scan`` as text, JSON or Markdown (docs/keys-in-use.md).

Pure: data in, text out. No full key reaches these functions' output: ``test``
and ``scan`` never carry one, and ``revoke`` prints the keys it was given
through :class:`~provisioner.secret.Secret`, masked ``sk-abcd...wxyz``.
"""

from __future__ import annotations

from typing import Any

from provisioner.humanize import plural as _plural
from provisioner.keys.match import ScanReport
from provisioner.keys.revoke import RevokeOutcome, RevokeRun
from provisioner.keys.verdict import REASONS, ChatTest, KeyTestRun
from provisioner.listing.findings import STATUS_NAMES
from provisioner.observed import ObservedToken
from provisioner.render.plan import Header, header_line, json_head
from provisioner.render.safe import md_code, md_text, text
from provisioner.render.style import Style
from provisioner.report import OpResult
from provisioner.secret import Secret

SPENDS_NOTHING = "GET /v1/models spends no quota."
SPENDS_QUOTA = "--model sent one chat completion (max_tokens 1) per working key: it spent quota."


def _title(header: Header, style: Style) -> str:
    return style(header_line(header), "bold")


def masked(key: Secret) -> str:
    """``sk-abcd...wxyz``, whether or not the key was given with its ``sk-``."""
    text = key.masked
    return text if text.startswith("sk-") else "sk-" + text


def _ident(name: str, token_id: int | None) -> str:
    """``NAME (id N)``, the name escaped for a terminal (render.safe.text)."""
    return f"{text(name)} (id {token_id})" if token_id is not None else text(name)


def status_name(token: ObservedToken, now: int) -> str:
    effective = token.effective_status(now)
    return STATUS_NAMES.get(int(effective), f"status {int(effective)}")


# ---------------------------------------------------------------------------- test


def _http(status: int | None, latency: int | None) -> str:
    parts = [f"HTTP {status}" if status else "", f"{latency} ms" if latency is not None else ""]
    inner = ", ".join(p for p in parts if p)
    return f" ({inner})" if inner else ""


def _verdict_text(outcome: str, reason: str, explanation: str) -> str:
    if outcome in ("works", "as-declared"):
        return explanation
    label = REASONS.get(reason, reason)
    if label and explanation:
        return f"{label}: {explanation}"
    return label or explanation


def _chat_line(chat: ChatTest) -> str:
    what = _verdict_text(chat.outcome, chat.reason, chat.explanation)
    http = _http(chat.http_status, chat.latency_ms)
    return f"chat {text(chat.model)}: {chat.outcome}: {text(what)}{http}"


_MARK = {
    "works": ("✓", "green"),
    "refused": ("✗", "red"),
    "as-declared": ("-", "dim"),
    "missing": ("✗", "red"),
}


def keytest_summary(run: KeyTestRun) -> str:
    counts = run.counts()
    parts = [f"{counts['works']} works", f"{counts['refused']} refused"]
    if counts.get("as-declared"):
        parts.append(f"{counts['as-declared']} disabled as declared")
    if counts["missing"]:
        parts.append(f"{counts['missing']} missing")
    if counts["error"]:
        parts.append(_plural(counts["error"], "error"))
    spend = SPENDS_QUOTA if run.model else SPENDS_NOTHING
    return f"Test: {', '.join(parts)}. {spend}"


def render_keytest_text(run: KeyTestRun, header: Header, style: Style) -> str:
    lines = [_title(header, style), ""]
    for result in run.results:
        mark, color = _MARK.get(result.outcome, ("?", "yellow"))
        what = _verdict_text(result.outcome, result.reason, result.explanation)
        http = _http(result.http_status, result.latency_ms)
        lines.append(
            style(f"  {mark} {result.outcome:<8} {_ident(result.name, result.token_id)}", color)
            + f": {text(what)}{http}"
        )
        if result.chat is not None:
            chat_color = "green" if result.chat.outcome == "works" else "red"
            lines.append("      " + style(_chat_line(result.chat), chat_color))
        for note in result.notes:
            lines.append(style(f"      note: {text(note)}", "yellow"))
    for name in run.not_created:
        lines.append(style(f"  # {text(name)}: declared, not on the server yet (run apply)", "dim"))
    if not run.results and not run.not_created:
        lines.append("  no tokens to test")
    lines += ["", style(keytest_summary(run), "bold")]
    return "\n".join(lines) + "\n"


def keytest_json(run: KeyTestRun, header: Header) -> dict[str, Any]:
    return {
        **json_head("test", header, with_file=True),
        "model": run.model,
        "spends_quota": run.model is not None,
        "sink": run.sink,
        "summary": run.counts(),
        "results": [r.to_json() for r in run.results],
        "not_created": list(run.not_created),
    }


def render_keytest_markdown(run: KeyTestRun, header: Header) -> str:
    out = [f"### provisioner test: {md_code(header.url, cell=False)}", ""]
    out += ["| token | id | result | why | HTTP | ms |", "|---|---:|---|---|---:|---:|"]
    for r in run.results:
        what = _verdict_text(r.outcome, r.reason, r.explanation)
        if r.chat is not None:
            what += f"; {_chat_line(r.chat)}"
        if r.notes:
            what += "; " + "; ".join(r.notes)
        ident = "" if r.token_id is None else str(r.token_id)
        status = "" if r.http_status is None else str(r.http_status)
        latency = "" if r.latency_ms is None else str(r.latency_ms)
        out.append(
            f"| {md_code(r.name)} | {ident} | {r.outcome} | {md_text(what)} | {status} | "
            f"{latency} |"
        )
    for name in run.not_created:
        out.append(f"| {md_code(name)} | | not created | declared, not on the server yet | | |")
    out += ["", f"**{keytest_summary(run)}**", ""]
    return "\n".join(out)


# ---------------------------------------------------------------------------- revoke

_STEP_SYMBOL = {"disable": "!", "rename": "~", "create": "+", "deliver": "+"}


def revoke_preview(run: RevokeRun, header: Header, style: Style) -> str:
    """What revoke is about to do, shown before it asks."""
    lines = [_title(header, style), ""]
    for outcome in run.outcomes:
        item = outcome.item
        token = item.token
        lines.append(f"  key {masked(item.key)} is {_ident(token.name, token.id)}")
        if item.already:
            lines.append(style("      nothing to do: already revoked", "dim"))
            continue
        if item.disable:
            lines.append(style(f"    ! disable {text(token.name)}: now, with no overlap", "yellow"))
        if item.new_name:
            lines.append(
                style(f"    ~ rename  {text(token.name)} -> {text(item.new_name)}", "yellow")
            )
        if item.replacement is not None:
            where = f"; its key to {text(run.sink)}" if run.sink else "; no key sink configured"
            lines.append(style(f"    + create  {text(item.replacement.name)}{where}", "green"))
        for note in item.notes:
            lines.append(style(f"      # {text(note)}", "dim"))
    for key in run.unknown:
        lines.append(
            style(f"  key {masked(key)} belongs to no token of this account: nothing to do", "red")
        )
    return "\n".join(lines) + "\n"


def _step_line(step: OpResult, style: Style) -> str:
    symbol, color = {"ok": ("✓", "green"), "failed": ("✗", "red")}.get(step.status, ("-", "dim"))
    line = f"  {symbol} {step.kind:<7} {_ident(step.name, step.token_id)}"
    if step.detail:
        detail = text(step.detail)
        line += f" {detail}" if detail.startswith("->") else f" [{detail}]"
    if step.error:
        line += f": {text(step.error)}"
    return style(line, color)


def revoke_summary(run: RevokeRun) -> str:
    # A key counts as revoked once its token is disabled, whatever befell its replacement.
    revoked = [o for o in run.outcomes if o.revoked]
    names = ", ".join(_ident(o.item.token.name, o.item.token.id) for o in revoked)
    if revoked:
        first = f"Revoked (disabled) {_plural(len(revoked), 'key')}: {names}"
        broken = [o for o in revoked if o.replacement_failure]
        if len(revoked) == 1 and broken:
            first += f"; its replacement {text(broken[0].replacement_failure)}"
        for outcome in broken if len(revoked) > 1 else []:
            first += (
                f"; the replacement of {text(outcome.item.token.name)} "
                f"{text(outcome.replacement_failure)}"
            )
        parts = [first]
        other = sum(1 for o in revoked if o.failed and not o.replacement_failure)
        if other:
            parts.append(f"{other} with a step that failed (above)")
    else:
        parts = ["Nothing was revoked"]
    already = sum(1 for o in run.outcomes if o.item.already)
    if already:
        parts.append(f"{already} already revoked")
    failed = sum(1 for o in run.outcomes if o.failed and not o.revoked)
    if failed:
        parts.append(f"{failed} failed")
    if run.keys_delivered:
        parts.append(f"{_plural(run.keys_delivered, 'new key')} delivered to {text(run.sink)}")
    if run.keys_pending:
        pending = " ".join(text(name) for name in run.keys_pending)
        parts.append(
            f"new keys not fetched (no key sink): `provisioner reveal {pending} --keys-to SINK`"
        )
    if run.unknown:
        verb = "belongs" if len(run.unknown) == 1 else "belong"
        parts.append(f"{_plural(len(run.unknown), 'key')} {verb} to no token of this account")
    return ". ".join(parts) + "."


def render_revoke_text(run: RevokeRun, style: Style) -> str:
    lines: list[str] = []
    for outcome in run.outcomes:
        lines += [_step_line(step, style) for step in outcome.steps]
        lines += [style(f"      # {text(note)}", "dim") for note in outcome.notes]
    if lines:
        lines.append("")
    lines.append(style(revoke_summary(run), "bold"))
    return "\n".join(lines) + "\n"


def _outcome_json(outcome: RevokeOutcome) -> dict[str, Any]:
    item = outcome.item
    return {
        "key": masked(item.key),
        "found": True,
        "token": {"name": item.token.name, "id": item.token.id},
        "new_name": item.new_name,
        "replacement": item.replacement.name if item.replacement else None,
        "already_revoked": item.already,
        "notes": [*item.notes, *outcome.notes],
        "results": [step.to_json() for step in outcome.steps],
    }


def revoke_json(run: RevokeRun, header: Header) -> dict[str, Any]:
    return {
        **json_head("revoke", header, with_file=True),
        "executed": run.executed,
        "keys": [
            *(_outcome_json(o) for o in run.outcomes),
            *({"key": masked(k), "found": False, "token": None} for k in run.unknown),
        ],
        "summary": {
            "revoked": sum(1 for o in run.outcomes if o.revoked),
            "already_revoked": sum(1 for o in run.outcomes if o.item.already),
            "failed": sum(1 for o in run.outcomes if o.failed),
            "replacements_failed": sum(1 for o in run.outcomes if o.replacement_failure),
            "unknown": len(run.unknown),
            "keys_delivered": run.keys_delivered,
        },
        "keys_pending": list(run.keys_pending),
        "sink": run.sink,
    }


def render_revoke_markdown(run: RevokeRun, header: Header) -> str:
    out = [f"### provisioner revoke: {md_code(header.url, cell=False)}", ""]
    out += ["| key | token | done |", "|---|---|---|"]
    for outcome in run.outcomes:
        token = outcome.item.token
        steps = ", ".join(
            f"{s.kind} {s.status}" + (f" ({s.error})" if s.error else "") for s in outcome.steps
        )
        notes = "; ".join([*outcome.item.notes, *outcome.notes])
        done = "; ".join(p for p in (steps, notes) if p)
        ident = f"{md_code(token.name)} (id {token.id})"
        out.append(f"| `{masked(outcome.item.key)}` | {ident} | {md_text(done)} |")
    for key in run.unknown:
        out.append(f"| `{masked(key)}` | none of this account | nothing changed |")
    out += ["", f"**{md_text(revoke_summary(run))}**", ""]
    return "\n".join(out)


# ---------------------------------------------------------------------------- scan


def scan_summary(report: ScanReport) -> str:
    tokens = report.tokens
    if report.places:
        found = (
            f"{_plural(len(report.places), 'key')} of this account found "
            f"({_plural(len(tokens), 'token')})"
        )
    else:
        found = "no key of this account found"
    parts = [found]
    if report.other_keys:
        parts.append(
            f"{_plural(report.other_keys, 'other key-shaped string')} in "
            f"{_plural(report.other_places, 'place')} "
            f"{'belongs' if report.other_keys == 1 else 'belong'} to no token of this account "
            "(not listed)"
        )
    read = f"{_plural(report.files, 'file')} read"
    if report.skipped:
        read += f", {len(report.skipped)} skipped"
    parts.append(read)
    return "Scan: " + "; ".join(parts) + "."


def render_scan_text(report: ScanReport, style: Style) -> str:
    lines: list[str] = []
    for place in report.places:
        token = place.token
        status = status_name(token, report.now)
        color = "red" if status == "enabled" else "yellow"
        lines.append(
            style(f"{text(place.file)}:{place.line}", "bold")
            + ": "
            + style(f"a key of {text(token.name)} (id {token.id}, {status})", color)
        )
    if lines:
        lines.append("")
    lines.append(style(scan_summary(report), "bold"))
    return "\n".join(lines) + "\n"


def scan_json(
    report: ScanReport, header: Header | None, paths: list[str], since: str | None
) -> dict[str, Any]:
    return {
        **json_head("scan"),
        "server": header.server_json() if header else None,
        "paths": paths,
        "since": since,
        "findings": [
            {
                "file": p.file,
                "line": p.line,
                "token": {
                    "name": p.token.name,
                    "id": p.token.id,
                    "status": status_name(p.token, report.now),
                },
            }
            for p in report.places
        ],
        "summary": {
            "keys_found": len(report.places),
            "tokens": len(report.tokens),
            "other_keys": report.other_keys,
            "other_places": report.other_places,
            "files_read": report.files,
            "skipped": len(report.skipped),
        },
        "skipped": [{"file": f, "reason": why} for f, why in report.skipped],
    }


def render_scan_markdown(report: ScanReport) -> str:
    out = ["### provisioner scan", ""]
    if report.places:
        out += ["| where | token | id | status |", "|---|---|---:|---|"]
        for p in report.places:
            where, name = md_code(f"{p.file}:{p.line}"), md_code(p.token.name)
            status = status_name(p.token, report.now)
            out.append(f"| {where} | {name} | {p.token.id} | {status} |")
        out.append("")
    out += [f"**{md_text(scan_summary(report))}**", ""]
    return "\n".join(out)
