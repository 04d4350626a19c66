"""``python -m provisioner.sandbox [flags]``: the sandbox command on its own."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from provisioner.exitcodes import ExitCode
from provisioner.sandbox.cli import add_arguments, main


def run(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m provisioner.sandbox",
        description="Run a local new-api-compatible server (docs/sandbox.md).",
    )
    add_arguments(parser)
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="log each request to stderr"
    )
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors; the product says 64
        code = exc.code if isinstance(exc.code, int) else 1
        return ExitCode.USAGE if code == 2 else code
    return main(args)


if __name__ == "__main__":
    sys.exit(run())
