"""The spec's share of "safe by default": key names, echoes, stdin, the token cap, sinks."""

from __future__ import annotations

import hashlib
import io
import sys

import pytest

from provisioner.spec import SpecError, derive_key_name, load_spec, load_spec_text
from provisioner.spec.diagnostics import Diagnostic, clip_echoes

NOW = 1767225600


def _hash(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:8].upper()


@pytest.mark.parametrize(
    ("name", "key_name"),
    [
        ("sora-video-api", "SORA_VIDEO_API"),
        ("2024-report", "T_2024_REPORT"),
        ("视频api", "API"),
        ("视频生成接口", f"TOKEN_{_hash('视频生成接口')}"),
        ("2024", f"TOKEN_{_hash('2024')}"),
        ("---", f"TOKEN_{_hash('---')}"),
    ],
)
def test_derived_key_names(name: str, key_name: str) -> None:
    assert derive_key_name(name) == key_name


def test_copies_of_a_name_without_letters_follow_the_suffix_rule() -> None:
    spec = load_spec_text(
        "version: 1\ntokens:\n  - name: 视频生成接口\n    count: 3\n  - name: 图片生成接口\n",
        "t.yaml",
        now=NOW,
    )
    video = f"TOKEN_{_hash('视频生成接口')}"
    assert [t.key_name for t in spec.tokens] == [
        video,
        f"{video}_2",
        f"{video}_3",
        f"TOKEN_{_hash('图片生成接口')}",
    ]


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("short 'value' kept", "short 'value' kept"),
        ("name '" + "a" * 70 + "' is bad", "name '" + "a" * 60 + "...' is bad"),
        ('name "' + "b c" * 30 + '" is bad', 'name "' + ("b c" * 30)[:60] + '..." is bad'),
        ("quota " + "9" * 100 + " is too big", "quota " + "9" * 60 + "... is too big"),
    ],
)
def test_diagnostics_cut_what_they_echo(message: str, expected: str) -> None:
    assert clip_echoes(message) == expected
    assert Diagnostic("f", 1, 1, message).message == expected


def test_a_diagnostic_never_grows_past_a_thousand_characters() -> None:
    words = " ".join(["word"] * 1000)
    assert len(Diagnostic("f", 1, 1, words).message) <= 1003


def test_spec_from_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    data = b"version: 1\ntokens:\n  - name: a\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    spec = load_spec("-", now=NOW)
    assert spec.path == "<stdin>" and [t.name for t in spec.tokens] == ["a"]
    assert spec.digest == hashlib.sha256(data).hexdigest()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"version: 2\ntokens: []\n")))
    with pytest.raises(SpecError) as caught:
        load_spec("-", now=NOW)
    assert str(caught.value.diagnostics[0]).startswith("<stdin>:1:10: version 2")


def test_server_max_tokens() -> None:
    plain = load_spec_text("version: 1\ntokens: []\n", "t.yaml", now=NOW)
    assert plain.max_tokens is None
    text = "version: 1\nserver: {max_tokens: 3}\ntokens:\n  - name: a\n    count: 4\n"
    spec = load_spec_text(text, "t.yaml", now=NOW)
    assert spec.max_tokens == 3
    (warning,) = spec.warnings
    assert warning.startswith("t.yaml:3:1: the file declares 4 tokens (after count), more than 3")
    assert "server.max_tokens in this file" in warning


@pytest.mark.parametrize("value", ["0", "-1", "'1000'", "1.5", "true"])
def test_server_max_tokens_must_be_a_positive_whole_number(value: str) -> None:
    with pytest.raises(SpecError, match=r"server\.max_tokens must be a whole number >= 1"):
        load_spec_text(f"version: 1\nserver: {{max_tokens: {value}}}\ntokens: []\n", "t.yaml")


def test_rotate_with_a_sink_is_valid_and_a_broken_sink_is_reported_once() -> None:
    ok = "version: 1\nkeys: {to: keyring}\ntokens:\n  - name: a\n    rotate: {every: 30d}\n"
    assert load_spec_text(ok, "t.yaml", now=NOW).tokens[0].rotate is not None
    broken = ok.replace("keyring", "nowhere")
    with pytest.raises(SpecError) as caught:
        load_spec_text(broken, "t.yaml", now=NOW)
    assert [d.message.split(":")[0] for d in caught.value.diagnostics] == [
        "unknown key sink 'nowhere'"
    ]


@pytest.mark.parametrize("status", ["enabled", "disabled", "absent"])
def test_a_passed_date_is_a_warning_for_every_status(status: str) -> None:
    text = f"version: 1\ntokens:\n  - name: a\n    expires: 2020-01-01\n    status: {status}\n"
    (warning,) = load_spec_text(text, "t.yaml", now=NOW).warnings
    assert "expiry 2020-01-01 (2020-01-01T00:00:00Z) has passed" in warning


def test_a_passed_date_in_defaults_warns_once() -> None:
    text = "version: 1\ndefaults: {expires: 2020-01-01}\ntokens:\n  - name: a\n  - name: b\n"
    (warning,) = load_spec_text(text, "t.yaml", now=NOW).warnings
    assert warning.startswith("t.yaml:2:21: defaults: expiry 2020-01-01")


def test_the_readme_example_is_valid_and_its_protected_token_can_rotate() -> None:
    import re
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```yaml\n(.+?)```", readme, re.S) if "tokens:" in b)
    spec = load_spec_text(block, "README.md", now=NOW)
    assert spec.warnings == () and spec.keys_to  # rotate needs a sink, and it has one
    protected = [t for t in spec.tokens if t.protected]
    assert protected and all(t.rotate is not None for t in protected)
