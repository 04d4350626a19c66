"""Typed options: argparse's namespace becomes one of these, once, in :mod:`provisioner.cli.main`.

Nothing below a command's ``run`` sees an ``argparse.Namespace``. A command's
options compose :class:`Common` (flags every command takes) and, for the
commands that talk to a server, :class:`ServerOptions`.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

Output = Literal["text", "json", "markdown"]
DEFAULT_FILE = "tokens.yaml"


@dataclass(frozen=True)
class Common:
    """Global flags, accepted before and after the command name."""

    file: str = DEFAULT_FILE
    output: Output = "text"
    quiet: bool = False
    verbose: int = 0
    no_color: bool = False

    @property
    def file_given(self) -> bool:
        return self.file != DEFAULT_FILE


@dataclass(frozen=True)
class ServerOptions:
    sandbox: bool = False
    url: str | None = None
    insecure_http: bool = False
    rate_limit: str | None = None
    timeout: float | None = None


@dataclass(frozen=True)
class ValidateOptions:
    common: Common = field(default_factory=Common)


@dataclass(frozen=True)
class PlanOptions:
    common: Common = field(default_factory=Common)
    server: ServerOptions = field(default_factory=ServerOptions)
    out: str | None = None
    detailed_exitcode: bool = False


@dataclass(frozen=True)
class ApplyOptions:
    common: Common = field(default_factory=Common)
    server: ServerOptions = field(default_factory=ServerOptions)
    plan_file: str | None = None
    yes: bool = False
    force: bool = False
    keys_to: str | None = None
    lock_timeout: str = "0s"


@dataclass(frozen=True)
class ExportOptions:
    common: Common = field(default_factory=Common)
    server: ServerOptions = field(default_factory=ServerOptions)
    match: tuple[str, ...] = ()
    out: str | None = None
    force: bool = False


@dataclass(frozen=True)
class ListOptions:
    common: Common = field(default_factory=Common)
    server: ServerOptions = field(default_factory=ServerOptions)
    sort: str = "name"
    status: tuple[str, ...] = ()
    match: tuple[str, ...] = ()
    stale_after: str = "30d"
    expiring_within: str = "7d"
    budget_above: float = 90.0
    fail_on: str | None = None


@dataclass(frozen=True)
class CheckOptions:
    common: Common = field(default_factory=Common)
    server: ServerOptions = field(default_factory=ServerOptions)


@dataclass(frozen=True)
class RevealOptions:
    common: Common = field(default_factory=Common)
    server: ServerOptions = field(default_factory=ServerOptions)
    names: tuple[str, ...] = ()
    keys_to: str | None = None


@dataclass(frozen=True)
class RotateOptions:
    common: Common = field(default_factory=Common)
    server: ServerOptions = field(default_factory=ServerOptions)
    names: tuple[str, ...] = ()
    yes: bool = False
    keys_to: str | None = None
    overlap: str | None = None
    force: bool = False


@dataclass(frozen=True)
class DeleteOptions:
    common: Common = field(default_factory=Common)
    server: ServerOptions = field(default_factory=ServerOptions)
    ids: tuple[int, ...] = ()
    yes: bool = False


@dataclass(frozen=True)
class LoginOptions:
    common: Common = field(default_factory=Common)
    url: str | None = None
    user_id: int | None = None


@dataclass(frozen=True)
class TestOptions:
    common: Common = field(default_factory=Common)
    server: ServerOptions = field(default_factory=ServerOptions)
    names: tuple[str, ...] = ()
    keys_to: str | None = None
    model: str | None = None


@dataclass(frozen=True)
class RevokeOptions:
    common: Common = field(default_factory=Common)
    server: ServerOptions = field(default_factory=ServerOptions)
    yes: bool = False
    keys_to: str | None = None


@dataclass(frozen=True)
class ScanOptions:
    common: Common = field(default_factory=Common)
    server: ServerOptions = field(default_factory=ServerOptions)
    paths: tuple[str, ...] = ()
    since: str | None = None
    max_size: str = "5M"
    revoke: bool = False
    yes: bool = False
    keys_to: str | None = None


T = TypeVar("T")


def from_namespace(cls: type[T], namespace: argparse.Namespace) -> T:
    """Build ``cls`` from the parsed flags; nested option groups read the same namespace.

    A flag the parser did not define for this command keeps the field's default.
    """
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for item in dataclasses.fields(cls):  # type: ignore[arg-type]
        kind = hints[item.name]
        if dataclasses.is_dataclass(kind):
            values[item.name] = from_namespace(kind, namespace)  # type: ignore[arg-type]
            continue
        if not hasattr(namespace, item.name):
            continue
        value = getattr(namespace, item.name)
        if isinstance(value, list):
            value = tuple(value)
        if value is None and item.default is not dataclasses.MISSING and item.default is not None:
            continue  # an optional flag left out: the field's default
        values[item.name] = value
    return cls(**values)


def check_combinations(options: object) -> None:
    """Refuse (exit 64) flag combinations that cannot work, before anything is sent.

    ``--url`` with ``--sandbox``: the sandbox is its own server. ``--keys-to stdout``
    with ``--output json|markdown``: keys never mix into data output
    (docs/sinks.md#stdout; a file's ``keys.to: stdout`` is checked where the sink is made).
    """
    from provisioner.errors import UsageError
    from provisioner.secrets.sinks import stdout_refusal

    server = getattr(options, "server", None)
    if isinstance(server, ServerOptions) and server.sandbox and server.url:
        raise UsageError(
            f"--url {server.url} and --sandbox name two servers: --sandbox runs an embedded "
            "local server and ignores --url; drop one of them"
        )
    common = getattr(options, "common", None)
    keys_to = getattr(options, "keys_to", None)
    stdout_sink = bool(keys_to) and str(keys_to).strip() == "stdout"
    if isinstance(common, Common) and stdout_sink and common.output != "text":
        raise UsageError(stdout_refusal("--keys-to stdout", common.output))
