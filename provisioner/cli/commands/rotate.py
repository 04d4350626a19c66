"""``provisioner rotate NAME...``: a new key now; the old one works until the overlap ends.

docs/reconcile.md#rotation: the old token is renamed ``NAME.old-YYYYMMDD`` and
expires after the overlap; a new ``NAME`` is created and its key delivered; a
later apply deletes the expired predecessor.
"""

from __future__ import annotations

from pathlib import Path

from provisioner.cli.options import RotateOptions
from provisioner.cli.session import Log, connect, load_spec_or_fail
from provisioner.errors import UsageError


def run(opts: RotateOptions) -> int:
    from provisioner.cli import output
    from provisioner.cli.delivery import make_delivery
    from provisioner.cli.execution import Prepared, carry_out
    from provisioner.plan.rotate import rotation_plan
    from provisioner.plan.safety import check
    from provisioner.spec import parse_duration
    from provisioner.spec.desired import Safety

    log = Log(opts.common)
    overlap: int | None = None
    if opts.overlap:
        try:
            overlap = parse_duration(opts.overlap)
        except ValueError as exc:
            raise UsageError(f"--overlap: {exc}") from None
    file = opts.common.file
    spec = load_spec_or_fail(file, log) if Path(file).exists() else None
    names = list(dict.fromkeys(opts.names))
    with connect(opts.server, log, spec) as conn:
        inventory = conn.inventory
        plan = rotation_plan(
            spec,
            inventory,
            names,
            conn.client.now(),
            quota_per_unit=conn.info.quota_per_unit,
            overlap=overlap,
        )
        sink_text = opts.keys_to or (spec.keys_to if spec else None)
        delivery = make_delivery(sink_text, conn.url, conn.credential)
        if delivery is None:
            raise UsageError(
                "rotate needs a key sink for the new keys: pass --keys-to or set keys.to"
            )
        prepared = Prepared(
            plan=plan,
            inventory=inventory,
            head=output.header(file, conn),
            violations=check(plan, Safety()),
            delivery=delivery,
        )
        return carry_out(
            opts.common, log, conn, prepared, yes=opts.yes, force=opts.force, verb="rotate"
        )
