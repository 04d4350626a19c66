"""Command line: parse flags into typed options, run one command, map errors to exit codes.

Each command lives in ``provisioner/cli/commands/<name>.py`` with a
``run(options) -> int`` function; only the one that runs is imported, so
``provisioner --help`` stays fast (heavy imports are lazy).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import sys
from collections.abc import Sequence
from typing import Any

from provisioner.cli import streams
from provisioner.cli.options import check_combinations, from_namespace
from provisioner.cli.parser import COMMANDS, ArgumentsError, build_parser
from provisioner.errors import ProvisionerError
from provisioner.exitcodes import ExitCode

#: command name -> its options type (the module is provisioner.cli.commands.<name>)
OPTIONS: dict[str, type] = {name: cls for name, (cls, _) in COMMANDS.items()}


def _wants_json(argv: Sequence[str]) -> bool:
    """``--output json`` among the arguments (read before argparse, which may refuse them)."""
    pairs = zip(argv, list(argv)[1:], strict=False)
    return "--output=json" in argv or any(a == "--output" and b == "json" for a, b in pairs)


def _json_error(message: str, code: int) -> None:
    """With ``--output json``, a failure is a JSON document on stdout too (docs/json.md)."""
    from provisioner.render.plan import SCHEMA_VERSION, dumps

    error = {"message": message, "exit_code": int(code)}
    document = {"schema_version": SCHEMA_VERSION, "error": error}
    sys.stdout.write(dumps(document))  # escaped as every other document (render.safe)
    sys.stdout.flush()


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; with ``--output json`` an error is also a JSON object on stdout
    (unless the command already wrote its document there).

    The standard streams are set up once, here, for every command (:mod:`.streams`): a
    narrow encoding escapes what it cannot carry, and a stdout that is gone never changes
    the exit code.
    """
    if argv is None:  # the process is this one run (not a test calling in)
        _collect_less()
    args = list(sys.argv[1:] if argv is None else argv)
    with streams.prepared() as out:
        code, message = _run(args, out)
        if code and message is not None and _wants_json(args) and not out.written:
            _json_error(message, code)
    if argv is None:
        gc.freeze()  # the process ends now: no last collection of what it leaves behind
    return code


def _collect_less() -> None:
    """One run, then the process ends: what a big file or account makes (the spec, the
    token list) lives to the end, and the collector's default pace would scan it again
    and again (a fifth of a 10,000-token plan). The modules imported so far are never
    scanned again; young garbage is still collected, less often (docs/performance.md)."""
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)


def _run(args: list[str], out: streams.Output) -> tuple[int, str | None]:
    """The exit code, and the error message when the run failed with one."""
    parser = build_parser()
    try:
        namespace = parser.parse_args(args)
    except ArgumentsError as exc:  # argparse's own refusals: 64, not its 2
        print(f"error: {exc}", file=sys.stderr)
        return int(exc.exit_code), str(exc)
    except SystemExit as exc:  # --help, --version
        return (exc.code if isinstance(exc.code, int) else 1), None
    if not namespace.command:
        parser.print_help(sys.stderr)
        return ExitCode.USAGE, "no command given; see provisioner --help"
    # the report of a command that changes something is never lost (scan --revoke does)
    out.spill = namespace.command not in streams.READ_ONLY or bool(getattr(namespace, "revoke", 0))
    verbose = int(getattr(namespace, "verbose", 0) or 0)
    try:
        return _command(namespace), None
    except ProvisionerError as exc:
        from provisioner.render.safe import text_lines

        # a message may quote a name from the server: shown escaped (render/safe.py)
        print(f"error: {text_lines(exc)}", file=sys.stderr)
        return int(exc.exit_code), str(exc)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED, "interrupted"
    except BrokenPipeError:
        return ExitCode.ERROR, None
    except Exception as exc:  # a bug: say so plainly; the traceback only with -vv
        if verbose >= 2:
            import traceback

            traceback.print_exc()
        message = (
            f"provisioner: internal error ({type(exc).__name__}); this is a bug, please report "
            "it with the output of the same command run with -vv"
        )
        print(message, file=sys.stderr)
        return ExitCode.ERROR, message


def _command(namespace: argparse.Namespace) -> int:
    module = importlib.import_module(f"provisioner.cli.commands.{namespace.command}")
    if namespace.command == "sandbox":  # the sandbox builds its own options
        return int(module.run(module.options(namespace)))
    options: Any = from_namespace(OPTIONS[namespace.command], namespace)
    check_combinations(options)
    return int(module.run(options))
