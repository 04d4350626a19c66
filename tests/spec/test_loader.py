"""What the loader builds: the desired model, field by field."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from provisioner.spec import (
    Budget,
    Expiry,
    SpecError,
    load_spec,
    load_spec_text,
    parse_duration,
)
from provisioner.spec.fields import duration_text

HERE = Path(__file__).parent
NOW = 1767225600


def tokens(text: str):
    return load_spec_text("version: 1\ntokens:\n" + text, "t.yaml", now=NOW).by_name()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("30m", 1800),
        ("12h", 43200),
        ("7d", 604800),
        ("4w", 2419200),
        ("30d", 2592000),
        ("1y", 365 * 86400),
        ("0s", 0),
    ],
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(604800, "7d"), (43200, "12h"), (1800, "30m"), (45, "45s"), (90, "90s"), (0, "0s")],
)
def test_duration_text(seconds: int, text: str) -> None:
    assert duration_text(seconds) == text
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "7", "d", "7 d", "1.5h", "-1d", "7D", "7days", "101y"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("value", "budget"),
    [
        ("unlimited", Budget(True)),
        ("10 USD", Budget(False, usd=Decimal("10"))),
        ("10.5 usd", Budget(False, usd=Decimal("10.5"))),
        ("$10", Budget(False, usd=Decimal("10"))),
        ("5000000", Budget(False, units=5000000)),
        ("1", Budget(False, units=1)),
        ("2147500000", Budget(False, units=2_147_500_000)),  # each server's cap: at plan time
    ],
)
def test_quota(value: str, budget: Budget) -> None:
    assert tokens(f"  - name: a\n    quota: {value}\n")["a"].quota == budget


@pytest.mark.parametrize("value", ["0", "0 USD", '"$0"', "0.0 usd", "0.000001 USD"])
def test_a_zero_budget_is_refused_with_the_way_to_switch_a_token_off(value: str) -> None:
    with pytest.raises(SpecError) as caught:
        load_spec_text(f"version: 1\ntokens:\n  - name: a\n    quota: {value}\n", "t.yaml")
    (diagnostic,) = caught.value.diagnostics
    assert (diagnostic.line, diagnostic.col) == (4, 12)
    assert "can never make a call" in diagnostic.message
    assert "status: disabled" in diagnostic.message


def test_usd_resolves_at_plan_time() -> None:
    budget = tokens("  - name: a\n    quota: 20 USD\n")["a"].quota
    assert budget.resolve(500000) == 10_000_000
    assert budget.resolve(1000) == 20_000


@pytest.mark.parametrize(
    ("value", "expiry"),
    [
        ("never", Expiry("never")),
        ("90d", Expiry("relative", seconds=90 * 86400)),
        ("2027-01-01", Expiry("absolute", at=1798761600)),
        ('"2027-01-01"', Expiry("absolute", at=1798761600)),
        ("2027-01-01T00:00:00Z", Expiry("absolute", at=1798761600)),
        ("2027-01-01T08:00:00+08:00", Expiry("absolute", at=1798761600)),
        ("2027-01-01 08:00", Expiry("absolute", at=1798761600 + 8 * 3600)),
    ],
)
def test_expiry(value: str, expiry: Expiry) -> None:
    assert tokens(f"  - name: a\n    expires: {value}\n")["a"].expires == expiry


def test_past_expiry_is_a_warning_that_depends_on_now() -> None:
    text = "version: 1\ntokens:\n  - name: a\n    expires: 2027-01-01\n"
    assert load_spec_text(text, "t.yaml", now=1798761600 - 1).warnings == ()
    (warning,) = load_spec_text(text, "t.yaml", now=1798761600).warnings
    assert (
        warning.startswith("t.yaml:4:14: token 'a': expiry 2027-01-01") and "has passed" in warning
    )


def test_count_and_key_names() -> None:
    spec = tokens("  - name: ci\n    count: 3\n    key_name: CI_KEY\n  - name: sora-video-api\n")
    assert [spec[n].key_name for n in ("ci", "ci-2", "ci-3")] == ["CI_KEY", "CI_KEY_2", "CI_KEY_3"]
    assert spec["ci-3"].index == 3 and spec["ci-3"].count == 3 and spec["ci-3"].base_name == "ci"
    assert spec["sora-video-api"].key_name == "SORA_VIDEO_API"


def test_defaults_merge_token_wins() -> None:
    spec = load_spec_text(
        "version: 1\ndefaults:\n  quota: 5 USD\n  expires: 30d\n  group: auto\n"
        "  auto_groups: [vip]\ntokens:\n  - name: a\n  - name: b\n    quota: unlimited\n"
        "    group: default\n",
        "t.yaml",
        now=NOW,
    ).by_name()
    assert spec["a"].quota == Budget(False, usd=Decimal(5))
    assert spec["a"].auto_groups == ("vip",)
    assert spec["b"].quota == Budget(True)
    assert spec["b"].expires == Expiry("relative", seconds=30 * 86400)
    assert spec["b"].auto_groups is None  # inherited auto-only fields do not apply


def test_sections() -> None:
    spec = load_spec(HERE / "good" / "full.yaml", now=NOW)
    assert spec.server_url == "https://api.example.com"
    assert spec.manage.match == ("video-*", "ci-?") and spec.manage.orphans == "disable"
    assert spec.safety.max_deletes == 0 and spec.safety.max_changes_pct == 12.5
    assert spec.safety.min_idle == 0
    assert spec.keys_to.startswith("exec:")
    token = spec.by_name()["storyboard-video"]
    assert token.rotate is not None and token.rotate.overlap == 7 * 86400
    assert token.allow_ips == ("203.0.113.7", "10.0.0.0/8", "::1", "2001:db8::/32")
    assert token.protected and token.cross_group_retry and token.auto_groups == ("default", "vip")
    assert len(spec.digest) == 64


def test_missing_file_and_directory(tmp_path: Path) -> None:
    for path, message in ((tmp_path / "nope.yaml", "no such file"), (tmp_path, "is a directory")):
        with pytest.raises(SpecError) as caught:
            load_spec(path)
        assert message in caught.value.diagnostics[0].message


def test_all_errors_reported_at_once() -> None:
    with pytest.raises(SpecError) as caught:
        load_spec(HERE / "bad" / "many_errors.yaml", now=NOW)
    assert len(caught.value.diagnostics) == 4


def test_plain_yaml_round_trip() -> None:
    """A spec written by yaml.safe_dump with the plain types the loader accepts loads back."""
    import datetime

    import yaml

    document = {
        "version": 1,
        "manage": {"match": ["video-*"], "orphans": "keep"},
        "safety": {"max_deletes": 5, "max_changes_pct": 30, "min_idle": "1h"},
        "keys": {"to": "dotenv:.provisioner/keys.env"},
        "tokens": [
            {"name": "a", "expires": "2027-01-01", "quota": "$10", "group": ""},
            {"name": "b", "expires": datetime.date(2027, 1, 1), "quota": 5000000, "count": 2},
            {
                "name": "c",
                "expires": "2027-01-01T08:00:00+08:00",
                "quota": "10.5 USD",
                "group": "auto",
                "auto_groups": ["default", "vip"],
                "cross_group_retry": True,
                "models": ["gpt-4o"],
                "allow_ips": ["10.0.0.0/8", "::1"],
                "protected": True,
                "rotate": {"every": "90d", "overlap": "7d"},
                "key_name": "C_KEY",
                "status": "disabled",
            },
        ],
    }
    for flow in (False, True, None):
        text = yaml.safe_dump(document, default_flow_style=flow, allow_unicode=True)
        spec = load_spec_text(text, "dumped.yaml", now=NOW).by_name()
        assert spec["a"].expires == spec["b"].expires == Expiry("absolute", at=1798761600)
        assert spec["c"].expires == Expiry("absolute", at=1798761600)
        assert spec["b-2"].quota == Budget(False, units=5000000)
        assert spec["c"].quota == Budget(False, usd=Decimal("10.5"))


def test_rotate_overlap_defaults_to_a_day_or_half_of_every() -> None:
    from provisioner.spec import load_spec_text

    spec = load_spec_text(
        "version: 1\nkeys: {to: keyring}\ntokens:\n"
        "  - name: a\n    rotate: {every: 90d}\n"
        "  - name: b\n    rotate: {every: 12h}\n"
        "  - name: c\n    rotate: {every: 30d, overlap: 0s}\n",
        "t.yaml",
    )
    assert [t.rotate.overlap for t in spec.tokens if t.rotate] == [86400, 6 * 3600, 0]


def test_many_duplicate_names_parse_the_file_for_places_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A list pasted twice: one error per copy, the item places read once per load."""
    import provisioner.spec.loader as loader_module

    calls: list[str] = []
    real = loader_module.list_items

    def counting(text: str, key: str):
        calls.append(key)
        return real(text, key)

    monkeypatch.setattr(loader_module, "list_items", counting)
    once = "".join(f"  - &t{i} {{name: tok-{i}}}\n" for i in range(200))
    again = "".join(f"  - {{name: tok-{i}}}\n" for i in range(100))
    aliases = "".join(f"  - *t{i}\n" for i in range(100, 200))
    with pytest.raises(SpecError) as caught:
        load_spec_text("version: 1\ntokens:\n" + once + again + aliases, "t.yaml", now=NOW)
    messages = [d.message for d in caught.value.diagnostics]
    assert len(messages) == 200
    assert messages[0] == "duplicate token name 'tok-0': already declared at line 3"
    assert messages[150] == (
        "duplicate token name 'tok-150' (the alias *t150 repeats the token at line 153): "
        "already declared at line 153"
    )
    assert calls == ["tokens"]
