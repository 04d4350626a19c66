"""Another client changes tokens between `plan --out` and `apply PLAN`, and during an apply."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from provisioner.newapi.client import NewApiClient
from provisioner.sandbox.faults import Fault
from provisioner.secret import Secret
from tests.e2e.conftest import Cli
from tests.e2e.lockkit import Hold, apply_process, wait_for
from tests.faults.helpers import FAST_RETRY, assert_no_secrets, report_lines, writes
from tests.newapi.fakes import client_settings

BASE = """
manage:
  match: ["app-*"]
tokens:
  - name: app-a
    quota: 1 USD
  - name: app-b
    quota: 1 USD
  - name: app-c
"""
CHANGED = BASE.replace("quota: 1 USD", "quota: 2 USD")  # updates app-a and app-b


def other_client(cli: Cli) -> NewApiClient:
    sandbox = cli.sandbox
    return NewApiClient(
        sandbox.url, Secret(sandbox.credential), sandbox.user_id, settings=client_settings()
    )


def _edit(client: NewApiClient, token_id: int) -> None:
    token = client.get_token(token_id)
    client.update_token(
        {"id": token_id, "name": token.name, "remain_quota": 123, "expired_time": -1}
    )


def _disable(client: NewApiClient, token_id: int) -> None:
    client.set_status(token_id, 2)


def _delete(client: NewApiClient, token_id: int) -> None:
    assert client.delete_tokens([token_id]) == 1


MOVES: dict[str, Callable[[NewApiClient, int], None]] = {
    "edit": _edit,
    "disable": _disable,
    "delete": _delete,
}


@pytest.mark.parametrize("move", list(MOVES))
def test_saved_plan_goes_stale(cli: Cli, move: str) -> None:
    cli.spec(BASE)
    assert cli("apply", "--yes").code == 0
    cli.spec(CHANGED)
    assert cli("plan", "--out", "plan.json").code == 0
    with other_client(cli) as client:
        MOVES[move](client, cli.row("app-b")["id"])
    snapshot = cli.rows()
    before = len(cli.sandbox.requests)
    result = cli("apply", "plan.json", "--yes")
    assert result.code == 5, result.all
    assert "app-b" in result.err and "stale" in result.err
    assert "app-a" not in result.err  # only what moved is named
    assert not writes(cli.sandbox.requests[before:])
    assert cli.rows() == snapshot
    # a fresh plan applies and converges
    assert cli("apply", "--yes").code == 0
    assert cli("plan", "--detailed-exitcode").code == 0
    assert_no_secrets(cli.sandbox, *(r.all for r in cli.history))


def test_unrelated_change_does_not_make_a_plan_stale(cli: Cli) -> None:
    cli.spec(BASE)
    assert cli("apply", "--yes").code == 0
    cli.spec(BASE.replace("  - name: app-a\n    quota: 1 USD", "  - name: app-a\n    quota: 2 USD"))
    assert cli("plan", "--out", "plan.json").code == 0
    with other_client(cli) as client:
        _disable(client, cli.row("app-c")["id"])  # the plan does not touch app-c
    result = cli("apply", "plan.json", "--yes")
    assert result.code == 0, result.all
    assert cli.row("app-a")["remain_quota"] == 1_000_000


@dataclass
class SignalFault(Fault):
    """A latency fault that tells the test when the request it holds has arrived."""

    arrived: threading.Event = field(default_factory=threading.Event)

    def matches(self, method: str, path: str, pattern: str | None) -> bool:
        hit = super().matches(method, path, pattern)
        if hit and self.times != 0:
            self.arrived.set()
        return hit


@pytest.mark.parametrize("move", list(MOVES))
def test_token_moves_during_apply(cli: Cli, move: str) -> None:
    """The apply holds on its first PUT (app-a) while another client moves app-b."""
    cli.env["PROVISIONER_RETRY"] = FAST_RETRY
    cli.spec(BASE)
    assert cli("apply", "--yes").code == 0
    b_id = cli.row("app-b")["id"]
    cli.spec(CHANGED)
    fault = SignalFault(route="PUT /api/token/", latency=0.5, times=1)
    cli.sandbox.add_fault(fault)
    errors: list[BaseException] = []

    def meanwhile() -> None:
        try:
            assert fault.arrived.wait(5)
            with other_client(cli) as client:
                MOVES[move](client, b_id)
        except BaseException as exc:  # surfaced in the test thread
            errors.append(exc)

    thread = threading.Thread(target=meanwhile)
    thread.start()
    first = cli("apply", "--yes")
    thread.join()
    assert not errors, errors
    lines = report_lines(first.out)
    if move == "delete":
        # The apply's read of app-b is gone: it must say so, not pretend.
        assert first.code == 6, first.all
        assert ("✗", "update", "app-b") in lines and ("✓", "update", "app-a") in lines
        assert "Apply partly failed" in first.out
    else:
        # Full-mode PUT of app-b lands after the other client's change (last writer wins
        # on fields; status is never written by a full PUT:
        # docs/server-contract.md#updating-a-token).
        assert first.code == 0, first.all
    second = cli("apply", "--yes")
    assert second.code == 0, second.all
    assert cli("plan", "--detailed-exitcode").code == 0
    names = cli.names()
    assert names.count("app-b") == 1 and len(names) == len(set(names))
    for name in ("app-a", "app-b"):
        row = cli.row(name)
        assert row["status"] == 1 and row["remain_quota"] + row["used_quota"] == 1_000_000
    assert_no_secrets(cli.sandbox, *(r.all for r in cli.history))


# ---------------------------------------------------------------------------- two machines


def _race(cli: Cli, tmp_path: Path, trial: int) -> None:
    """Two applies of one file on two machines (a lock folder each) start together; their
    lock tokens' creates are held at the server until both have arrived, so both race for
    the account every time: exactly one wins, the other exits 4 naming it."""
    sandbox = cli.sandbox
    sandbox.clear_faults()
    gate = Hold(route="POST /api/token/")  # holds every create until it opens
    sandbox.add_fault(gate)
    cli.spec(f"keys:\n  to: json:keys-{trial}.json\ntokens:\n  - name: t{trial}\n    count: 6\n")
    runs = [apply_process(cli, tmp_path / f"machine-{m}-{trial}") for m in "ab"]
    try:
        wait_for(lambda: gate.held >= 2, "both lock creates at the server")
        gate.gate.set()
        outcomes = [(p.communicate(timeout=120), p) for p in runs]
    finally:
        for process in runs:
            if process.poll() is None:
                process.kill()
                process.communicate()
    codes = sorted(p.returncode for _, p in outcomes)
    assert codes == [0, 4], [o for o, _ in outcomes]
    ((_, _), winner), ((_, lost_err), _) = sorted(outcomes, key=lambda o: o[1].returncode)
    assert "another apply holds the account's lock" in lost_err, lost_err
    assert f"held by pid {winner.pid} on " in lost_err and "provisioner unlock" in lost_err
    assert "Traceback" not in lost_err
    names = [n for n in cli.names() if n.startswith(f"t{trial}")]
    assert len(names) == len(set(names)) == 6, Counter(names).most_common(3)
    assert not [r for r in sandbox.rows() if r["name"].startswith("provisioner.lock.")]


@pytest.mark.parametrize("trials", [2, pytest.param(20, marks=pytest.mark.slow)])
def test_two_machines_race_for_the_lock_one_wins_no_duplicate(
    cli: Cli, tmp_path: Path, trials: int
) -> None:
    cli.sandbox.latency = 0.02  # a server a little slow, as over a network
    for trial in range(trials):
        _race(cli, tmp_path, trial)
