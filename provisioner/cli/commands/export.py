"""``provisioner export``: the account's tokens as a valid tokens.yaml (no keys)."""

from __future__ import annotations

import sys
from fnmatch import fnmatchcase
from pathlib import Path

from provisioner.cli.options import ExportOptions
from provisioner.cli.session import Log, connect
from provisioner.errors import ProvisionerError
from provisioner.exitcodes import ExitCode


def run(opts: ExportOptions) -> int:
    from provisioner.render.export import export_tokens

    log = Log(opts.common)
    with connect(opts.server, log, None) as conn:
        tokens = conn.inventory
        now = conn.client.now()
        url = None if opts.server.sandbox else conn.url
    globs = list(opts.match)
    if globs:
        tokens = [t for t in tokens if any(fnmatchcase(t.name, g) for g in globs)]
    result = export_tokens(tokens, now, match=globs, url=url)
    for line in result.skipped:
        log.info(f"skipped {line}")
    if opts.out:
        try:
            Path(opts.out).write_text(result.text, encoding="utf-8")
        except OSError as exc:
            raise ProvisionerError(f"cannot write {opts.out}: {exc.strerror}") from None
        log.info(f"wrote {result.count} tokens to {opts.out}")
    else:
        sys.stdout.write(result.text)
    return ExitCode.OK
