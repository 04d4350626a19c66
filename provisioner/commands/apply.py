"""``provisioner apply [PLAN]``: make the server match the spec, then report."""

from __future__ import annotations

import argparse
import sys

from provisioner.exitcodes import ExitCode
from provisioner.session import (
    CommandError,
    Log,
    confirm,
    connect,
    load_spec_or_fail,
    progress_printer,
    run_command,
    sigterm_interrupts,
)


def run(args: argparse.Namespace) -> int:
    return run_command(_apply, args)


def _apply(args: argparse.Namespace, log: Log) -> int:
    from provisioner.delivery import make_deliver
    from provisioner.plan import saved
    from provisioner.plan.diff import diff
    from provisioner.plan.safety import check
    from provisioner.render import output

    saved_plan = None
    spec = None
    if args.plan_file:
        try:
            saved_plan = saved.load(args.plan_file)
        except saved.SavedPlanError as exc:
            raise CommandError(str(exc), ExitCode.USAGE) from None
        if not args.url and not args.sandbox:
            args.url = saved_plan.server_url
    else:
        spec = load_spec_or_fail(args.file, log)

    with connect(args, log, spec) as conn:
        inventory = conn.client.list_tokens()
        if saved_plan is not None:
            if not args.sandbox and (
                conn.url != saved_plan.server_url or conn.info.user_id != saved_plan.user_id
            ):
                raise CommandError(
                    f"the plan was made for {saved_plan.server_url} user {saved_plan.user_id}, "
                    f"not {conn.url} user {conn.info.user_id}",
                    ExitCode.STALE_PLAN,
                )
            plan = saved_plan.plan
            moved = saved.staleness(plan, inventory)
            if moved:
                for line in moved:
                    log.error(f"stale: {line}")
                raise CommandError(
                    f"the saved plan {args.plan_file} is stale: {len(moved)} tokens moved "
                    "since it was made; run `provisioner plan --out` again",
                    ExitCode.STALE_PLAN,
                )
            safety, keys_to, file = saved_plan.safety, saved_plan.keys_to, saved_plan.spec_path
        else:
            assert spec is not None
            plan = diff(spec, inventory, conn.client.now(), quota_per_unit=conn.info.quota_per_unit)
            safety, keys_to, file = spec.safety, spec.keys_to, args.file
        deliver, sink_name = make_deliver(args.keys_to or keys_to, conn.url, conn.credential)

        violations = check(plan, safety)
        head = output.header(file, conn)
        return carry_out(args, log, conn, plan, inventory, head, violations, deliver, sink_name)


def carry_out(  # type: ignore[no-untyped-def]
    args: argparse.Namespace,
    log: Log,
    conn,
    plan,
    inventory,
    head,
    violations,
    deliver,
    sink_name: str,
    *,
    verb: str = "apply",
) -> int:
    """Show the plan, enforce safety, confirm, execute and report (apply and rotate)."""
    from provisioner.apply import Report, execute
    from provisioner.render import output
    from provisioner.render.plan import dumps, plan_json
    from provisioner.render.report import render_text, report_json, summary_line

    blocking = [v for v in violations if not v.overridable or not args.force]
    if args.output != "json":
        output.emit_plan(args, plan, head, blocking)
    if blocking:
        if args.output == "json":
            sys.stdout.write(dumps(plan_json(plan, head, blocking)))
        raise CommandError(
            f"{verb} refused: " + "; ".join(str(v) for v in blocking), ExitCode.REFUSED
        )
    report = Report(sink=sink_name)
    if plan.has_changes:
        confirm(args)
        with sigterm_interrupts():
            report = execute(
                plan, conn.client, inventory, deliver=deliver, progress=progress_printer(log)
            )
        report.sink = sink_name
    output.step_summary(plan, head, [], summary_line(report) if plan.has_changes else "")
    if args.output == "json":
        sys.stdout.write(dumps({**plan_json(plan, head, []), "kind": verb, **report_json(report)}))
    elif plan.has_changes:
        sys.stdout.write("\n" + render_text(report, output.style_for(args)))
    sys.stdout.flush()
    if report.interrupted:
        return ExitCode.INTERRUPTED
    if report.failed:
        return ExitCode.PARTIAL
    return ExitCode.OK
