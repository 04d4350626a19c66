"""``provisioner apply [PLAN]``: make the server match the spec, then report."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import time
from collections.abc import Iterator
from typing import Any

from provisioner.exitcodes import ExitCode
from provisioner.session import CommandError, Log, connect, load_spec_or_fail, run_command


def run(args: argparse.Namespace) -> int:
    return run_command(_apply, args)


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM stops an apply the way Ctrl-C does: cleanly, with a report (exit 130)."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _confirm(args: argparse.Namespace) -> None:
    if args.yes:
        return
    if not sys.stdin.isatty():
        raise CommandError(
            "refusing to apply without confirmation: stdin is not a terminal; "
            "pass --yes to apply non-interactively",
            ExitCode.USAGE,
        )
    print("\nDo you want to apply these changes? Only 'yes' will be accepted.", file=sys.stderr)
    answer = input("  Enter a value: ").strip()
    if answer != "yes":
        raise CommandError("apply cancelled", ExitCode.ERROR)


def _make_deliver(sink_text: str | None, url: str, log: Log):  # type: ignore[no-untyped-def]
    if not sink_text:
        return None
    from provisioner.secrets.secret import Secret
    from provisioner.secrets.sinks import KeyDelivery, github_add_mask, parse_sink

    try:
        sink = parse_sink(sink_text)
    except ValueError as exc:
        raise CommandError(f"key sink: {exc}", ExitCode.USAGE) from None

    def deliver(batch: list[tuple[str, str, Secret]]) -> dict[str, str]:
        github_add_mask([key for _, _, key in batch])
        items = [KeyDelivery(name, key_name, key, url) for name, key_name, key in batch]
        results = sink.deliver(items)
        return {r.name: r.error or "delivery failed" for r in results if not r.ok}

    deliver.description = sink.description  # type: ignore[attr-defined]
    return deliver


def _progress(log: Log):  # type: ignore[no-untyped-def]
    if log.quiet or not sys.stderr.isatty():
        return None

    def show(done: int, total: int, label: str) -> None:
        sys.stderr.write(f"\r\x1b[2K[{done}/{total}] {label}"[:200])
        if done == total:
            sys.stderr.write("\r\x1b[2K")
        sys.stderr.flush()

    return show


def _apply(args: argparse.Namespace, log: Log) -> int:
    from provisioner.apply import execute
    from provisioner.plan import saved
    from provisioner.plan.diff import diff
    from provisioner.plan.safety import check
    from provisioner.render import output
    from provisioner.render.plan import dumps, plan_json
    from provisioner.render.report import render_text, report_json

    saved_plan = None
    spec = None
    if args.plan_file:
        try:
            saved_plan = saved.load(args.plan_file)
        except saved.SavedPlanError as exc:
            raise CommandError(str(exc), ExitCode.USAGE) from None
        if not args.url and not args.sandbox:
            args.url = saved_plan.server_url
    else:
        spec = load_spec_or_fail(args.file, log)

    with connect(args, log, spec) as conn:
        inventory = conn.client.list_tokens()
        if saved_plan is not None:
            if not args.sandbox and (
                conn.url != saved_plan.server_url or conn.info.user_id != saved_plan.user_id
            ):
                raise CommandError(
                    f"the plan was made for {saved_plan.server_url} user {saved_plan.user_id}, "
                    f"not {conn.url} user {conn.info.user_id}",
                    ExitCode.STALE_PLAN,
                )
            plan = saved_plan.plan
            moved = saved.staleness(plan, inventory)
            if moved:
                for line in moved:
                    log.error(f"stale: {line}")
                raise CommandError(
                    f"the saved plan {args.plan_file} is stale: {len(moved)} tokens moved "
                    "since it was made; run `provisioner plan --out` again",
                    ExitCode.STALE_PLAN,
                )
            safety, keys_to, file = saved_plan.safety, saved_plan.keys_to, saved_plan.spec_path
        else:
            assert spec is not None
            plan = diff(spec, inventory, int(time.time()), quota_per_unit=conn.info.quota_per_unit)
            safety, keys_to, file = spec.safety, spec.keys_to, args.file
        sink_text = args.keys_to or keys_to
        deliver = _make_deliver(sink_text, conn.url, log)

        violations = check(plan, safety)
        head = output.header(file, conn)
        blocking = [v for v in violations if not v.overridable or not args.force]
        if args.output != "json":
            output.emit_plan(args, plan, head, blocking)
        if blocking:
            if args.output == "json":
                sys.stdout.write(dumps(plan_json(plan, head, blocking)))
            raise CommandError(
                "apply refused: " + "; ".join(str(v) for v in blocking), ExitCode.REFUSED
            )
        if not plan.has_changes:
            if args.output == "json":
                sys.stdout.write(
                    dumps(
                        {
                            **plan_json(plan, head, []),
                            "kind": "apply",
                            **report_json(_empty_report()),
                        }
                    )
                )
            return ExitCode.OK
        _confirm(args)
        with _sigterm_interrupts():
            report = execute(plan, conn.client, inventory, deliver=deliver, progress=_progress(log))
        report.sink = sink_text or ""
        if args.output == "json":
            sys.stdout.write(
                dumps({**plan_json(plan, head, []), "kind": "apply", **report_json(report)})
            )
        else:
            sys.stdout.write("\n" + render_text(report, output.style_for(args)))
        sys.stdout.flush()
    if report.interrupted:
        return ExitCode.INTERRUPTED
    if report.failed:
        return ExitCode.PARTIAL
    return ExitCode.OK


def _empty_report():  # type: ignore[no-untyped-def]
    from provisioner.apply import Report

    return Report()
