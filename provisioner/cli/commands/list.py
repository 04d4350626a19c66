"""``provisioner list``: every token with status, usage, budget, expiry and hygiene findings."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from provisioner.cli.options import ListOptions
from provisioner.cli.session import Log, connect, load_spec_or_fail
from provisioner.errors import UsageError
from provisioner.exitcodes import ExitCode

if TYPE_CHECKING:
    from provisioner.listing.findings import Thresholds
    from provisioner.spec.desired import Spec


def _thresholds(opts: ListOptions) -> Thresholds:
    from provisioner.listing.findings import Thresholds

    # the parser checked each range (provisioner/cli/options.py)
    return Thresholds(
        budget_above=opts.budget_above,
        stale_after=opts.stale_after,
        expiring_within=opts.expiring_within,
    )


def _spec(opts: ListOptions, log: Log) -> Spec | None:
    """The spec when there is one: the default tokens.yaml is optional, a named file is not."""
    file = opts.common.file
    if not opts.common.file_given and not Path(file).exists():
        log.debug(f"no {file} here: listing without ownership")
        return None
    return load_spec_or_fail(file, log)


def run(opts: ListOptions) -> int:
    from provisioner.cli.output import header, style_for
    from provisioner.listing.findings import (
        build_listing,
        check_sort,
        check_statuses,
        parse_fail_on,
    )
    from provisioner.render import listing as render

    log = Log(opts.common)
    try:
        fail_on = parse_fail_on(opts.fail_on) if opts.fail_on else ()
        statuses = check_statuses(opts.status)
        sort = check_sort(opts.sort)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    thresholds = _thresholds(opts)
    spec = _spec(opts, log)
    file = opts.common.file

    with connect(opts.server, log, spec, spec_file=opts.common.file) as conn:
        tokens = conn.inventory  # every page once; nothing per token
        now = conn.client.now()
        head = header(file if spec else "", conn)
        qpu = conn.info.quota_per_unit
    listing = build_listing(
        tokens,
        now,
        spec=spec,
        thresholds=thresholds,
        sort=sort,
        statuses=statuses,
        globs=opts.match,
    )

    if opts.common.output == "json":
        text = render.render_json(
            listing, head, qpu, spec_file=head.file if spec else None, fail_on=fail_on
        )
    elif opts.common.output == "markdown":
        text = render.render_markdown(listing, head, qpu)
    else:
        width = shutil.get_terminal_size().columns if sys.stdout.isatty() else None
        text = render.render_text(listing, head, qpu, style_for(opts.common), width)
    sys.stdout.write(text)
    sys.stdout.flush()

    failing = listing.failing(fail_on)
    if failing:
        kinds = sorted({f.kind for f in failing})
        log.info(
            f"--fail-on: {len(failing)} finding{'s' if len(failing) != 1 else ''} "
            f"({', '.join(kinds)}); exit {int(ExitCode.FINDINGS)}"
        )
        return ExitCode.FINDINGS
    return ExitCode.OK
