"""``provisioner rotate NAME...``: a new key now; the old one works until the overlap ends.

PRODUCT §3 'Rotation': the old token is renamed ``NAME.old-YYYYMMDD`` and
expires after the overlap; a new ``NAME`` is created and its key delivered; a
later apply deletes the expired predecessor.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from provisioner.exitcodes import ExitCode
from provisioner.session import (
    CommandError,
    Log,
    connect,
    load_spec_or_fail,
    run_command,
)


def run(args: argparse.Namespace) -> int:
    return run_command(_rotate, args)


def _rotate(args: argparse.Namespace, log: Log) -> int:
    from provisioner.commands.apply import carry_out
    from provisioner.delivery import make_deliver
    from provisioner.plan.diff import DEFAULT_ROTATE_OVERLAP, clone_rotation, diff
    from provisioner.plan.model import Plan
    from provisioner.plan.safety import check
    from provisioner.render import output
    from provisioner.spec import parse_duration
    from provisioner.spec.desired import Safety, Spec

    overlap: int | None = None
    if args.overlap:
        try:
            overlap = parse_duration(args.overlap)
        except ValueError as exc:
            raise CommandError(f"--overlap: {exc}", ExitCode.USAGE) from None
    spec = load_spec_or_fail(args.file, log) if Path(args.file).exists() else None
    names = list(dict.fromkeys(args.names))
    with connect(args, log, spec) as conn:
        inventory = conn.client.list_tokens()
        now = conn.client.now()
        declared = spec.by_name() if spec else {}
        base = spec or Spec(path=args.file, digest="")
        full = diff(
            base,
            inventory,
            now,
            quota_per_unit=conn.info.quota_per_unit,
            rotate_now=[n for n in names if n in declared],
            rotate_overlap=overlap,
        )
        plan = Plan(
            now=now, quota_per_unit=full.quota_per_unit, owned=full.owned, unmanaged=full.unmanaged
        )
        plan.conflicts = [c for c in full.conflicts if c.name in names]
        rotations = {a.name: a for a in full.actions if a.kind == "rotate"}
        taken = {t.name for t in inventory}
        for name in names:
            if name in rotations:
                plan.actions.append(rotations[name])
                continue
            matches = [t for t in inventory if t.name == name]
            if any(c.name == name for c in plan.conflicts):
                continue
            if not matches:
                raise CommandError(f"no token named {name!r} on the server", ExitCode.ERROR)
            if name in declared and declared[name].status != "enabled":
                raise CommandError(
                    f"{name!r} is declared {declared[name].status}; only enabled tokens rotate",
                    ExitCode.USAGE,
                )
            fallback = overlap if overlap is not None else DEFAULT_ROTATE_OVERLAP
            plan.actions.append(clone_rotation(matches[0], now, fallback, taken))
        sink_text = args.keys_to or (spec.keys_to if spec else None)
        deliver, sink_name = make_deliver(sink_text, conn.url, conn.credential)
        if deliver is None:
            raise CommandError(
                "rotate needs a key sink for the new keys: pass --keys-to or set keys.to",
                ExitCode.USAGE,
            )
        head = output.header(args.file, conn)
        violations = check(plan, Safety())
        return carry_out(
            args, log, conn, plan, inventory, head, violations, deliver, sink_name, verb="rotate"
        )
