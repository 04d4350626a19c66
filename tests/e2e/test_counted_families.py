"""A token that declares ``count`` owns its copies NAME-2, NAME-3, ... in an unbroken run
from 2 (docs/reconcile.md#counted-families). Issue 19, item 1.

On every recorded generation: lowering a count makes the extra copies owned orphans,
removed highest first under ``orphans: delete`` (their keys leave the sink), kept or
disabled under the other policies; hand-made look-alikes stay unmanaged; the default
safety limits still hold.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e import webui
from tests.e2e.conftest import Cli, profile_cli
from tests.e2e.sinkfiles import json_keys

PROFILES = ["new-api-2026-08", "new-api-2026-07", "new-api-2025-10", "one-api-2025-02"]


@pytest.fixture(params=PROFILES)
def gen(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cli]:
    with profile_cli(tmp_path, request.param) as cli:
        yield cli


def family(count: int, orphans: str = "delete") -> str:
    return (
        f"manage:\n  orphans: {orphans}\nkeys:\n  to: json:keys.json\n"
        f"tokens:\n  - name: g-ci\n    count: {count}\n"
    )


def test_a_count_that_shrinks_deletes_its_copies_highest_first(gen: Cli) -> None:
    cli = gen
    cli.spec(family(3))
    assert cli("apply", "--yes").code == 0
    assert cli.names() == ["g-ci", "g-ci-2", "g-ci-3"]
    copies = {name: cli.row(name) for name in ("g-ci-2", "g-ci-3")}
    assert sorted(json_keys(cli.workdir / "keys.json")) == ["G_CI", "G_CI_2", "G_CI_3"]

    cli.spec(family(1))
    plan = cli("plan", "--detailed-exitcode")
    assert plan.code == 2, plan.all
    lines = plan.out.splitlines()
    third = next(i for i, line in enumerate(lines) if "- delete  g-ci-3" in line)
    second = next(i for i, line in enumerate(lines) if "- delete  g-ci-2" in line)
    assert third < second  # highest first: an interrupted shrink leaves an unbroken run
    assert "copy of g-ci beyond its count (manage.orphans: delete)" in plan.out
    assert "beyond count" not in plan.out.replace("beyond its count", "")  # no look-alike hint

    before = len(cli.sandbox.requests)
    applied = cli("apply", "--yes")
    assert applied.code == 0, applied.all
    assert cli.names() == ["g-ci"]
    assert json_keys(cli.workdir / "keys.json") == {"G_CI": "sk-" + cli.row("g-ci")["key"]}
    for row in copies.values():
        assert not cli.sandbox.relay_auth("sk-" + row["key"])
    single = [
        target
        for method, target, _ in cli.sandbox.requests[before:]
        if method == "DELETE" and target.startswith("/api/token/")
    ]
    if single:  # servers without batch delete: one DELETE each, in the plan's order
        assert single == [
            f"/api/token/{copies['g-ci-3']['id']}",
            f"/api/token/{copies['g-ci-2']['id']}",
        ]
    assert cli("plan", "--detailed-exitcode").code == 0


@pytest.mark.parametrize("orphans", ["keep", "disable"])
def test_the_copies_follow_the_orphan_policy(cli: Cli, orphans: str) -> None:
    cli.spec(family(3, orphans))
    assert cli("apply", "--yes").code == 0
    cli.spec(family(1, orphans))
    if orphans == "keep":
        plan = cli("plan", "--detailed-exitcode")
        assert plan.code == 0, plan.all
        assert "2 orphans kept, 0 unmanaged" in plan.out
        assert "owned but not declared (copy of g-ci beyond its count)" in plan.out
        return
    applied = cli("apply", "--yes")
    assert applied.code == 0, applied.all
    assert [cli.row(n)["status"] for n in ("g-ci", "g-ci-2", "g-ci-3")] == [1, 2, 2]
    assert cli("plan", "--detailed-exitcode").code == 0


def test_count_one_written_owns_the_copies_and_no_count_does_not(cli: Cli) -> None:
    cli.spec(family(2))
    assert cli("apply", "--yes").code == 0
    # `count` left out altogether: g-ci-2 is a look-alike, and the plan says how to own it
    cli.spec("manage:\n  orphans: delete\ntokens:\n  - name: g-ci\n")
    plan = cli("plan", "--detailed-exitcode")
    assert plan.code == 0, plan.all
    assert "1 unmanaged" in plan.out and "declares no count" in plan.out
    assert cli("apply", "--yes").code == 0 and "g-ci-2" in cli.names()
    # `count: 1` written: the run is the file's again
    cli.spec(family(1))
    assert cli("apply", "--yes").code == 0
    assert cli.names() == ["g-ci"]


def test_look_alikes_outside_the_run_stay_unmanaged(gen: Cli) -> None:
    cli = gen
    cli.spec(
        "manage:\n  orphans: delete\ntokens:\n  - name: llama-3\n    count: 2\n"
        "  - name: partner\n  - name: qa\n    count: 1\n"
    )
    assert cli("apply", "--yes").code == 0
    # made by hand in the web UI: none is in an unbroken run from 2 of a counted token
    for name in ("llama-3-70", "llama-3-4", "partner-2", "qa-2025", "qa-3"):
        webui.create(cli, name=name)
    plan = cli("plan", "--detailed-exitcode")
    assert plan.code == 0, plan.all
    assert "5 unmanaged" in plan.out
    assert cli("apply", "--yes").code == 0
    assert len(cli.names()) == 4 + 5  # nothing deleted
    # once qa-2 exists, qa-3 continues the run: it is qa's copy, and goes
    webui.create(cli, name="qa-2")
    plan = cli("plan")
    assert "- delete  qa-3" in plan.out and "- delete  qa-2" in plan.out
    assert "qa-2025" not in plan.out.split("Plan:")[0].replace("# ", "")


def test_the_default_safety_limit_still_holds(cli: Cli) -> None:
    cli.spec(family(12))
    assert cli("apply", "--yes").code == 0
    cli.spec(family(1))
    refused = cli("apply", "--yes")
    assert refused.code == 4, refused.all
    assert "safety.max_deletes (default)" in refused.err and "11 tokens" in refused.err
    assert len(cli.names()) == 12
    forced = cli("apply", "--yes", "--force")
    assert forced.code == 0, forced.all
    assert cli.names() == ["g-ci"]
