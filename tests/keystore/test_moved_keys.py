"""A key delivered under a new key name leaves its former name (secrets/sink_state.py).

``renamed_from`` or a changed ``key_name`` delivers the same key under another name; the
entry under the former name goes, but only where the sink holds that very key and records
that provisioner wrote it for the same server and account.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from keyhelpers import KEY, KEY2, RecordingKeyring

from provisioner.keystore.sink_state import move_former_names
from provisioner.keystore.sinks import (
    DotenvSink,
    JsonSink,
    KeyDelivery,
    KeyringSink,
    read_dotenv,
)

URL = "https://api.example.com"
OTHER_URL = "https://staging.example.com"


def delivery(name: str, key_name: str, key=KEY, url: str = URL) -> KeyDelivery:  # type: ignore[no-untyped-def]
    return KeyDelivery(name, key_name, key, url, 7)


@pytest.mark.parametrize("sink_type", [DotenvSink, JsonSink])
def test_a_renamed_key_leaves_its_former_name(tmp_path: Path, sink_type: type) -> None:
    sink = sink_type(tmp_path / "keys.file")
    assert all(r.ok for r in sink.deliver([delivery("old", "OLD"), delivery("b", "B", KEY2)]))
    new = delivery("new", "NEW")
    assert sink.deliver([new])[0].ok
    assert move_former_names(sink, [new]) == [("OLD", "NEW")]
    text = (tmp_path / "keys.file").read_text()
    assert "OLD" not in text  # the entry and its origin record
    values = read_dotenv(text) if sink_type is DotenvSink else json.loads(text)
    assert values["NEW"] == KEY.reveal() and values["B"] == KEY2.reveal()
    assert move_former_names(sink, [new]) == []  # nothing left to move


def test_only_entries_provisioner_wrote_for_this_server_and_account(tmp_path: Path) -> None:
    path = tmp_path / "keys.env"
    sink = DotenvSink(path)
    assert sink.deliver([delivery("a", "FROM_STAGING", url=OTHER_URL)])[0].ok
    assert sink.deliver([KeyDelivery("a", "OTHER_ACCOUNT", KEY, URL, 8)])[0].ok
    with path.open("a") as handle:
        handle.write(f"HAND_COPY={KEY.reveal()}\n")  # a copy made by hand: no origin
    assert sink.deliver([delivery("b", "OTHER_KEY", KEY2)])[0].ok  # another key
    new = delivery("a", "NEW")
    assert sink.deliver([new])[0].ok
    assert move_former_names(sink, [new]) == []
    assert set(read_dotenv(path.read_text())) == {
        "FROM_STAGING",
        "OTHER_ACCOUNT",
        "HAND_COPY",
        "OTHER_KEY",
        "NEW",
    }


def test_keys_delivered_together_never_remove_each_other(tmp_path: Path) -> None:
    sink = DotenvSink(tmp_path / "keys.env")
    both = [delivery("a", "A"), delivery("a2", "A_ALIAS")]  # the same key under two names
    assert all(r.ok for r in sink.deliver(both))
    assert move_former_names(sink, both) == []


def test_keyring_looks_at_the_name_derived_from_the_former_name(use_backend) -> None:  # type: ignore[no-untyped-def]
    backend = use_backend(RecordingKeyring())
    sink = KeyringSink()
    assert sink.deliver([delivery("old-name", "OLD_NAME")])[0].ok
    moved = delivery("old-name", "NEW_NAME")  # a deliver action carries the server's name
    assert sink.deliver([moved])[0].ok
    assert move_former_names(sink, [moved]) == [("OLD_NAME", "NEW_NAME")]
    service = "provisioner:https://api.example.com"
    assert (service, "OLD_NAME") not in backend.store
    assert backend.store[(service, "NEW_NAME")] == KEY.reveal()


def test_unreadable_sinks_move_nothing(tmp_path: Path) -> None:
    from provisioner.keystore.sinks import StdoutSink

    assert move_former_names(StdoutSink(), [delivery("a", "A")]) == []
    assert move_former_names(DotenvSink(tmp_path / "none.env"), [delivery("a", "A")]) == []


@pytest.mark.parametrize("sink_type", [DotenvSink, JsonSink])
def test_a_delivery_and_its_move_read_the_file_once_each(
    tmp_path: Path, sink_type: type, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The target check, the recorded origins and the merge share one read; the values, the
    origins and the removal of former names another."""
    sink = sink_type(tmp_path / "keys.file")
    assert sink.deliver([delivery("old", "OLD")])[0].ok
    reads: list[Path] = []
    real = Path.read_text

    def counted(path: Path, *args: object, **kw: object) -> str:
        reads.append(path)
        return real(path, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "read_text", counted)
    new = delivery("new", "NEW")
    assert sink.deliver([new])[0].ok
    assert reads == [sink.path]
    assert move_former_names(sink, [new]) == [("OLD", "NEW")]
    assert reads == [sink.path, sink.path]
