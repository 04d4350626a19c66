"""``provisioner export``: the account's tokens as a valid tokens.yaml (no keys)."""

from __future__ import annotations

import argparse
import sys
from fnmatch import fnmatchcase
from pathlib import Path

from provisioner.exitcodes import ExitCode
from provisioner.session import CommandError, Log, connect, run_command


def run(args: argparse.Namespace) -> int:
    return run_command(_export, args)


def _export(args: argparse.Namespace, log: Log) -> int:
    from provisioner.export import export_tokens

    if args.out and Path(args.out).exists() and Path(args.out).samefile(args.file):
        pass  # overwriting the spec on purpose is allowed; the user named it
    with connect(args, log, None) as conn:
        tokens = conn.client.list_tokens()
        now = conn.client.now()
        url = None if args.sandbox else conn.url
    globs = args.match or []
    if globs:
        tokens = [t for t in tokens if any(fnmatchcase(t.name, g) for g in globs)]
    result = export_tokens(tokens, now, match=globs, url=url)
    for line in result.skipped:
        log.info(f"skipped {line}")
    if args.out:
        try:
            Path(args.out).write_text(result.text, encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"cannot write {args.out}: {exc.strerror}", ExitCode.ERROR) from None
        log.info(f"wrote {result.count} tokens to {args.out}")
    else:
        sys.stdout.write(result.text)
    return ExitCode.OK
