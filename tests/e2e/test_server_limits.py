"""No key whose limit the server ignores, and each generation's own limits
(docs/reconcile.md#plan-knows-the-server, docs/servers.md). Issue 19, items 2 to 7.

Against every recorded generation, as a user meets them: an IP network on an account
with no token yet (the server's generation unknown), ``group: auto`` where the user has
no such group, a budget above one generation's cap, a budget of 0, ``provisioner test``
on a token the file declares disabled, and one-api's spelling of single addresses.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e import webui
from tests.e2e.conftest import Cli, profile_cli
from tests.e2e.sinkfiles import json_keys

PROFILES = ["new-api-2026-08", "new-api-2026-07", "new-api-2025-10", "one-api-2025-02"]
NEW_API = PROFILES[:3]


@pytest.fixture(params=PROFILES)
def gen(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cli]:
    with profile_cli(tmp_path, request.param) as cli:
        yield cli


def keys(cli: Cli) -> dict[str, str]:
    path = cli.workdir / "keys.json"
    return json_keys(path) if path.exists() else {}


# -- item 2: a limit the server stores but does not enforce ------------------------

NETWORK = "keys:\n  to: json:keys.json\ntokens:\n  - name: office\n    allow_ips: [10.0.0.0/8]\n"


def test_a_network_on_an_empty_account_is_enforced_or_the_key_never_works(gen: Cli) -> None:
    cli = gen
    profile = cli.sandbox.profile.name
    cli.spec(NETWORK)
    plan = cli("plan")
    assert plan.code == 0, plan.all
    # only 2025-10 has nothing to show its generation (no Auth-Version header, one-api's
    # routes or a record): the plan says what apply will do about it
    unknown = profile == "new-api-2025-10"
    assert ("apply creates these tokens expired" in plan.out) == unknown, plan.out
    applied = cli("apply", "--yes")
    row = cli.row("office")
    if profile == "new-api-2025-10":
        # CIDR came with v0.10.1: this server stores the network and matches addresses only
        assert applied.code == 4, applied.all
        assert "matches addresses exactly" in applied.all and "Refused:" in applied.out
        assert row["status"] == 2 and row["expired_time"] == 1  # created dead, then disabled
        assert "OFFICE" not in keys(cli)  # its key was never revealed or delivered
        for address in ("127.0.0.1", "10.1.2.3", "203.0.113.9"):
            assert not cli.sandbox.relay_auth("sk-" + row["key"], client_ip=address)
        # now that a record shows the generation, plan refuses at once, and says no more
        again = cli("plan", "--detailed-exitcode")
        assert again.code == 4, again.all
        assert "Refused: server.allow_ips" in again.out and "No changes" not in again.out
        return
    assert applied.code == 0, applied.all
    assert row["status"] == 1 and row["expired_time"] == -1
    assert keys(cli)["OFFICE"] == "sk-" + row["key"]
    assert cli.sandbox.relay_auth("sk-" + row["key"], client_ip="10.1.2.3")
    assert not cli.sandbox.relay_auth("sk-" + row["key"], client_ip="203.0.113.9")
    assert cli("plan", "--detailed-exitcode").code == 0


def test_on_an_empty_account_the_check_costs_one_write_only_where_needed(tmp_path: Path) -> None:
    with profile_cli(tmp_path, "new-api-2025-10") as cli:
        cli.spec(NETWORK.replace("10.0.0.0/8", "10.0.0.7") + "  - name: plain\n")
        applied = cli("apply", "--yes")  # addresses only: nothing to confirm
        assert applied.code == 0, applied.all
        puts = [r for r in cli.sandbox.requests if r[0] == "PUT"]
        assert [r for r in puts if "status_only" not in r[1]] == []  # no expiry PUT


# -- item 3: group auto ----------------------------------------------------------------


@pytest.mark.parametrize("profile", NEW_API)
def test_group_auto_is_checked_like_any_group(tmp_path: Path, profile: str) -> None:
    spec = "keys:\n  to: json:keys.json\ntokens:\n  - name: picker\n    group: auto\n"
    with profile_cli(tmp_path / "plain", profile) as cli:  # as recorded: no auto group
        cli.spec(spec)
        plan = cli("plan")
        assert plan.code == 4, plan.all
        assert "uses group 'auto', which this user does not have (groups: default, vip)" in (
            plan.all
        )
        assert "无权访问 auto 分组" in plan.all
        assert cli("apply", "--yes").code == 4 and cli.names() == []
        # a token made by hand with group auto: its key is refused by the relay, and test says
        webui.create(cli, name="by-hand", group="auto")
        row = cli.row("by-hand")
        assert not cli.sandbox.relay_auth("sk-" + row["key"])
        tested = cli("--output", "json", "test", "by-hand")
        assert tested.code == 8, tested.all
        assert json.loads(tested.out)["results"][0]["outcome"] == "refused"
    with profile_cli(tmp_path / "auto", profile, auto_group=True) as cli:  # offered
        cli.spec(spec)
        applied = cli("apply", "--yes")
        assert applied.code == 0, applied.all
        assert cli.sandbox.relay_auth(keys(cli)["PICKER"])
        assert cli("plan", "--detailed-exitcode").code == 0


# -- item 4: each generation's budget cap ---------------------------------------------


def test_the_budget_cap_is_the_generations_own(gen: Cli) -> None:
    cli = gen
    cli.sandbox.seed(1)  # a record shows the generation
    cli.spec("tokens:\n  - name: big\n    quota: 4295 USD\n")  # 2,147,500,000 units
    plan = cli("plan")
    if cli.sandbox.profile.name == "new-api-2026-08":
        assert plan.code == 4, plan.all
        assert "more than this server's maximum of 2147483647" in plan.all
        assert "new-api 2026-08 and later" in plan.all and "new-api 2026-08 or later" in plan.all
        assert cli("apply", "--yes").code == 4 and "big" not in cli.names()
        return
    assert plan.code == 0, plan.all
    applied = cli("apply", "--yes")
    assert applied.code == 0, applied.all
    row = cli.row("big")
    assert row["remain_quota"] + row["used_quota"] == 2_147_500_000
    assert cli("plan", "--detailed-exitcode").code == 0


# -- item 5: a budget of 0 -----------------------------------------------------------


@pytest.mark.parametrize("quota", ["0", '"0 USD"', '"$0"'])
def test_a_zero_budget_is_refused_like_the_other(cli: Cli, quota: str) -> None:
    cli.spec(f"tokens:\n  - name: a\n  - name: nothing\n    quota: {quota}\n")
    for argv in (["validate"], ["plan"], ["apply", "--yes"]):
        result = cli(*argv)
        assert result.code == 65, result.all
        assert "tokens.yaml:5:12:" in result.err
        assert "can never make a call" in result.err and "status: disabled" in result.err
    assert cli.sandbox.requests == [] and cli.names() == []


# -- item 6: test on a token the file declares disabled ----------------------------------


def test_test_shows_a_token_declared_disabled_as_declared(gen: Cli) -> None:
    cli = gen
    cli.spec(
        "keys:\n  to: json:keys.json\ntokens:\n  - name: app\n  - name: app-off\n"
        "    status: disabled\n"
    )
    assert cli("apply", "--yes").code == 0
    before = len(cli.sandbox.requests)
    tested = cli("test")
    assert tested.code == 0, tested.all
    assert "app-off" in tested.out and "disabled, as declared" in tested.out
    assert "1 works, 0 refused, 1 disabled as declared" in tested.out
    relay = [r for r in cli.sandbox.requests[before:] if r[1].startswith("/v1/")]
    assert len(relay) == 1  # app's only: the disabled one is not called
    # named, it is called, and reported as the file wants it
    named = cli("--output", "json", "test", "app-off")
    assert named.code == 0, named.all
    (result,) = json.loads(named.out)["results"]
    assert (result["outcome"], result["reason"]) == ("as-declared", "disabled")
    assert result["http_status"] == 401
    # switched on in the web UI: its key works against the file's word, and test says so
    webui.switch(cli, "app-off", enabled=True)
    drift = cli("test")
    assert drift.code == 0, drift.all
    assert "its key works: `provisioner apply` disables it" in drift.out


# -- item 7: allow_ips in the file's own spelling ------------------------------------------


def test_one_api_addresses_are_compared_and_shown_as_the_file_writes_them(tmp_path: Path) -> None:
    with profile_cli(tmp_path, "one-api-2025-02") as cli:
        cli.spec("tokens:\n  - name: a\n    allow_ips: [127.0.0.1]\n    quota: 1 USD\n")
        assert cli("apply", "--yes").code == 0
        assert cli.row("a")["subnet"] == "127.0.0.1/32"  # how one-api stores an address
        assert cli("plan", "--detailed-exitcode").code == 0
        cli.spec("tokens:\n  - name: a\n    allow_ips: [127.0.0.1]\n    quota: 2 USD\n")
        budget = cli("plan")
        assert "budget:" in budget.out and "allow_ips" not in budget.out
        cli.spec("tokens:\n  - name: a\n    allow_ips: [127.0.0.1, 10.0.0.0/8]\n    quota: 2 USD\n")
        changed = cli("plan")
        assert "allow_ips: [127.0.0.1] -> [127.0.0.1, 10.0.0.0/8]" in changed.out
        assert "/32" not in changed.out
