"""What a key sink already holds: keys read back, and keys of deleted tokens forgotten.

Readable sinks (dotenv, json, keyring) let plan compare the sink with the
server (docs/reconcile.md#keys-never-go-missing): a key missing from the sink,
or a different one, becomes a ``deliver`` action. ``exec`` and ``stdout`` cannot
be read back; for them the report keeps printing the ``reveal`` command.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import TypeGuard

from provisioner.keystore.sinks import (
    DotenvSink,
    JsonSink,
    KeyDelivery,
    KeyringSink,
    Origin,
    Sink,
    _read_existing,
    read_dotenv,
)
from provisioner.plan.model import KeyPrint, key_print
from provisioner.secret import Secret


def readable(sink: Sink) -> TypeGuard[DotenvSink | JsonSink | KeyringSink]:
    return isinstance(sink, DotenvSink | JsonSink | KeyringSink)


def read_keys(
    sink: Sink, key_names: Iterable[str], server_url: str
) -> dict[str, Secret | None] | None:
    """The key the sink holds under each name (None: none), or None for a sink that cannot be read.

    A file that does not exist yet holds nothing. A file that cannot be read or
    parsed raises ``ValueError``/``OSError`` with a message for people.
    """
    names = list(dict.fromkeys(key_names))
    if isinstance(sink, KeyringSink):
        from provisioner.keystore import keyring_store

        service = keyring_store.service_name(server_url)
        return {n: keyring_store.get_secret(service, n, timeout=sink.timeout) for n in names}
    if isinstance(sink, DotenvSink | JsonSink):
        values = _file_values(sink)
        return {n: Secret(values[n]) if values.get(n) else None for n in names}
    return None


def _file_values(sink: DotenvSink | JsonSink, text: str | None = None) -> dict[str, str]:
    """The string members of the sink's file (its ``text`` when already read)."""
    if text is None:
        text = _read_existing(sink.path)
    if not text or not text.strip():
        return {}
    if isinstance(sink, DotenvSink):
        return read_dotenv(text)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{sink.path} is not valid JSON (line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{sink.path} holds JSON that is not an object")
    return {str(k): v for k, v in data.items() if isinstance(v, str)}


def foreign_keys(
    sink: Sink, key_names: Iterable[str], origin: Origin, server_url: str
) -> dict[str, Origin]:
    """The key names under which the sink holds a key of another server or account, with
    that key's origin; keys with no origin recorded (written by 0.2) are adopted, not foreign.
    ``server_url`` is the URL keys are delivered from (a keyring's service), ``origin``
    the server and account they are recorded for.
    """
    names = list(dict.fromkeys(key_names))
    if not readable(sink):
        return {}
    recorded = sink.recorded_origins(names, server_url=server_url)
    return {
        name: held
        for name in names
        if (held := recorded.get(name)) is not None and not held.same_as(origin)
    }


def forget_keys(sink: Sink, prints: Mapping[str, KeyPrint | None], server_url: str) -> list[str]:
    """Remove the keys of deleted tokens; returns the key names removed.

    Only a key whose first and last 4 characters are the deleted token's is
    removed: a name reused by another token keeps its key.
    """
    held = read_keys(sink, prints, server_url)
    if not held or not readable(sink):
        return []
    doomed = sorted(
        name
        for name, key in held.items()
        if key is not None and prints[name] is not None and key_print(key.reveal()) == prints[name]
    )
    if not doomed:
        return []
    sink.remove(doomed, server_url=server_url)
    return doomed


def move_former_names(sink: Sink, delivered: Iterable[KeyDelivery]) -> list[tuple[str, str]]:
    """After keys were delivered under their key names, remove the names they had before.

    A token renamed (``renamed_from``) or given another ``key_name`` gets its key delivered
    under the new name; the old entry is left behind. An entry is such a former name only
    when it holds that very key (compared whole) and the sink records that provisioner wrote
    it for the same server and account: a copy the user made by hand stays. A file sink is
    searched whole; a keyring cannot be listed, so there only the name derived from the
    token's former name is looked at (docs/sinks.md#moved-keys). Returns ``(old, new)`` pairs.
    """
    items = [item for item in delivered if item.key.reveal()]
    if not items or not readable(sink):
        return []
    moved: dict[str, str] = {}
    server_url = items[0].server_url
    text: str | None = None  # a file sink's, read once
    if isinstance(sink, KeyringSink):
        from provisioner.keystore import keyring_store
        from provisioner.spec.desired import derive_key_name

        service = keyring_store.service_name(server_url)
        for item in items:
            former = derive_key_name(item.name)
            if former == item.key_name or former in moved:
                continue
            held = keyring_store.get_secret(service, former, timeout=sink.timeout)
            origin = sink.recorded_origins([former], server_url=server_url).get(former)
            same_key = held is not None and held.reveal() == item.key.reveal()
            if same_key and origin is not None and origin.same_as(item.origin):
                moved[former] = item.key_name
    else:
        assert isinstance(sink, DotenvSink | JsonSink)
        text = _read_existing(sink.path)
        if not text or not text.strip():
            return []
        values = _file_values(sink, text)
        origins = sink.recorded_origins(values, text=text)
        delivered_names = {item.key_name for item in items}
        for item in items:
            for name, value in values.items():
                if name in delivered_names or name in moved or value != item.key.reveal():
                    continue
                recorded = origins.get(name)
                if recorded is not None and recorded.same_as(item.origin):
                    moved[name] = item.key_name
    if moved:
        sink.remove(sorted(moved), server_url=server_url, text=text)
    return sorted(moved.items())
