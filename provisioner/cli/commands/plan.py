"""``provisioner plan``: read-only; show what apply would change."""

from __future__ import annotations

from provisioner.cli.options import PlanOptions
from provisioner.cli.session import Log, connect, load_spec_or_fail
from provisioner.exitcodes import ExitCode


def run(opts: PlanOptions) -> int:
    from provisioner.cli import output
    from provisioner.plan import saved
    from provisioner.plan.diff import diff
    from provisioner.plan.safety import check

    log = Log(opts.common)
    spec = load_spec_or_fail(opts.common.file, log)
    with connect(opts.server, log, spec) as conn:
        inventory = conn.inventory
        now = conn.client.now()
        plan = diff(spec, inventory, now, quota_per_unit=conn.info.quota_per_unit)
        violations = check(plan, spec.safety)
        header = output.header(opts.common.file, conn)
        output.emit_plan(opts.common, plan, header, violations)
        if opts.out:
            saved.save(
                opts.out,
                plan,
                spec_path=opts.common.file,
                spec_digest=spec.digest,
                server_url=conn.url,
                user_id=conn.info.user_id,
                server_version=conn.info.version,
                safety=spec.safety,
                keys_to=spec.keys_to,
            )
            log.info(f"plan saved to {opts.out}; apply it with `provisioner apply {opts.out}`")
    output.step_summary(plan, header, violations)
    if opts.detailed_exitcode and (plan.has_changes or plan.conflicts):
        return ExitCode.CHANGES_PENDING
    return ExitCode.OK
