"""``provisioner list``: every token with status, usage, budget, expiry and hygiene findings."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from provisioner.exitcodes import ExitCode
from provisioner.session import CommandError, Log, connect, load_spec_or_fail, run_command

if TYPE_CHECKING:
    from provisioner.findings import Thresholds
    from provisioner.spec.desired import Spec

DEFAULT_FILE = "tokens.yaml"


def run(args: argparse.Namespace) -> int:
    return run_command(_list, args)


def _usage(message: str) -> CommandError:
    return CommandError(message, ExitCode.USAGE)


def _thresholds(args: argparse.Namespace) -> Thresholds:
    from provisioner.findings import Thresholds
    from provisioner.spec import parse_duration

    values = {}
    for flag, attr in (("--stale-after", "stale_after"), ("--expiring-within", "expiring_within")):
        try:
            values[attr] = parse_duration(getattr(args, attr))
        except ValueError as exc:
            raise _usage(f"{flag}: {exc}") from None
    if not 0 <= args.budget_above <= 100:
        raise _usage(f"--budget-above {args.budget_above:g}: expected a percentage from 0 to 100")
    return Thresholds(budget_above=args.budget_above, **values)


def _spec(args: argparse.Namespace, log: Log) -> Spec | None:
    """The spec when there is one: the default tokens.yaml is optional, a named file is not."""
    if args.file == DEFAULT_FILE and not Path(args.file).exists():
        log.debug(f"no {DEFAULT_FILE} here: listing without ownership")
        return None
    return load_spec_or_fail(args.file, log)


def _list(args: argparse.Namespace, log: Log) -> int:
    from provisioner.findings import build_listing, check_sort, check_statuses, parse_fail_on
    from provisioner.render import listing as render
    from provisioner.render.output import header, style_for

    try:
        fail_on = parse_fail_on(args.fail_on) if args.fail_on else ()
        statuses = check_statuses(args.status or ())
        sort = check_sort(args.sort)
    except ValueError as exc:
        raise _usage(str(exc)) from None
    thresholds = _thresholds(args)
    spec = _spec(args, log)

    with connect(args, log, spec) as conn:
        tokens = conn.client.list_tokens()  # every page once; nothing per token
        now = conn.client.now()
        head = header(args.file if spec else "", conn)
        qpu = conn.info.quota_per_unit
    listing = build_listing(
        tokens,
        now,
        spec=spec,
        thresholds=thresholds,
        sort=sort,
        statuses=statuses,
        globs=args.match or (),
    )

    if args.output == "json":
        text = render.render_json(
            listing, head, qpu, spec_file=args.file if spec else None, fail_on=fail_on
        )
    elif args.output == "markdown":
        text = render.render_markdown(listing, head, qpu)
    else:
        width = shutil.get_terminal_size().columns if sys.stdout.isatty() else None
        text = render.render_text(listing, head, qpu, style_for(args), width)
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
