"""``provisioner validate``: check the spec offline; every error as FILE:LINE:COL.

Text mode: diagnostics on stderr, a one-line summary last. Under GitHub
Actions (``GITHUB_ACTIONS=true``) ``::error``/``::warning`` workflow commands
(annotations) go to stderr, in every output format: they are instructions to
the runner, which reads both streams, not part of the document, so
``--output json|markdown`` keep stdout one document (docs/commands.md#outputs).
Exit 0 when valid, 65 when not (a missing file is an invalid spec too).
"""

from __future__ import annotations

import json
import sys

from provisioner.cli import workflow
from provisioner.cli.options import ValidateOptions
from provisioner.exitcodes import ExitCode
from provisioner.spec import Diagnostic, Spec, SpecError, load_spec


def _annotation(kind: str, diagnostic: Diagnostic) -> str:
    from provisioner.cli.workflow import command

    return command(
        kind, diagnostic.message, file=diagnostic.file, line=diagnostic.line, col=diagnostic.col
    )


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _tokens(count: int) -> str:
    return f"{count} token{'' if count == 1 else 's'}"


def _errors(count: int) -> str:
    return f"{count} error{'' if count == 1 else 's'}"


def run(opts: ValidateOptions) -> int:
    from provisioner.spec.loader import STDIN, STDIN_NAME

    filename = STDIN_NAME if opts.common.file == STDIN else opts.common.file
    output = opts.common.output
    quiet = opts.common.quiet
    spec: Spec | None = None
    errors: list[Diagnostic] = []
    try:
        spec = load_spec(opts.common.file)
    except SpecError as exc:
        errors = list(exc.diagnostics)
    except Exception as exc:  # never a traceback for any input
        errors = [
            Diagnostic(filename, 1, 1, f"internal error while loading: {type(exc).__name__}: {exc}")
        ]
    warnings = list(spec.warning_diagnostics) if spec else []
    valid = spec is not None
    token_count = len(spec.tokens) if spec else 0
    declared = spec.declared_count if spec else 0

    if workflow.active():  # annotations for the runner: stderr, whatever the format
        for diagnostic in errors:
            print(_annotation("error", diagnostic), file=sys.stderr)
        for diagnostic in warnings:
            print(_annotation("warning", diagnostic), file=sys.stderr)

    if output == "json":
        from provisioner.render.plan import json_head

        document = {
            **json_head("validate"),
            "file": filename,
            "valid": valid,
            "errors": [d.as_dict() for d in errors],
            "warnings": [d.as_dict() for d in warnings],
            "tokens": token_count,
            "declared_tokens": declared,
        }
        print(json.dumps(document, indent=2, ensure_ascii=False))
    elif output == "markdown":
        status = "valid" if valid else _errors(len(errors))
        print(f"### `{_md(filename)}`: {status}\n")
        rows = [("error", d) for d in errors] + [("warning", d) for d in warnings]
        if rows:
            print("| | Location | Message |")
            print("|---|---|---|")
            for kind, d in rows:
                print(f"| {kind} | `{_md(d.file)}:{d.line}:{d.col}` | {_md(d.message)} |")
        else:
            print(f"{_tokens(token_count)} ({declared} declared).")
    else:
        for diagnostic in errors:
            print(str(diagnostic), file=sys.stderr)
        if not quiet:
            for diagnostic in warnings:
                print(f"{diagnostic} (warning)", file=sys.stderr)
        if valid:
            if not quiet:
                after = f" ({token_count} after count)" if token_count != declared else ""
                print(f"{filename}: valid, {_tokens(declared)}{after}", file=sys.stderr)
        else:
            print(f"{filename}: {_errors(len(errors))}", file=sys.stderr)
    return ExitCode.OK if valid else ExitCode.INVALID_SPEC
