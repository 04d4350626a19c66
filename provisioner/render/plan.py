"""Render a Plan as text (Terraform-like), JSON (schema_version 1) or Markdown."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from provisioner.humanize import plural
from provisioner.plan.actions import Action, FieldChange, Rotate
from provisioner.plan.model import Plan
from provisioner.plan.safety import Violation
from provisioner.render.safe import fence, json_text, md_code, md_text, text
from provisioner.render.style import Style, budget_text, iso_time
from provisioner.secret import json_default

SCHEMA_VERSION = 1

_SYMBOL = {
    "create": ("+", "green"),
    "rotate": ("↻", "cyan"),
    "rename": ("~", "yellow"),
    "update": ("~", "yellow"),
    "enable": (">", "green"),
    "deliver": ("→", "cyan"),
    "disable": ("!", "yellow"),
    "delete": ("-", "red"),
}
_PLURAL = {
    "create": "to create",
    "rotate": "to rotate",
    "rename": "to rename",
    "update": "to update",
    "enable": "to enable",
    "deliver": "to deliver",
    "disable": "to disable",
    "delete": "to delete",
}


@dataclass(frozen=True)
class Header:
    """What heads a document: the spec file, and the server with its version and user."""

    file: str
    url: str
    version: str = ""
    user: str = ""

    def server_json(self) -> dict[str, str]:
        return {"url": self.url, "version": self.version, "user": self.user}


def json_head(
    kind: str, header: Header | None = None, *, with_file: bool = False
) -> dict[str, Any]:
    """How every JSON document starts (docs/json.md): ``schema_version`` and ``kind``, then
    the spec file (``with_file``) and the server, when the document has them."""
    head: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "kind": kind}
    if header is not None:
        if with_file:
            head["file"] = header.file
        head["server"] = header.server_json()
    return head


def _value(change: FieldChange, value: Any, qpu: int) -> str:
    if change.field == "budget":
        return budget_text(value, qpu)
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]" if value else "[]"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False) if value == "" else value
    return json.dumps(value, default=json_default)


def _change_line(change: FieldChange, qpu: int) -> str:
    after = _value(change, change.after, qpu)
    if change.before is None:
        return f"{change.field}: {after}"
    return f"{change.field}: {_value(change, change.before, qpu)} -> {after}"


def _old_token_line(action: Rotate) -> str:
    """What a rotation does to the old token, once the sink confirmed the new key."""
    return f"old token -> {action.rotation_name}, expires {iso_time(action.rotation_expiry)}"


def _rotation_budget_lines(action: Rotate, qpu: int) -> list[str]:
    """A rotation's money: the new token gets the full declared budget, and the old one keeps
    what it has left until it expires (docs/reconcile.md#rotation)."""
    if action.settings.unlimited_quota:
        new = "new token's budget: unlimited"
    else:
        new = f"new token's budget: {budget_text(action.settings.remain_quota, qpu)}"
    if action.old_remaining == -1:  # a plan saved before this was recorded
        return [new]
    if action.old_remaining is None:
        old = "the old token stays unlimited until it expires"
    else:
        old = (
            f"the old token keeps its remaining {budget_text(action.old_remaining, qpu)} "
            "until it expires"
        )
    return [new, old]


def _title(action: Action) -> str:
    ident = f" (id {action.token_id})" if action.token_id is not None else ""
    if action.kind == "rename":
        old = next((c.before for c in action.changes if c.field == "name"), None)
        if old is not None:
            return f"{old} -> {action.name}{ident}"
    return f"{action.name}{ident}"


# Always counted in the summary; the others only when the plan has some.
_ALWAYS = ("create", "update", "enable", "disable", "delete", "rotate")


def plan_summary(plan: Plan, refused: bool = False) -> str:
    """The last line. A refused plan never says "No changes": it names what it refuses."""
    counts = plan.counts()
    parts = [f"{counts[k]} {_PLURAL[k]}" for k in _ALWAYS]
    if counts["rename"]:
        parts.append(f"{counts['rename']} {_PLURAL['rename']}")
    if counts["deliver"]:
        parts.append(f"{plural(counts['deliver'], 'key')} to deliver")
    orphans = sum(1 for n in plan.notices if n.kind == "orphan")
    tail = f"; {plural(orphans, 'orphan')} kept, {plan.unmanaged} unmanaged"
    if plan.conflicts:
        tail += f", {plural(len(plan.conflicts), 'conflict')}"
    if not plan.has_changes and not plan.conflicts:
        owned = plural(plan.owned, "owned token")
        if refused:
            return f"Refused: nothing applies until the refusal above is resolved. {owned}{tail}."
        verb = "matches" if plan.owned == 1 else "match"
        return f"No changes. {owned} {verb} the spec{tail}."
    return "Plan: " + ", ".join(parts) + tail + "."


def header_line(header: Header) -> str:
    """``FILE -> URL (VERSION) as USER``, escaped for a terminal (the version and user
    come from the server)."""
    who = f" as {header.user}" if header.user else ""
    version = f" ({header.version})" if header.version else ""
    return text(f"{header.file} -> {header.url}{version}{who}")


def render_text(plan: Plan, header: Header, violations: list[Violation], style: Style) -> str:
    """The Terraform-like plan; every name and server value escaped (render.safe.text)."""
    lines: list[str] = []
    lines.append(style(header_line(header), "bold"))
    lines.append("")
    qpu = plan.quota_per_unit
    for action in plan.ordered():
        symbol, color = _SYMBOL[action.kind]
        reason = f"  # {text(action.reason)}" if action.reason and action.kind != "create" else ""
        lines.append(
            style(f"  {symbol} {action.kind:<7} {text(_title(action))}", color)
            + style(reason, "dim")
        )
        if isinstance(action, Rotate):
            lines.append(
                f"      new {text(action.name)} created, key delivered as {text(action.key_name)}"
            )
            lines.append(f"      then {text(_old_token_line(action))}")
            lines.extend(f"      {line}" for line in _rotation_budget_lines(action, qpu))
        if action.kind == "deliver":
            lines.append(f"      key revealed and delivered as {text(action.key_name)}")
        for change in action.changes:
            lines.append("      " + text(_change_line(change, qpu)))
    for conflict in plan.conflicts:
        ids = ", ".join(str(i) for i in conflict.ids)
        lines.append(
            style(
                f"  ✗ conflict {text(conflict.name)}: {len(conflict.ids)} server tokens "
                f"(ids {ids})",
                "red",
                "bold",
            )
        )
    for notice in plan.notices:
        ident = f" (id {notice.token_id})" if notice.token_id is not None else ""
        lines.append(
            style(f"  # {notice.kind} {text(notice.name)}{ident}: {text(notice.message)}", "dim")
        )
    if plan.actions or plan.conflicts or plan.notices:
        lines.append("")
    for violation in violations:
        lines.append(style(f"Refused: {text(violation)}", "red"))
    lines.append(style(plan_summary(plan, bool(violations)), "bold"))
    return "\n".join(lines) + "\n"


def plan_json(plan: Plan, header: Header, violations: list[Violation]) -> dict[str, Any]:
    return {
        **json_head("plan", header, with_file=True),
        "now": plan.now,
        "quota_per_unit": plan.quota_per_unit,
        "has_changes": plan.has_changes,
        "summary": {
            **plan.counts(),
            "owned": plan.owned,
            "unmanaged": plan.unmanaged,
            "conflicts": len(plan.conflicts),
        },
        "actions": [a.to_json() for a in plan.ordered()],
        "conflicts": [{"name": c.name, "ids": list(c.ids)} for c in plan.conflicts],
        "notices": [
            {"kind": n.kind, "name": n.name, "id": n.token_id, "message": n.message}
            for n in plan.notices
        ],
        "violations": [
            {
                "rule": v.rule,
                "message": v.message,
                "overridable": v.overridable,
                "override": v.override if v.overridable else None,
            }
            for v in violations
        ],
    }


def dumps(data: Any) -> str:
    """The JSON document: exact values; non-printable characters as ``\\uXXXX`` (render.safe)."""
    return json_text(json.dumps(data, indent=2, ensure_ascii=False, default=json_default)) + "\n"


MARKDOWN_LIMIT = 60_000  # GitHub comments stop at 65,536 characters


_MD_SYMBOL = {
    "create": "+",
    "delete": "-",
    "update": "!",
    "rename": "!",
    "rotate": "!",
    "enable": "+",
    "deliver": "+",
    "disable": "-",
}


def markdown_title(command: str, header: Header) -> str:
    """``### provisioner COMMAND: `FILE``` (the heading of every Markdown document)."""
    where = f": {md_code(header.file, cell=False)}" if header.file else ""
    return f"### provisioner {command}{where}"


def _markdown_lines(plan: Plan) -> list[str]:
    """The diff block's lines, raw: :func:`render.safe.fence` escapes each one."""
    lines: list[str] = []
    qpu = plan.quota_per_unit
    for action in plan.ordered():
        lines.append(f"{_MD_SYMBOL[action.kind]} {action.kind} {_title(action)}")
        if action.kind in ("rotate", "deliver"):
            lines.append(f"  key delivered as {action.key_name}")
        if isinstance(action, Rotate):
            lines.append(f"  then {_old_token_line(action)}")
            lines.extend(f"  {line}" for line in _rotation_budget_lines(action, qpu))
        for change in action.changes:
            lines.append(f"  {_change_line(change, qpu)}")
    for conflict in plan.conflicts:
        lines.append(f"- conflict {conflict.name}: ids {', '.join(map(str, conflict.ids))}")
    for notice in plan.notices:
        lines.append(f"# {notice.kind} {notice.name}: {notice.message}")
    return lines


def render_markdown(
    plan: Plan,
    header: Header,
    violations: list[Violation],
    *,
    command: str = "plan",
    limit: int | None = MARKDOWN_LIMIT,
) -> str:
    """The plan for a pull-request comment or step summary, headed ``### provisioner COMMAND``.

    Server values reach it escaped: names inside the diff block through
    :func:`render.safe.fence` (no name closes it), prose through ``md_text``.
    Cut to ``limit`` characters (``None``: whole; the GitHub Action cuts its own comment).
    """
    counts = plan.counts()
    marker = "```"
    out = [markdown_title(command, header), ""]
    server = f"Server: {md_code(header.url, cell=False)}"
    if header.version:
        server += f" {md_text(header.version)}"
    out.append(server)
    out.append("")
    columns = [*_ALWAYS, *(k for k in ("rename", "deliver") if counts[k])]
    out.append("| " + " | ".join(columns) + " | unmanaged |")
    out.append("|" + "---:|" * (len(columns) + 1))
    out.append("| " + " | ".join(str(counts[k]) for k in columns) + f" | {plan.unmanaged} |")
    out.append("")
    for violation in violations:
        out.append(f"> **Refused:** {md_text(violation)}")
        out.append("")
    if plan.actions or plan.conflicts or plan.notices:
        out.append("<details open><summary>Changes</summary>")
        out.append("")
        block = fence(_markdown_lines(plan), "diff")
        marker = block[-1]
        out.extend(block)
        out.append("")
        out.append("</details>")
        out.append("")
    out.append(f"**{plan_summary(plan, bool(violations))}**")  # no server value in it
    text_ = "\n".join(out) + "\n"
    if limit is not None and len(text_) > limit:
        cut = text_[: limit - 200].rsplit("\n", 1)[0]
        # close only what the cut left open: the diff block, then the details
        # the block's lines never start with a backtick: each fence line is counted once
        closing = f"\n{marker}" if cut.count(f"\n{marker}") % 2 else ""
        if cut.count("<details") > cut.count("</details>"):
            closing += "\n\n</details>"
        text_ = cut + closing + "\n\n*(truncated; run `provisioner plan` for all)*\n\n"
        text_ += f"**{plan_summary(plan, bool(violations))}**\n"
    return text_
