"""What a key sink already holds: keys read back, and keys of deleted tokens forgotten.

Readable sinks (dotenv, json, keyring) let plan compare the sink with the
server (docs/reconcile.md#keys-never-go-missing): a key missing from the sink,
or a different one, becomes a ``deliver`` action. ``exec`` and ``stdout`` cannot
be read back; for them the report keeps printing the ``reveal`` command.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path

from provisioner.plan.model import KeyPrint, key_print
from provisioner.secret import Secret
from provisioner.secrets.sinks import (
    _DOTENV_LINE,
    _ORIGIN_COMMENT,
    JSON_ORIGINS,
    DotenvSink,
    JsonSink,
    KeyringSink,
    Origin,
    Sink,
    _atomic_write,
    _read_existing,
    keyring_origin,
    origin_entry,
    read_dotenv,
)


def readable(sink: Sink) -> bool:
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
        from provisioner.secrets import keyring_store

        service = keyring_store.service_name(server_url)
        return {n: keyring_store.get_secret(service, n, timeout=sink.timeout) for n in names}
    if isinstance(sink, DotenvSink | JsonSink):
        values = _file_values(sink)
        return {n: Secret(values[n]) if values.get(n) else None for n in names}
    return None


def _file_values(sink: DotenvSink | JsonSink) -> dict[str, str]:
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


def foreign_keys(sink: Sink, key_names: Iterable[str], origin: Origin) -> dict[str, Origin]:
    """The key names under which the sink holds a key of another server or account, with
    that key's origin; keys with no origin recorded (written by 0.2) are adopted, not foreign.
    """
    names = list(dict.fromkeys(key_names))
    if isinstance(sink, KeyringSink):
        from provisioner.secrets import keyring_store

        service = keyring_store.service_name(origin.server)
        recorded = {n: keyring_origin(service, n, timeout=sink.timeout) for n in names}
    elif isinstance(sink, DotenvSink | JsonSink):
        recorded = sink.origins(_read_existing(sink.path)) if sink.path.exists() else {}
    else:
        return {}
    return {
        name: held
        for name in names
        if (held := recorded.get(name)) is not None and not held.same_as(origin)
    }


def forget_keys(sink: Sink, prints: Mapping[str, KeyPrint], server_url: str) -> list[str]:
    """Remove the keys of deleted tokens; returns the key names removed.

    Only a key whose first and last 4 characters are the deleted token's is
    removed: a name reused by another token keeps its key.
    """
    held = read_keys(sink, prints, server_url)
    if not held:
        return []
    doomed = sorted(
        name
        for name, key in held.items()
        if key is not None and prints[name] is not None and key_print(key.reveal()) == prints[name]
    )
    if not doomed:
        return []
    if isinstance(sink, KeyringSink):
        from provisioner.secrets import keyring_store

        service = keyring_store.service_name(server_url)
        for name in doomed:
            keyring_store.delete_secret(service, name, timeout=sink.timeout)
            keyring_store.delete_secret(service, origin_entry(name), timeout=sink.timeout)
        return doomed
    assert isinstance(sink, DotenvSink | JsonSink)
    text = _read_existing(sink.path) or ""
    if isinstance(sink, JsonSink):
        data = json.loads(text)
        origins = data.get(JSON_ORIGINS)
        for name in doomed:
            data.pop(name, None)
            if isinstance(origins, dict):
                origins.pop(name, None)
        if isinstance(origins, dict) and not origins:
            data.pop(JSON_ORIGINS)
        _atomic_write(
            sink.path, json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        )
    else:
        kept = []
        for line in text.splitlines():
            note = _ORIGIN_COMMENT.match(line)
            match = None if line.lstrip().startswith("#") else _DOTENV_LINE.match(line)
            if (match and match.group(1) in doomed) or (note and note.group(1) in doomed):
                continue
            kept.append(line)
        _atomic_write(Path(sink.path), "\n".join(kept) + ("\n" if kept else ""))
    return doomed
