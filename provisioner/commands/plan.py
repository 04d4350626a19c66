"""``provisioner plan``: read-only; show what apply would change."""

from __future__ import annotations

import argparse

from provisioner.exitcodes import ExitCode
from provisioner.session import Log, connect, load_spec_or_fail, run_command


def run(args: argparse.Namespace) -> int:
    return run_command(_plan, args)


def _plan(args: argparse.Namespace, log: Log) -> int:
    from provisioner.plan import saved
    from provisioner.plan.diff import diff
    from provisioner.plan.safety import check
    from provisioner.render import output

    spec = load_spec_or_fail(args.file, log)
    with connect(args, log, spec) as conn:
        inventory = conn.client.list_tokens()
        now = conn.client.now()
        plan = diff(spec, inventory, now, quota_per_unit=conn.info.quota_per_unit)
        violations = check(plan, spec.safety)
        header = output.header(args.file, conn)
        output.emit_plan(args, plan, header, violations)
        if args.out:
            saved.save(
                args.out,
                plan,
                spec_path=args.file,
                spec_digest=spec.digest,
                server_url=conn.url,
                user_id=conn.info.user_id,
                server_version=conn.info.version,
                safety=spec.safety,
                keys_to=spec.keys_to,
            )
            log.info(f"plan saved to {args.out}; apply it with `provisioner apply {args.out}`")
    output.step_summary(plan, header, violations)
    if args.detailed_exitcode and (plan.has_changes or plan.conflicts):
        return ExitCode.CHANGES_PENDING
    return ExitCode.OK
