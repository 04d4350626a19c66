"""The list renderers: a table that fits the width, JSON shape, Markdown."""

from __future__ import annotations

import json

from provisioner.listing.findings import build_listing
from provisioner.observed import ObservedToken
from provisioner.render.listing import listing_json, render_markdown, render_text
from provisioner.render.plan import Header
from provisioner.render.style import Style
from provisioner.render.width import width as columns

NOW = 1_800_000_000
DAY = 86400
QPU = 500_000
HEAD = Header(file="", url="http://127.0.0.1:3000", version="v1", user="root (#1)")


def _tokens() -> list[ObservedToken]:
    return [
        ObservedToken(
            id=1,
            name="a-rather-long-token-name-for-the-video-pipeline",
            key="abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKL",
            created_time=NOW - 10 * DAY,
            accessed_time=NOW - 3 * DAY,
            expired_time=NOW + 12 * DAY,
            remain_quota=3 * QPU,
            used_quota=QPU,
            group="vip",
        ),
        ObservedToken(
            id=2, name="wild", unlimited_quota=True, created_time=NOW - DAY, key="k" * 48
        ),
    ]


def _text(width: int | None) -> str:
    listing = build_listing(_tokens(), NOW)
    return render_text(listing, HEAD, QPU, Style(False), width)


def test_wide_table_has_every_column() -> None:
    text = _text(None)
    header = next(line for line in text.splitlines() if line.startswith("NAME"))
    assert header.split() == [
        "NAME", "ID", "STATUS", "GROUP", "USED", "REMAINING", "USED%", "UNITS",
        "EXPIRES", "CREATED", "LAST", "USED", "KEY",
    ]  # fmt: skip
    row = next(line for line in text.splitlines() if line.startswith("a-rather"))
    for cell in ("vip", "$1.00", "$3.00", "25%", "500,000/2,000,000", "(in 12 days)",
                 "3 days ago", "sk-abcd...IJKL"):  # fmt: skip
        assert cell in row
    wild = next(line for line in text.splitlines() if line.startswith("wild"))
    assert "unlimited" in wild and "never" in wild and "0/unlimited" in wild


def test_narrow_terminal_drops_columns_and_shortens_names() -> None:
    for width in (60, 80, 100, 120):
        text = _text(width)
        table = [line for line in text.splitlines() if line.startswith(("NAME", "a-", "wild"))]
        assert all(len(line) <= width for line in table), (width, table)
        assert "STATUS" in table[0] and "ID" in table[0]
    narrow = _text(60)
    assert "KEY" not in narrow and "CREATED" not in narrow
    assert "…" in narrow  # the long name was shortened
    assert "Findings:" in narrow and "unlimited-no-expiry" in narrow


def test_json_shape() -> None:
    listing = build_listing(_tokens(), NOW)
    data = listing_json(listing, HEAD, QPU, spec_file=None, fail_on=("never-used",))
    assert list(data) == [
        "schema_version", "kind", "server", "file", "now", "quota_per_unit", "thresholds",
        "tokens", "findings", "summary", "fail_on", "failed",
    ]  # fmt: skip
    assert data["failed"] is True and data["fail_on"] == ["never-used"]
    token = data["tokens"][0]
    assert list(token) == [
        "name", "id", "status", "listed_status", "ownership", "group", "unlimited",
        "used_quota", "remain_quota", "budget_quota", "used_usd", "remain_usd", "budget_usd",
        "used_pct", "expired_time", "expires", "expires_in", "created_time", "created",
        "last_used_time", "last_used", "key",
    ]  # fmt: skip
    assert token["budget_usd"] == 4.0 and token["expires_in"] == 12 * DAY
    assert token["key"] == "sk-abcd...IJKL"
    assert data["thresholds"] == {
        "stale_after": 30 * DAY,
        "expiring_within": 7 * DAY,
        "budget_above": 90.0,
    }
    json.dumps(data)  # serialisable as is


def test_markdown_escapes_pipes() -> None:
    tokens = [ObservedToken(id=9, name="a|b", created_time=NOW - DAY, remain_quota=1)]
    text = render_markdown(build_listing(tokens, NOW), HEAD, QPU)
    assert "| `a\\|b` | 9 |" in text and "#### Findings" in text


def test_empty_account_and_empty_filter() -> None:
    assert "No tokens." in render_text(build_listing([], NOW), HEAD, QPU, Style(False))
    filtered = build_listing(_tokens(), NOW, globs=("zzz",))
    text = render_text(filtered, HEAD, QPU, Style(False))
    assert "No tokens match the filters." in text and "0 of 2 tokens" in text


WIDE_NAMES = ["令牌-视频", "🚀-rocket", "ＦＵＬＬ-width", "zero\u200bwidth", "café", "plain"]


def test_table_aligns_wide_and_zero_width_names() -> None:
    tokens = [
        ObservedToken(id=100 + i, name=name, created_time=NOW - DAY, remain_quota=QPU, key="k" * 48)
        for i, name in enumerate(WIDE_NAMES)
    ]
    table = render_text(build_listing(tokens, NOW), HEAD, QPU, Style(False), None)
    lines = table.splitlines()
    head = next(line for line in lines if line.startswith("NAME"))
    rows = [line for line in lines if " enabled " in line]
    assert len(rows) == len(WIDE_NAMES)
    status_at = head.index("STATUS")
    for row in rows:
        cut = row.index(" enabled ") + 1
        assert columns(row[:cut]) == status_at, (row, head)  # STATUS starts in one column
    assert any("\\u200b" in row for row in rows)  # the zero-width space is shown, escaped


def test_narrow_table_cuts_wide_names_by_columns() -> None:
    tokens = [
        ObservedToken(id=7, name="令牌" * 20, created_time=NOW - DAY, remain_quota=QPU),
        ObservedToken(id=8, name="short", created_time=NOW - DAY, remain_quota=QPU),
    ]
    for limit in (60, 80):
        table = render_text(build_listing(tokens, NOW), HEAD, QPU, Style(False), limit)
        rows = [line for line in table.splitlines() if line.startswith(("NAME", "令", "short"))]
        assert len(rows) == 3
        assert all(columns(row) <= limit for row in rows), rows
        ids = {columns(row[: row.index(" 7 ") + 2]) for row in rows if " 7 " in row}
        ids |= {columns(row[: row.index(" 8 ") + 2]) for row in rows if " 8 " in row}
        assert len(ids) == 1  # the ID column's right edge lines up
