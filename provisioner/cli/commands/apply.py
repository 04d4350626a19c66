"""``provisioner apply [PLAN]``: make the server match the spec, then report."""

from __future__ import annotations

from dataclasses import replace

from provisioner.cli.options import ApplyOptions
from provisioner.cli.session import Log, connect, load_spec_or_fail
from provisioner.errors import StalePlanError


def run(opts: ApplyOptions) -> int:
    from provisioner.cli import output
    from provisioner.cli.delivery import make_delivery
    from provisioner.cli.execution import Prepared, carry_out
    from provisioner.plan import saved
    from provisioner.plan.diff import diff
    from provisioner.plan.safety import check

    log = Log(opts.common)
    saved_plan = None
    spec = None
    server = opts.server
    if opts.plan_file:
        saved_plan = saved.load(opts.plan_file)
        if not server.url and not server.sandbox:
            server = replace(server, url=saved_plan.server_url)
    else:
        spec = load_spec_or_fail(opts.common.file, log)

    with connect(server, log, spec) as conn:
        inventory = conn.inventory
        if saved_plan is not None:
            if not server.sandbox and (
                conn.url != saved_plan.server_url or conn.info.user_id != saved_plan.user_id
            ):
                raise StalePlanError(
                    f"the plan was made for {saved_plan.server_url} user {saved_plan.user_id}, "
                    f"not {conn.url} user {conn.info.user_id}"
                )
            plan = saved_plan.plan
            moved = saved.staleness(plan, inventory)
            if moved:
                for line in moved:
                    log.error(f"stale: {line}")
                raise StalePlanError(
                    f"the saved plan {opts.plan_file} is stale: {len(moved)} tokens moved "
                    "since it was made; run `provisioner plan --out` again"
                )
            safety, keys_to, file = saved_plan.safety, saved_plan.keys_to, saved_plan.spec_path
        else:
            assert spec is not None
            plan = diff(spec, inventory, conn.client.now(), quota_per_unit=conn.info.quota_per_unit)
            safety, keys_to, file = spec.safety, spec.keys_to, opts.common.file
        prepared = Prepared(
            plan=plan,
            inventory=inventory,
            head=output.header(file, conn),
            violations=check(plan, safety),
            delivery=make_delivery(opts.keys_to or keys_to, conn.url, conn.credential),
        )
        return carry_out(opts.common, log, conn, prepared, yes=opts.yes, force=opts.force)
