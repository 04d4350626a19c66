"""``provisioner list`` end to end: every token state, every finding, exit codes, outputs."""

from __future__ import annotations

import json

import pytest

from provisioner.render.width import width
from tests.e2e.conftest import Cli

DAY = 86400
QPU = 500_000


@pytest.fixture
def account(cli: Cli) -> dict[str, int]:
    """A small account with a token in every state (times relative to the sandbox clock)."""
    now = cli.sandbox.now()
    ids = {
        # used today, $10 budget, 1 USD used, expires in 60 days
        "healthy": cli.insert(
            name="healthy",
            remain_quota=9 * QPU,
            used_quota=1 * QPU,
            created_time=now - 10 * DAY,
            accessed_time=now - 3600,
            expired_time=now + 60 * DAY + 600,
        ),
        # listed status 1, but its expiry passed two days ago (docs/server-contract.md#lazy-status)
        "lapsed": cli.insert(
            name="lapsed",
            remain_quota=5 * QPU,
            created_time=now - 40 * DAY,
            accessed_time=now - 5 * DAY,
            expired_time=now - 2 * DAY,
        ),
        # limited and used up: relay set status 4
        "drained": cli.insert(
            name="drained",
            remain_quota=0,
            used_quota=2 * QPU,
            status=4,
            created_time=now - 20 * DAY,
            accessed_time=now - DAY,
        ),
        # unlimited and never expiring, never used
        "wildcard": cli.insert(
            name="wildcard",
            unlimited_quota=True,
            created_time=now - 3 * DAY,
        ),
        # last used 45 days ago
        "dusty": cli.insert(
            name="dusty",
            remain_quota=QPU,
            created_time=now - 100 * DAY,
            accessed_time=now - 45 * DAY,
            expired_time=now + 3 * DAY + 600,
        ),
        # disabled by hand
        "paused": cli.insert(
            name="paused",
            status=2,
            remain_quota=QPU,
            created_time=now - 5 * DAY,
            accessed_time=now - 2 * DAY,
        ),
        # two tokens with one name
        "twin-a": cli.insert(
            name="twin",
            remain_quota=QPU,
            created_time=now - 2 * DAY,
            accessed_time=now - DAY,
        ),
        "twin-b": cli.insert(
            name="twin",
            remain_quota=QPU,
            used_quota=QPU * 19,  # 95% used
            created_time=now - 2 * DAY,
            accessed_time=now - DAY,
        ),
    }
    return ids


def _json(cli: Cli, *argv: str) -> dict:
    result = cli("list", "--output", "json", *argv)
    assert result.code == 0, result.all
    return json.loads(result.out)


def _findings(data: dict) -> set[tuple[str, str]]:
    return {(f["kind"], f["name"]) for f in data["findings"]}


def test_every_row(cli: Cli, account: dict[str, int]) -> None:
    data = _json(cli)
    assert data["schema_version"] == 1 and data["kind"] == "list"
    rows = {(t["name"], t["id"]): t for t in data["tokens"]}
    assert len(rows) == 8
    row = {name: rows[(name.split("-")[0], i)] for name, i in account.items()}

    healthy = row["healthy"]
    assert healthy["status"] == "enabled" and healthy["listed_status"] == 1
    assert healthy["used_usd"] == 1.0 and healthy["remain_usd"] == 9.0
    assert healthy["budget_usd"] == 10.0 and healthy["used_pct"] == 10.0
    assert healthy["budget_quota"] == 10 * QPU and healthy["used_quota"] == QPU
    assert 60 * DAY < healthy["expires_in"] <= 60 * DAY + 600
    assert healthy["last_used"] is not None and healthy["ownership"] is None

    assert row["lapsed"]["status"] == "expired" and row["lapsed"]["listed_status"] == 1
    assert row["drained"]["status"] == "exhausted" and row["drained"]["used_pct"] == 100.0
    wildcard = row["wildcard"]
    assert wildcard["unlimited"] and wildcard["budget_quota"] is None
    assert wildcard["remain_usd"] is None and wildcard["used_pct"] is None
    assert wildcard["expires"] == "never" and wildcard["last_used"] is None
    assert row["paused"]["status"] == "disabled"
    assert 3 * DAY < row["dusty"]["expires_in"] <= 3 * DAY + 600
    assert row["twin-b"]["used_pct"] == 95.0


def test_every_finding(cli: Cli, account: dict[str, int]) -> None:
    data = _json(cli)
    assert _findings(data) == {
        ("dead-but-enabled", "lapsed"),
        ("unlimited-no-expiry", "wildcard"),
        ("duplicate-name", "twin"),  # both ids
        ("budget", "drained"),
        ("budget", "twin"),
        ("expiring", "dusty"),
        ("stale", "dusty"),
        ("never-used", "wildcard"),
    }
    dup = [f for f in data["findings"] if f["kind"] == "duplicate-name"]
    assert sorted(f["id"] for f in dup) == sorted([account["twin-a"], account["twin-b"]])
    assert all("ids" in f["reason"] for f in dup)
    (dead,) = [f for f in data["findings"] if f["kind"] == "dead-but-enabled"]
    assert dead["id"] == account["lapsed"]
    assert "expired 2 days ago" in dead["reason"] and "lists it as enabled" in dead["reason"]
    assert data["summary"]["findings"]["budget"] == 2
    # thresholds move findings
    loose = _json(cli, "--stale-after", "60d", "--expiring-within", "1d", "--budget-above", "99")
    assert ("stale", "dusty") not in _findings(loose)
    assert ("expiring", "dusty") not in _findings(loose)
    assert ("budget", "twin") not in _findings(loose)
    assert ("budget", "drained") in _findings(loose)


def test_spec_adds_ownership_and_spec_findings(cli: Cli, account: dict[str, int]) -> None:
    cli.spec(
        """
        manage:
          match: ["tw*"]
        tokens:
          - name: healthy
            quota: 10 USD
          - name: drained
            quota: 1 USD
          - name: paused
            status: disabled
        """
    )
    data = _json(cli)
    assert data["file"] == "tokens.yaml"
    owner = {t["name"]: t["ownership"] for t in data["tokens"]}
    assert owner["healthy"] == "managed" and owner["paused"] == "managed"
    assert owner["twin"] == "orphan" and owner["wildcard"] == "unmanaged"
    undeclared = {name for kind, name in _findings(data) if kind == "undeclared"}
    assert undeclared == {"lapsed", "wildcard", "dusty", "twin"}
    dead = {f["name"]: f["reason"] for f in data["findings"] if f["kind"] == "dead-but-enabled"}
    # drained is stored as 4, but the spec still wants it enabled
    assert "spec declares it enabled" in dead["drained"]
    assert "lists it as enabled" in dead["lapsed"]
    text = cli("list")
    assert text.code == 0 and "OWNER" in text.out


def test_missing_files(cli: Cli, account: dict[str, int]) -> None:
    result = cli("list")  # no tokens.yaml: fine, no ownership column
    assert result.code == 0, result.all
    assert "OWNER" not in result.out
    missing = cli("list", "-f", "nope.yaml")
    assert missing.code == 65 and "nope.yaml" in missing.err


def test_fail_on_exit_codes(cli: Cli, account: dict[str, int]) -> None:
    assert cli("list", "--fail-on", "stale").code == 8
    assert cli("list", "--fail-on", "never-used,undeclared").code == 8
    assert cli("list", "--fail-on", "any").code == 8
    clean = cli("list", "--match", "healthy", "--fail-on", "any")
    assert clean.code == 0, clean.all
    # undeclared needs a spec; without one it never fires
    assert cli("list", "--fail-on", "undeclared").code == 0
    failed = cli("list", "--output", "json", "--fail-on", "duplicate-name")
    assert failed.code == 8 and json.loads(failed.out)["failed"] is True
    assert "--fail-on: 2 findings (duplicate-name); exit 8" in failed.err
    before = len(cli.sandbox.requests)
    unknown = cli("list", "--fail-on", "stale,leaked")
    assert unknown.code == 64
    assert "'leaked'" in unknown.err and "never-used" in unknown.err and "any" in unknown.err
    assert len(cli.sandbox.requests) == before  # refused before connecting


def test_bad_flags_are_usage_errors(cli: Cli) -> None:
    assert cli("list", "--sort", "colour").code == 64
    assert cli("list", "--status", "sleeping").code == 64
    assert cli("list", "--stale-after", "30 days").code == 64
    assert cli("list", "--budget-above", "150").code == 64


def test_sort_and_filter(cli: Cli, account: dict[str, int]) -> None:
    names = [t["name"] for t in _json(cli)["tokens"]]
    assert names == sorted(names)
    by_id = [t["id"] for t in _json(cli, "--sort", "id")["tokens"]]
    assert by_id == sorted(by_id)
    expiry = [t["name"] for t in _json(cli, "--sort", "expiry")["tokens"]]
    assert expiry[:3] == ["lapsed", "dusty", "healthy"]  # never-expiring ones last
    last_used = [t["name"] for t in _json(cli, "--sort", "last-used")["tokens"]]
    assert last_used[0] == "wildcard"  # never used first
    budget = [t["name"] for t in _json(cli, "--sort", "budget")["tokens"]]
    assert budget[-1] == "wildcard"  # unlimited is the largest
    used = [t["used_quota"] for t in _json(cli, "--sort", "used")["tokens"]]
    assert used == sorted(used)

    dead = _json(cli, "--status", "expired", "--status", "exhausted")
    assert sorted(t["name"] for t in dead["tokens"]) == ["drained", "lapsed"]
    assert dead["summary"] == {
        "total": 8,
        "shown": 2,
        "by_status": {"exhausted": 1, "expired": 1},
        "findings": {"dead-but-enabled": 1, "budget": 1},
    }
    matched = _json(cli, "--match", "tw*", "--match", "paused")
    assert sorted(t["name"] for t in matched["tokens"]) == ["paused", "twin", "twin"]


def test_no_request_per_token(cli: Cli, account: dict[str, int]) -> None:
    cli.sandbox.seed(30)
    before = len(cli.sandbox.requests)
    assert cli("list", "--output", "json").code == 0
    made = cli.sandbox.requests[before:]
    paths = {(method, target.split("?")[0]) for method, target, _ in made}
    assert paths <= {("GET", "/api/status"), ("GET", "/api/user/self"), ("GET", "/api/token/")}
    assert ("GET", "/api/token/") in paths
    pages = sum(1 for _, target, _ in made if target.startswith("/api/token/"))
    assert pages < 38 // 10 + 3  # pages, not tokens


def test_text_table_and_markdown(cli: Cli, account: dict[str, int]) -> None:
    result = cli("list")
    assert result.code == 0, result.all
    lines = result.out.splitlines()
    header = next(line for line in lines if line.startswith("NAME"))
    for title in ("ID", "STATUS", "USED", "REMAINING", "USED%", "EXPIRES", "LAST USED", "KEY"):
        assert title in header
    lapsed = next(line for line in lines if line.startswith("lapsed "))
    assert "expired" in lapsed and "(2 days ago)" in lapsed and "$5.00" in lapsed
    wildcard = next(line for line in lines if line.startswith("wildcard "))
    assert "unlimited" in wildcard and "never" in wildcard
    healthy = next(line for line in lines if line.startswith("healthy "))
    assert "(in 60 days)" in healthy and "10%" in healthy and "1 hour ago" in healthy
    assert "Findings:" in result.out
    assert "dead-but-enabled" in result.out and "lapsed (id" in result.out
    assert lines[-1].startswith("8 tokens (") and "findings." in lines[-1]

    md = cli("list", "--output", "markdown")
    assert md.code == 0
    assert "| NAME | ID | STATUS |" in md.out and "#### Findings" in md.out
    assert "- **stale** `dusty`" in md.out


def test_no_full_key_in_any_output(cli: Cli, account: dict[str, int]) -> None:
    keys = [r["key"] for r in cli.rows()]
    assert len(keys) == 8 and all(len(k) == 48 for k in keys)
    outputs = [
        cli("list", *extra, "-vv")
        for extra in (
            (),
            ("--output", "json"),
            ("--output", "markdown"),
            ("--fail-on", "any"),
        )
    ]
    for result in outputs:
        for key in keys:
            assert key not in result.all
            assert key[4:-4] not in result.all
    masked = json.loads(outputs[1].out)["tokens"][0]["key"]
    assert masked.startswith("sk-") and "..." in masked


def test_listed_one_turns_expired_over_time(cli: Cli) -> None:
    now = cli.sandbox.now()
    cli.insert(name="soon", remain_quota=QPU, expired_time=now + DAY, accessed_time=now + 1)
    first = _json(cli)
    assert first["tokens"][0]["status"] == "enabled"
    assert ("expiring", "soon") in _findings(first)
    cli.sandbox.advance(2 * DAY)
    later = _json(cli)
    assert later["tokens"][0]["status"] == "expired"
    assert ("dead-but-enabled", "soon") in _findings(later)
    assert ("expiring", "soon") not in _findings(later)


def test_traffic_makes_a_token_exhausted_and_used(cli: Cli) -> None:
    token_id = cli.insert(name="meter", remain_quota=QPU)
    assert ("never-used", "meter") not in _findings(_json(cli))  # brand new: not yet
    cli.sandbox.advance(2 * DAY)
    assert ("never-used", "meter") in _findings(_json(cli))
    cli.sandbox.advance(60)
    assert cli.sandbox.consume(token_id, QPU)
    data = _json(cli)
    (row,) = data["tokens"]
    assert row["status"] == "exhausted" and row["listed_status"] == 4
    assert row["last_used"] is not None and row["used_pct"] == 100.0
    assert _findings(data) == {("budget", "meter")}


def test_unknown_status_from_a_fork(cli: Cli) -> None:
    token_id = cli.insert(name="forked", remain_quota=QPU)
    cli.sandbox.store.update_token(token_id, {"status": 5})
    data = _json(cli)
    (row,) = data["tokens"]
    assert row["status"] == "status 5" and row["listed_status"] == 5
    text = cli("list")
    assert "status 5" in text.out and "1 token (1 status 5)" in text.out


def test_table_lines_up_wide_and_zero_width_names(cli: Cli) -> None:
    """Names made in the web UI in CJK, emoji, full-width or with a zero-width space: every
    column starts at the same terminal column on every row (display width, not len)."""
    names = ["令牌-视频", "🚀🚀-rocket", "ＦＵＬＬ", "zero\u200bwidth", "cafe\u0301", "plain"]
    for name in names:
        cli.insert(name=name, remain_quota=QPU, accessed_time=cli.sandbox.now())
    result = cli("list")
    assert result.code == 0, result.all
    lines = result.out.splitlines()
    head = next(line for line in lines if line.startswith("NAME"))
    rows = [line for line in lines if " enabled " in line]
    assert len(rows) == len(names)
    status_at = head.index("STATUS")
    expires_at = head.index("EXPIRES")
    for row in rows:
        assert width(row[: row.index(" enabled ") + 1]) == status_at, (row, head)
        assert width(row[: row.index(" never ") + 1]) == expires_at, (row, head)
    assert len({width(row) for row in rows}) == 1  # same cells after the name: same width
    assert any("zero\\u200bwidth" in row for row in rows)  # shown, escaped, and measured so
