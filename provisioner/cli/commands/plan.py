"""``provisioner plan``: read-only; show what apply would change, and fail where apply would."""

from __future__ import annotations

from pathlib import Path

from provisioner.cli.options import PlanOptions
from provisioner.cli.session import Log, connect, load_spec_or_fail
from provisioner.exitcodes import ExitCode


def run(opts: PlanOptions) -> int:
    from provisioner.cli import output, planfile
    from provisioner.cli.delivery import make_delivery
    from provisioner.cli.paths import where_note
    from provisioner.cli.planning import plan_spec
    from provisioner.plan.saved import dumps

    log = Log(opts.common)
    spec = load_spec_or_fail(opts.common.file, log)
    note = where_note(spec, opts.common.file)
    if note:  # a spec outside the working folder: say where its keys go
        log.info(note)
    if opts.out:
        planfile.check_target(
            Path(opts.out)
        )  # a plan that cannot be saved fails before any request
    with connect(opts.server, log, spec, spec_file=opts.common.file) as conn:
        # plan only reads the sink (to find keys it lacks): no check of where keys may go
        delivery = make_delivery(spec.keys_to, conn, spec_path=opts.common.file, warn=None)
        plan, violations = plan_spec(spec, conn, delivery)
        header = output.header(opts.common.file, conn)
        output.emit_plan(opts.common, plan, header, violations)
        if opts.out:
            saved_plan = dumps(
                plan,
                spec_path=opts.common.file,
                spec_digest=spec.digest,
                server_url=conn.url,
                user_id=conn.info.user_id,
                server_version=conn.info.version,
                safety=spec.safety,
                keys_to=spec.keys_to,
            )
            planfile.save(opts.out, saved_plan)
            log.info(f"plan saved to {opts.out}; apply it with `provisioner apply {opts.out}`")
    output.step_summary(plan, header, violations)
    if violations:
        # Apply would refuse this plan: fail now, before the merge (like Terraform's
        # prevent_destroy). Overridable rules name their override.
        log.error("apply would refuse: " + "; ".join(str(v) for v in violations))
        return ExitCode.REFUSED
    if opts.detailed_exitcode and plan.has_changes:
        return ExitCode.CHANGES_PENDING
    return ExitCode.OK
