"""``provisioner sandbox``: run the sandbox in the foreground until SIGINT/SIGTERM.

The command's parser owner calls :func:`add_arguments`; flags become a typed
:class:`SandboxOptions` once (:func:`options_from`), and :func:`serve` runs it.
``python -m provisioner.sandbox`` does the same on its own.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from types import FrameType

from provisioner.exitcodes import ExitCode
from provisioner.sandbox.options import (
    SandboxOptions,
    SandboxUsageError,
    add_arguments,
    options_from,
)
from provisioner.sandbox.server import Sandbox
from provisioner.sandbox.store import SandboxStateError

__all__ = [
    "SandboxOptions",
    "SandboxUsageError",
    "add_arguments",
    "build",
    "main",
    "options_from",
    "serve",
]


def build(opts: SandboxOptions) -> Sandbox:
    """The sandbox these options describe, not started.

    Its database is made (folder included) or checked first: a file that is not a
    sandbox's raises :class:`~provisioner.sandbox.store.SandboxStateError`.
    """
    sandbox = Sandbox(
        opts.db,
        profile=opts.profile,
        rate_limits=opts.rate_limits,
        limits=None if opts.global_limit is None else {"global": opts.global_limit},
        max_user_tokens=opts.max_tokens,
        neighbour=opts.neighbour,
        channels=opts.channels,
        redis=opts.redis,
        auto_group=opts.auto_group,
        lang=opts.lang,
        latency=opts.latency,
        log_requests=opts.verbose > 0,
        scopes=opts.scopes,
        legacy_retired=opts.legacy_retired,
    )
    for fault in opts.faults:
        sandbox.add_fault(fault)
    if opts.seed:
        sandbox.seed(opts.seed)
    return sandbox


def serve(opts: SandboxOptions) -> int:
    """Serve until SIGINT or SIGTERM; print url=, token=, user_id= and profile= first
    (new-api-2026-10 adds scopes=, legacy_token= and legacy_retire_at=)
    (with ``opts.json``: the same as one JSON object on one line,
    docs/json.md#sandbox-provisioner-sandbox---output-json)."""
    sandbox = build(opts)
    try:
        sandbox.start(host=opts.host, port=opts.port)
    except OSError as exc:
        sandbox.stop()
        print(
            f"provisioner sandbox: cannot listen on {opts.host}:{opts.port}: {exc}",
            file=sys.stderr,
        )
        return ExitCode.UNAVAILABLE
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        started = {
            "url": sandbox.url,
            # the sandbox's own throwaway credential, printed in full for the user to use,
            # as the text form does
            "token": sandbox.credential,
            "user_id": sandbox.user_id,
            "profile": sandbox.profile.name,
        }
        if sandbox.profile.access_tokens:  # rc.41: the nap_ token's grant, and the legacy one
            started["scopes"] = ",".join(sandbox.scopes)
            started["legacy_token"] = sandbox.legacy_credential
            started["legacy_retire_at"] = _iso(sandbox.legacy_retire_at or 0)
        if opts.json:
            document = {"schema_version": 1, "kind": "sandbox", **started, "db": str(opts.db)}
            print(json.dumps(document, ensure_ascii=False), flush=True)
        else:
            for name, value in started.items():
                print(f"{name}={value}", flush=True)
        while not stop.wait(0.2):
            pass
    finally:
        sandbox.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return ExitCode.OK


def _iso(stamp: int) -> str:
    """A unix time as the ISO 8601 UTC text people read (2026-11-04T10:00:00Z)."""
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp))


def main(args: argparse.Namespace) -> int:
    try:
        opts = options_from(args)
    except SandboxUsageError as exc:
        print(f"provisioner sandbox: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    try:
        return serve(opts)
    except SandboxStateError as exc:  # the --db file is not a sandbox's database
        print(f"provisioner sandbox: {exc}", file=sys.stderr)
        return int(exc.exit_code)


run = main
