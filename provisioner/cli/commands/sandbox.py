"""``provisioner sandbox``: run the local server (:mod:`provisioner.sandbox.cli`)."""

from __future__ import annotations

from provisioner.errors import ProvisionerError, UsageError
from provisioner.sandbox.options import SandboxOptions


def run(opts: SandboxOptions) -> int:
    from provisioner.sandbox.cli import serve
    from provisioner.sandbox.store import SandboxStateError

    try:
        return serve(opts)
    except SandboxStateError as exc:  # the --db file is not a sandbox's database
        raise ProvisionerError(str(exc), exc.exit_code) from None


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
