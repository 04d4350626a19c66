"""``provisioner rotate NAME...``: a new key now; the old one works until the overlap ends.

docs/reconcile.md#rotation: the old token is renamed ``NAME.old-YYYYMMDD`` and
expires after the overlap; a new ``NAME`` is created and its key delivered; a
later apply deletes the expired predecessor.
"""

from __future__ import annotations

from provisioner.cli.options import RotateOptions
from provisioner.cli.session import Log, connect, load_optional_spec, sink_warning
from provisioner.errors import RefusedError, UsageError


def run(opts: RotateOptions) -> int:
    from provisioner.cli import output
    from provisioner.cli.delivery import make_delivery, usable_sink
    from provisioner.cli.execution import Prepared, apply_prepared
    from provisioner.cli.lock import apply_lock
    from provisioner.plan.actions import Rotate
    from provisioner.plan.rotate import rotation_plan
    from provisioner.plan.safety import check
    from provisioner.spec.desired import Safety

    log = Log(opts.common)
    overlap = opts.overlap  # seconds, checked by the parser
    file = opts.common.file
    spec = load_optional_spec(opts.common, log)
    names = list(dict.fromkeys(opts.names))
    sink_text = opts.keys_to or (spec.keys_to if spec else None)
    if not sink_text:
        raise UsageError("rotate needs a key sink for the new keys: pass --keys-to or set keys.to")
    # a place keys must not go is refused before anything is sent (64)
    usable_sink(sink_text, output=opts.common.output, spec_path=file, warn=sink_warning(log))
    with (
        connect(opts.server, log, spec, spec_file=file, needs="rotate") as conn,
        apply_lock(conn, log),  # a rotation creates: both locks (docs/reconcile.md)
    ):
        plan = rotation_plan(
            spec,
            conn.inventory,
            names,
            conn.client.now(),
            quota_per_unit=conn.info.quota_per_unit,
            overlap=overlap,
        )
        limit = conn.info.name_max_bytes
        for action in plan.actions:
            if not isinstance(action, Rotate):
                continue
            if limit is not None and len(action.rotation_name.encode("utf-8")) > limit:
                raise RefusedError(
                    f"rotating {action.name!r} renames it {action.rotation_name}, longer than "
                    f"this server's {limit}-byte names; rename the token to at most "
                    f"{limit - len(action.rotation_name) + len(action.name)} bytes first"
                )
        delivery = make_delivery(
            sink_text,
            conn,
            output=opts.common.output,
            spec_path=file,
            warn=None,  # checked before connecting
        )
        prepared = Prepared(
            plan=plan,
            inventory=conn.inventory,
            head=output.header(file, conn),
            violations=check(plan, Safety()),
            delivery=delivery,
        )
        return apply_prepared(
            opts.common, log, conn, prepared, yes=opts.yes, force=opts.force, verb="rotate"
        )
