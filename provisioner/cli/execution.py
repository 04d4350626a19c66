"""The path apply and rotate share: show the plan, enforce safety, confirm, execute, report."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from provisioner.cli import output
from provisioner.cli.delivery import Delivery
from provisioner.cli.options import Common
from provisioner.cli.session import Connection, Log, confirm, sigterm_interrupts
from provisioner.errors import RefusedError
from provisioner.exitcodes import ExitCode
from provisioner.observed import ObservedToken
from provisioner.plan.model import Plan
from provisioner.plan.safety import Violation
from provisioner.render.plan import Header

#: Creates in flight at once when not paced to a told limit. A server far away answers
#: each after a round trip: at 50 ms, 16 reach the sandbox's floor (its own time per
#: create) without tripping it (32 did: connections reset); docs/performance.md.
CREATE_CONCURRENCY = 16


@dataclass(frozen=True)
class Prepared:
    """A plan ready to carry out, with what it was made from."""

    plan: Plan
    inventory: Sequence[ObservedToken]
    head: Header
    violations: list[Violation]
    delivery: Delivery | None


def apply_prepared(
    common: Common,
    log: Log,
    conn: Connection,
    prepared: Prepared,
    *,
    yes: bool,
    force: bool,
    verb: Literal["apply", "rotate"] = "apply",
) -> int:
    """Show the plan, refuse what safety refuses, confirm, execute and report."""
    from provisioner.execute.executor import Executor
    from provisioner.render.plan import dumps, plan_json
    from provisioner.render.report import (
        render_markdown,
        render_text,
        report_json,
        report_summary,
    )
    from provisioner.report import Report

    plan, head = prepared.plan, prepared.head
    delivery = prepared.delivery
    # --keys-to stdout: the keys are the document; the plan and the report go to stderr
    out = output.document_stream(delivery)
    blocking = [v for v in prepared.violations if not v.overridable or not force]
    if common.output != "json":
        output.emit_plan(common, plan, head, blocking, command=verb, stream=out)
    if blocking:
        if common.output == "json":
            out.write(dumps(plan_json(plan, head, blocking)))
        raise RefusedError(f"{verb} refused: " + "; ".join(str(v) for v in blocking))
    sink = delivery.sink if delivery else ""
    report = Report(sink=sink)
    if plan.has_changes:
        confirm(yes, verb)
        with sigterm_interrupts():
            report = Executor(
                plan,
                conn.client,
                prepared.inventory,
                deliver=delivery.deliver if delivery else None,
                forget=delivery.forget if delivery else None,
                progress=conn.progress,
                # With pacing off (a server without a limiter), creates go a few at a time.
                create_concurrency=1 if conn.paced else CREATE_CONCURRENCY,
            ).run()
        conn.progress.close()
        report.sink = sink
        report.sink_readable = bool(delivery and delivery.readable)
        if delivery:
            report.keys_moved.extend(delivery.moved)
            report.notes.extend(delivery.notes)
    outcome = report_summary(report) if plan.has_changes else ""
    output.step_summary(plan, head, [], outcome, command=verb)
    if common.output == "json":
        out.write(dumps({**plan_json(plan, head, []), "kind": verb, **report_json(report)}))
    elif plan.has_changes and common.output == "markdown":
        out.write("\n" + render_markdown(report))
    elif plan.has_changes:
        out.write("\n" + render_text(report, output.style_for(common, out)))
    out.flush()
    if report.interrupted:
        return ExitCode.INTERRUPTED
    if report.refused:  # what the server cannot hold, learned only while applying
        for refusal in report.refused:
            log.error(f"{verb} refused: {refusal}")
        return ExitCode.REFUSED
    if report.failed:
        return ExitCode.PARTIAL
    return ExitCode.OK
