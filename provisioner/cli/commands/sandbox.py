"""``provisioner sandbox``: run the local server (:mod:`provisioner.sandbox.cli`)."""

from __future__ import annotations

from provisioner.errors import UsageError
from provisioner.sandbox.options import SandboxOptions


def run(opts: SandboxOptions) -> int:
    from provisioner.sandbox.cli import serve

    return serve(opts)


def options(namespace: object) -> SandboxOptions:
    from provisioner.sandbox.options import SandboxUsageError, options_from

    if getattr(namespace, "output", "text") == "markdown":
        raise UsageError(
            "sandbox prints where it listens as text lines (url=, token=, ...) or, with "
            "--output json, one JSON object; --output markdown has nothing to show"
        )
    try:
        return options_from(namespace)  # type: ignore[arg-type]
    except SandboxUsageError as exc:
        raise UsageError(str(exc)) from None
