"""Command line: parse flags into typed options, run one command, map errors to exit codes.

Each command lives in ``provisioner/cli/commands/<name>.py`` with a
``run(options) -> int`` function; only the one that runs is imported, so
``provisioner --help`` stays fast (heavy imports are lazy).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence
from dataclasses import replace

from provisioner.cli import options as o
from provisioner.cli.parser import build_parser
from provisioner.errors import ProvisionerError
from provisioner.exitcodes import ExitCode

#: command name -> its options type (the module is provisioner.cli.commands.<name>)
OPTIONS: dict[str, type] = {
    "validate": o.ValidateOptions,
    "plan": o.PlanOptions,
    "apply": o.ApplyOptions,
    "export": o.ExportOptions,
    "list": o.ListOptions,
    "check": o.CheckOptions,
    "reveal": o.RevealOptions,
    "rotate": o.RotateOptions,
    "login": o.LoginOptions,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        namespace = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors; the product says 64
        code = exc.code if isinstance(exc.code, int) else 1
        return ExitCode.USAGE if code == 2 else code
    if not namespace.command:
        parser.print_help(sys.stderr)
        return ExitCode.USAGE
    verbose = int(getattr(namespace, "verbose", 0) or 0)
    try:
        module = importlib.import_module(f"provisioner.cli.commands.{namespace.command}")
        if namespace.command == "sandbox":  # the sandbox builds its own options
            return int(module.run(module.options(namespace)))
        options = o.from_namespace(OPTIONS[namespace.command], namespace)
        if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
            options = replace(options, common=replace(options.common, no_color=True))
        return int(module.run(options))
    except ProvisionerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        return ExitCode.ERROR
    except Exception as exc:  # a bug: say so plainly; the traceback only with -vv
        if verbose >= 2:
            import traceback

            traceback.print_exc()
        print(
            f"provisioner: internal error ({type(exc).__name__}); this is a bug, please report "
            "it with the output of the same command run with -vv",
            file=sys.stderr,
        )
        return ExitCode.ERROR
