"""The tool's JSON documents read back into the plan and report they were rendered from.

The action runs ``provisioner plan|apply --output json`` (docs/json.md) and
renders the job summary and the PR comment from that one document with the
tool's own Markdown renderers, so the comment says exactly what ``--output
markdown`` would have said, and the outputs come from the same run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from provisioner.plan.actions import Action
from provisioner.plan.model import Conflict, Notice, Plan
from provisioner.plan.safety import Violation
from provisioner.render.plan import Header
from provisioner.report import OpResult, Report


class DocumentError(ValueError):
    """The document is not the plan or apply document this version writes."""


@dataclass(frozen=True)
class PlanDocument:
    plan: Plan
    header: Header
    violations: list[Violation]
    report: Report | None  # apply's results; None for a plan (or a refused apply)


def read(document: dict[str, Any]) -> PlanDocument:
    """A ``plan`` or ``apply`` document (``--output json``) as the objects it came from."""
    try:
        summary = document.get("summary") or {}
        plan = Plan(
            actions=[Action.from_json(a) for a in document["actions"]],
            conflicts=[Conflict.from_json(c) for c in document["conflicts"]],
            notices=[Notice.from_json(n) for n in document["notices"]],
            owned=int(summary.get("owned", 0)),
            unmanaged=int(summary.get("unmanaged", 0)),
            now=int(document["now"]),
            quota_per_unit=int(document["quota_per_unit"]),
        )
        server = document.get("server") or {}
        header = Header(
            file=str(document.get("file") or ""),
            url=str(server.get("url") or ""),
            version=str(server.get("version") or ""),
            user=str(server.get("user") or ""),
        )
        violations = [
            Violation(
                v["rule"],
                v["message"],
                bool(v.get("overridable", True)),
                v.get("override") or "--force",
            )
            for v in document.get("violations") or []
        ]
        report = _report(document) if "results" in document else None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise DocumentError(f"not a plan document this version reads ({exc!r})") from None
    return PlanDocument(plan, header, violations, report)


def _report(document: dict[str, Any]) -> Report:
    summary = document.get("summary") or {}
    sink = str(document.get("sink") or "")
    return Report(
        results=[
            OpResult(
                kind=r["kind"],
                name=r["name"],
                token_id=r.get("id"),
                status=r["status"],
                error=r.get("error") or "",
                detail=r.get("detail") or "",
            )
            for r in document["results"]
        ],
        interrupted=bool(summary.get("interrupted", False)),
        keys_delivered=int(summary.get("keys_delivered", 0)),
        keys_pending=list(document.get("keys_pending") or []),
        keys_undelivered=list(document.get("keys_undelivered") or []),
        keys_forgotten=list(document.get("keys_forgotten") or []),
        notes=list(document.get("notes") or []),
        refused=list(document.get("refused") or []),
        sink=sink,
        sink_readable=_readable(sink),
    )


def _readable(sink: str) -> bool:
    """Whether the sink can be read back (what the report says about undelivered keys)."""
    if not sink:
        return False
    from provisioner.keystore.sink_state import readable
    from provisioner.keystore.sinks import parse_sink

    try:
        return readable(parse_sink(sink))
    except Exception:  # a sink this run cannot parse: say the cautious thing
        return False
