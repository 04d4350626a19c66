"""``provisioner apply [PLAN]``: make the server match the spec, then report."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from provisioner.cli.options import ApplyOptions
from provisioner.cli.session import Connection, Log, connect, load_spec_or_fail, sink_warning
from provisioner.errors import RefusedError, StalePlanError
from provisioner.exitcodes import ExitCode

if TYPE_CHECKING:
    from provisioner.cli.execution import Prepared
    from provisioner.observed import ObservedToken
    from provisioner.plan.saved import SavedPlan
    from provisioner.spec.desired import Spec


def run(opts: ApplyOptions) -> int:
    from provisioner.cli import planfile
    from provisioner.cli.delivery import usable_sink
    from provisioner.cli.execution import apply_prepared
    from provisioner.cli.lock import apply_lock

    log = Log(opts.common)
    saved_plan = None
    spec = None
    server = opts.server
    spec_file = opts.common.file
    if opts.plan_file:
        saved_plan = planfile.load(opts.plan_file)
        if not server.url and not server.sandbox:
            server = replace(server, url=saved_plan.server_url)
        # the spec the plan was made from: --sandbox opens the sandbox plan opened
        spec_file = saved_plan.spec_path or spec_file
    else:
        spec = load_spec_or_fail(opts.common.file, log)
    sink_text = opts.keys_to or (saved_plan.keys_to if saved_plan else spec and spec.keys_to)
    if sink_text:  # a place keys must not go is refused before anything is sent (64)
        usable_sink(
            sink_text, output=opts.common.output, spec_path=opts.common.file, warn=sink_warning(log)
        )

    with connect(server, log, spec, spec_file=spec_file) as conn:
        # What would be refused is refused before any lock: a refused apply writes nothing.
        prepared = _prepare(opts, log, conn, spec, saved_plan)
        if _blocked(prepared, opts.force):
            return apply_prepared(opts.common, log, conn, prepared, yes=opts.yes, force=opts.force)
        # The tokens the plan was made from. A re-read is a new list: only then are the
        # two compared (hashing every token costs time on a big account).
        seen = conn.inventory

        def creates() -> bool:
            """Asked once this machine's lock is held: whether the server's lock is needed."""
            nonlocal prepared, seen
            if conn.inventory is not seen:  # re-read after waiting for another apply here
                if _identity(conn.inventory) != _identity(seen):
                    prepared = _prepare(opts, log, conn, spec, saved_plan)
                seen = conn.inventory
            return _creates(prepared) and not _blocked(prepared, opts.force)

        with apply_lock(conn, log, timeout=opts.lock_timeout, creates=creates) as held:
            lease = held.lease
            if lease is not None and _identity(conn.inventory) != _identity(seen):
                prepared = _prepare(opts, log, conn, spec, saved_plan)  # another apply ran
            code = apply_prepared(opts.common, log, conn, prepared, yes=opts.yes, force=opts.force)
        if lease is not None and lease.lost is not None and code == ExitCode.PARTIAL:
            raise RefusedError(lease.lost_message())
        if lease is not None and lease.lost is not None:
            log.info(f"warning: {lease.lost_message()}")
        return code


def _creates(prepared: Prepared) -> bool:
    """The plan creates tokens (a create or a rotation's new token): the server lock's job."""
    plan = prepared.plan
    return bool(plan.of_kind("create") or plan.of_kind("rotate"))


def _identity(tokens: list[ObservedToken]) -> list[tuple[int, str]]:
    from provisioner.plan.model import fingerprint

    return sorted((t.id, fingerprint(t)) for t in tokens)


def _blocked(prepared: Prepared, force: bool) -> bool:
    return any(not v.overridable or not force for v in prepared.violations)


def _check_saved(saved_plan: SavedPlan, opts: ApplyOptions, conn: Connection, log: Log) -> None:
    """A saved plan fits this server and nothing it touches moved since (else exit 5)."""
    from provisioner.plan.saved import staleness

    if not opts.server.sandbox and (
        conn.url != saved_plan.server_url or conn.info.user_id != saved_plan.user_id
    ):
        raise StalePlanError(
            f"the plan was made for {saved_plan.server_url} user {saved_plan.user_id}, "
            f"not {conn.url} user {conn.info.user_id}"
        )
    moved = staleness(saved_plan.plan, conn.inventory)
    if moved:
        from provisioner.humanize import plural
        from provisioner.render.safe import text

        for line in moved:
            log.error(f"stale: {text(line)}")  # the lines name tokens from the server
        raise StalePlanError(
            f"the saved plan {opts.plan_file} is stale: {plural(len(moved), 'token')} "
            "moved since it was made; run `provisioner plan --out` again"
        )


def _prepare(
    opts: ApplyOptions,
    log: Log,
    conn: Connection,
    spec: Spec | None,
    saved_plan: SavedPlan | None,
) -> Prepared:
    """The plan to carry out (or the saved one, re-checked against the server)."""
    from provisioner.cli import output
    from provisioner.cli.delivery import make_delivery
    from provisioner.cli.execution import Prepared
    from provisioner.cli.planning import plan_spec
    from provisioner.cli.scopes import require_for_plan
    from provisioner.plan.safety import check

    if saved_plan is not None:
        _check_saved(saved_plan, opts, conn, log)
        plan = saved_plan.plan
        delivery = make_delivery(
            opts.keys_to or saved_plan.keys_to,
            conn,
            output=opts.common.output,
            warn=None,  # checked before connecting
        )
        violations = check(plan, saved_plan.safety)
        require_for_plan(conn.client, plan, delivery)  # a scoped token's missing scope: 77, now
        file = saved_plan.spec_path
    else:
        assert spec is not None
        delivery = make_delivery(
            opts.keys_to or spec.keys_to,
            conn,
            output=opts.common.output,
            spec_path=opts.common.file,
            warn=None,  # checked before connecting
        )
        plan, violations = plan_spec(spec, conn, delivery)
        file = opts.common.file
    return Prepared(
        plan=plan,
        inventory=conn.inventory,
        head=output.header(file, conn),
        violations=violations,
        delivery=delivery,
    )
