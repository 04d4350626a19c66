"""Turn a sink specification into the ``deliver`` callable apply, reveal and rotate use."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from provisioner.errors import ProvisionerError, UsageError
from provisioner.execute.executor import Deliver
from provisioner.plan.model import KeyPrint, key_print
from provisioner.secret import Secret

if TYPE_CHECKING:
    from provisioner.keystore.sinks import Sink
    from provisioner.observed import ServerInfo


class Source(Protocol):
    """What a delivery needs of the connection its keys come from (session.Connection)."""

    url: str
    credential: Secret

    @property
    def origin(self) -> str: ...

    @property
    def info(self) -> ServerInfo: ...


@dataclass(frozen=True)
class Delivery:
    """Where keys go: the callable the executor calls, the sink's description, and the
    sink itself, read back when it can be (docs/reconcile.md#keys-never-go-missing)."""

    deliver: Deliver
    sink: str
    target: Any = None  # the parsed sink
    server_url: str = ""
    user_id: int | None = None  # the account the keys belong to, recorded in the sink
    origin: str = ""  # the server's lasting name in the sink (Connection.origin)
    # (former key name, new key name) of keys moved as they were delivered (renamed_from,
    # a changed key_name): the old entry left the sink (docs/sinks.md#moved-keys)
    moved: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the sink could not tidy

    @property
    def readable(self) -> bool:
        from provisioner.keystore.sink_state import readable

        return self.target is not None and readable(self.target)

    def held(self, key_names: Iterable[str]) -> dict[str, KeyPrint | None] | None:
        """First and last 4 of each key the sink holds (None: missing); None if unreadable."""
        from provisioner.keystore.sink_state import read_keys

        if not self.readable:
            return None
        try:
            keys = read_keys(self.target, key_names, self.server_url)
        except (OSError, ValueError) as exc:
            raise ProvisionerError(f"cannot read the key sink {self.sink}: {exc}") from None
        if keys is None:
            return None
        return {
            name: None if key is None else key_print(key.reveal()) for name, key in keys.items()
        }

    def foreign(self, key_names: Iterable[str]) -> dict[str, str]:
        """Key names the sink holds for another server or account, with why a write there is
        refused (docs/sinks.md#one-sink-one-server); empty for a sink that cannot be read."""
        from provisioner.keystore.sink_state import foreign_keys
        from provisioner.keystore.sinks import Origin, other_server_refusal

        if not self.readable:
            return {}
        wanted = Origin(self.origin or self.server_url, self.user_id)
        try:
            held = foreign_keys(self.target, key_names, wanted, self.server_url)
        except (OSError, ValueError) as exc:
            raise ProvisionerError(f"cannot read the key sink {self.sink}: {exc}") from None
        return {
            name: other_server_refusal(self.sink, name, origin, wanted)
            for name, origin in held.items()
        }

    def forget(self, prints: Mapping[str, KeyPrint | None]) -> list[str]:
        """Remove the keys of deleted tokens from the sink; the key names removed."""
        from provisioner.keystore.sink_state import forget_keys

        if not self.readable:
            return []
        return forget_keys(self.target, prints, self.server_url)


def _stderr_warning(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def usable_sink(
    sink_text: str,
    *,
    output: str = "text",
    spec_path: str | None = None,
    warn: Callable[[str], None] | None = _stderr_warning,
) -> Sink:
    """Parse the sink and refuse (exit 64) a place keys must not go; warn about a risky one.

    Needs no server, so a command calls it before it sends anything:
    ``stdout`` only with ``--output text`` (keys never mix into JSON or
    Markdown); a dotenv or json file that is something else (the spec, a
    ``.yaml``, a file with other content); a sink file git would commit gets a
    warning (docs/sinks.md#key-sinks-where-new-keys-go).
    """
    from provisioner.keystore.sinks import (
        FileSink,
        KeyringSink,
        StdoutSink,
        git_warning,
        parse_sink,
        stdout_refusal,
    )

    try:
        sink = parse_sink(sink_text)
    except ValueError as exc:
        raise UsageError(f"key sink: {exc}") from None
    if isinstance(sink, StdoutSink) and output != "text":
        raise UsageError(stdout_refusal("key sink stdout", output))
    if isinstance(sink, KeyringSink):
        # a plaintext or null backend is refused before anything is sent (docs/sinks.md)
        from provisioner.keystore import keyring_store

        try:
            keyring_store.backend_name(timeout=sink.timeout)
        except keyring_store.InsecureKeyringError as exc:
            raise UsageError(f"key sink keyring: {exc.reason}") from None
        except keyring_store.KeyringUnavailableError:
            pass  # no keyring at all: each delivery reports it, with the alternatives
    if isinstance(sink, FileSink):
        if spec_path and spec_path != "-":
            sink.spec_path = Path(spec_path)
        problem = sink.check_target()
        if problem:
            raise UsageError(f"key sink {sink.description}: {problem}")
        if warn is not None:
            warning = git_warning(sink.path)
            if warning:
                warn(warning)
    return sink


def make_delivery(
    sink_text: str | None,
    conn: Source,
    *,
    output: str = "text",
    spec_path: str | None = None,
    warn: Callable[[str], None] | None = _stderr_warning,
) -> Delivery | None:
    """The configured delivery of keys from ``conn``'s server, or None when no sink is
    configured.

    The connection's credential is kept out of an ``exec:`` sink's environment (any
    variable holding it). ``output``, ``spec_path`` and ``warn``: see
    :func:`usable_sink` (raises :class:`UsageError`). ``{host}`` in a file sink's
    path becomes the server's host; the account (its user id) is recorded with each
    key, next to the server's lasting name (docs/sinks.md#one-sink-one-server).
    """
    if not sink_text:
        return None
    from provisioner.cli.workflow import add_mask
    from provisioner.keystore.keyring_store import KeyringUnavailableError
    from provisioner.keystore.sink_state import move_former_names
    from provisioner.keystore.sinks import ExecSink, FileSink, KeyDelivery

    server_url, user_id, origin = conn.url, conn.info.user_id, conn.origin
    sink = usable_sink(sink_text, output=output, spec_path=spec_path, warn=warn)
    if isinstance(sink, ExecSink):
        sink.credential = conn.credential
    if isinstance(sink, FileSink):
        sink.for_server(origin)

    def deliver(batch: list[tuple[str, str, Secret]]) -> dict[str, str]:
        # Under GitHub Actions, mask every key (on stderr) before anything else is printed.
        add_mask([key for _, _, key in batch])
        items = [
            KeyDelivery(name, key_name, key, server_url, user_id, origin)
            for name, key_name, key in batch
        ]
        results = sink.deliver(items)
        done = [item for item, result in zip(items, results, strict=True) if result.ok]
        try:
            moved.extend(move_former_names(sink, done))
        except (OSError, ValueError, KeyringUnavailableError) as exc:
            notes.append(
                f"the former key names of delivered keys stay in {sink.description}: {exc}"
            )
        return {r.name: r.error or "delivery failed" for r in results if not r.ok}

    moved: list[tuple[str, str]] = []
    notes: list[str] = []
    return Delivery(deliver, sink.description, sink, server_url, user_id, origin, moved, notes)
