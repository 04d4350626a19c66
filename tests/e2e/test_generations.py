"""The whole story on every recorded server generation (docs/servers.md).

Each profile of the sandbox answers as a real server of that generation did
(tests/conformance). On each, a spec that uses what the generation can hold
converges: apply, a clean plan, an edit that converges the same way, keys in
the sink equal to the server's, a rotation, an export that round-trips. A field
the generation lacks is refused at plan time, named, and nothing is sent.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from provisioner.sandbox import Sandbox
from tests.e2e.conftest import Cli, profile_cli
from tests.e2e.sinkfiles import json_keys

# What each generation can hold (docs/servers.md), for the token `rich`.
RICH = {
    # v1.0.0-rc.41+, read from source: 2026-08's token API, a scoped nap_ credential
    "new-api-2026-10": (
        "    group: auto\n    auto_groups: [default]\n    cross_group_retry: true\n"
        "    allow_ips: [203.0.113.7, 10.0.0.0/8]\n"
    ),
    "new-api-2026-08": (
        "    group: auto\n    auto_groups: [default]\n    cross_group_retry: true\n"
        "    allow_ips: [203.0.113.7, 10.0.0.0/8]\n"
    ),
    "new-api-2026-07": (
        "    group: auto\n    cross_group_retry: true\n    allow_ips: [203.0.113.7, 10.0.0.0/8]\n"
    ),
    "new-api-2025-10": "    group: vip\n    allow_ips: [203.0.113.7, 198.51.100.9]\n",
    "one-api-2025-02": "    allow_ips: [203.0.113.7, 10.0.0.0/8]\n",
}
# One field each generation lacks, and how the refusal names it.
LACKS = {
    "new-api-2026-10": None,
    "new-api-2026-08": None,
    "new-api-2026-07": ("    group: auto\n    auto_groups: [default]\n", "auto_groups"),
    "new-api-2025-10": ("    group: auto\n    cross_group_retry: true\n", "cross_group_retry"),
    "one-api-2025-02": ("    group: vip\n", "group"),
}


def spec(rich: str, budget: str = "1 USD", models: str = "[gpt-4o-mini]") -> str:
    return (
        "keys:\n  to: json:keys.json\n"
        "tokens:\n"
        f"  - name: rich\n    quota: {budget}\n    models: {models}\n{rich}"
        "  - name: plain\n    count: 2\n    expires: 7d\n"
    )


@pytest.fixture(params=sorted(RICH))
def gen(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cli]:
    # `rich` uses group auto where the generation has it: a server that offers it
    with profile_cli(tmp_path, request.param, auto_group=True) as cli:
        yield cli


def keys_match_the_server(cli: Cli) -> None:
    keys = json_keys(cli.workdir / "keys.json")
    expected = {
        "RICH": "sk-" + cli.row("rich")["key"],
        "PLAIN": "sk-" + cli.row("plain")["key"],
        "PLAIN_2": "sk-" + cli.row("plain-2")["key"],
    }
    assert {k: keys.get(k) for k in expected} == expected


def test_the_story_converges_on_every_generation(gen: Cli) -> None:
    cli = gen
    profile = cli.sandbox.profile.name
    cli.sandbox.seed(120, prefix="bulk-")  # more than one page, whatever the dialect
    cli.spec(spec(RICH[profile]))
    applied = cli("apply", "--yes")
    assert applied.code == 0, applied.all
    assert "did not keep" not in applied.out
    settled = cli("plan", "--detailed-exitcode")
    assert settled.code == 0, settled.all
    keys_match_the_server(cli)

    # an edit converges the same way
    cli.spec(spec(RICH[profile], budget="2 USD", models="[gpt-4o-mini, gpt-4o]"))
    edited = cli("plan", "--detailed-exitcode")
    assert edited.code == 2 and "budget" in edited.out and "models" in edited.out, edited.all
    assert cli("apply", "--yes").code == 0
    assert cli("plan", "--detailed-exitcode").code == 0

    # rotation: a new key in the sink, the old token kept for the overlap
    rotated = cli("rotate", "rich", "--yes", "--overlap", "1h")
    assert rotated.code == 0, rotated.all
    keys_match_the_server(cli)
    assert any(n.startswith("rich.old-") for n in cli.names())
    assert cli("plan", "--detailed-exitcode").code == 0

    # export round-trips
    exported = cli("export", "--out", "all.yaml")
    assert exported.code == 0, exported.all
    round_trip = cli("plan", "-f", "all.yaml", "--detailed-exitcode")
    assert round_trip.code == 0, round_trip.all


def test_a_field_the_generation_lacks_is_refused_at_plan_time(gen: Cli) -> None:
    cli = gen
    lacks = LACKS[cli.sandbox.profile.name]
    if lacks is None:
        pytest.skip("the newest generation has every field")
    extra, field = lacks
    cli.sandbox.seed(1)  # a record shows which fields this server has
    cli.spec(f"tokens:\n  - name: wants\n{extra}")
    before = len(cli.sandbox.requests)
    plan = cli("plan")
    assert plan.code == 4, plan.all
    assert "'wants'" in plan.all and field in plan.all and "has no" in plan.all
    applied = cli("apply", "--yes")
    assert applied.code == 4, applied.all
    assert [r for r in cli.sandbox.requests[before:] if r[0] != "GET"] == []
    assert "wants" not in cli.names()


def test_names_over_the_generation_limit_are_refused(gen: Cli) -> None:
    cli = gen
    name = "a-name-of-thirty-one-bytes-xyz1"  # 31 bytes: fine from new-api v0.10.0 on
    cli.sandbox.seed(1)
    cli.spec(f"tokens:\n  - name: {name}\n  - name: small\n")
    plan = cli("plan")
    if cli.sandbox.profile.name in ("one-api-2025-02", "new-api-2025-10"):
        assert plan.code == 4 and "30 bytes" in plan.all, plan.all
    else:
        assert plan.code == 0, plan.all


def test_on_an_empty_account_apply_finds_what_the_server_dropped(tmp_path: Path) -> None:
    # No record to look at: the plan can only say it is unconfirmed; apply compares the
    # new record with what it wrote, fails the create, and the next plan refuses.
    sb = Sandbox(db_path=str(tmp_path / "s.db"), profile="new-api-2025-10", auto_group=True).start(
        port=0
    )
    try:
        work = tmp_path / "work"
        work.mkdir()
        cli = Cli(sb, work)
        cli.env["NEWAPI_USER_ID"] = str(sb.user_id)
        cli.spec("tokens:\n  - name: wants\n    group: auto\n    cross_group_retry: true\n")
        plan = cli("plan")
        assert plan.code == 0 and "unconfirmed" in plan.out, plan.all
        applied = cli("apply", "--yes")
        assert applied.code == 6, applied.all
        assert "✗ create  wants" in applied.out
        assert "did not keep cross_group_retry" in applied.out
        again = cli("plan")
        assert again.code == 4 and "has no cross_group_retry field" in again.all, again.all
    finally:
        sb.stop()
