"""``provisioner sandbox``: run the sandbox in the foreground until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from provisioner.exitcodes import ExitCode
from provisioner.sandbox.faults import Fault, FaultSpecError, parse_fault
from provisioner.sandbox.server import Sandbox


def main(args: argparse.Namespace) -> int:
    try:
        faults: list[Fault] = [parse_fault(spec) for spec in (args.fault or [])]
    except FaultSpecError as exc:
        print(f"provisioner sandbox: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    if args.seed < 0 or args.latency < 0:
        print("provisioner sandbox: --seed and --latency must be >= 0", file=sys.stderr)
        return ExitCode.USAGE
    db = Path(args.db)
    db.parent.mkdir(parents=True, exist_ok=True)
    sandbox = Sandbox(
        db,
        auth=args.auth,
        list_shape=args.list_shape,
        rate_limits=args.rate_limits,
        lang=args.lang,
        latency=args.latency,
        log_requests=getattr(args, "verbose", 0) > 0,
    )
    for fault in faults:
        sandbox.add_fault(fault)
    if args.seed:
        sandbox.seed(args.seed)
    try:
        sandbox.start(host=args.host, port=args.port)
    except OSError as exc:
        sandbox.stop()
        print(
            f"provisioner sandbox: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr
        )
        return ExitCode.UNAVAILABLE
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        print(f"url={sandbox.url}", flush=True)
        print(f"token={sandbox.credential}", flush=True)
        print(f"user_id={sandbox.user_id}", flush=True)
        while not stop.wait(0.2):
            pass
    finally:
        sandbox.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return ExitCode.OK


run = main
