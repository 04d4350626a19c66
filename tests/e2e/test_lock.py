"""One apply at a time, never a deploy blocked: the lease lock and `provisioner unlock`
(docs/reconcile.md#one-apply-at-a-time).

Real CLI runs (in-process, or `python -m provisioner apply` as a subprocess where one
is killed or must run beside another) against a real sandbox over HTTP. Tests wait for
events (a row in the sandbox's database, a request arriving, a line on a stream), never
for a delay; the lease's end is reached by moving the sandbox's clock.
"""

from __future__ import annotations

import io
import json
import signal
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from provisioner.cli.execution import CREATE_CONCURRENCY
from provisioner.lease import Holder
from provisioner.newapi.bodies import lock_body
from provisioner.sandbox import Sandbox
from provisioner.sandbox.faults import Fault
from tests.e2e.conftest import Cli
from tests.e2e.lockkit import (
    Arrivals,
    Hold,
    Lines,
    answered,
    apply_process,
    close,
    jobs,
    lock_rows,
    other_client,
    sink_keys,
    wait_for,
)
from tests.faults.helpers import FAST_RETRY, assert_no_secrets

# More tokens than one round of concurrent creates: an apply stopped while its first round
# is held at the server still has creates it never sent.
MANY = CREATE_CONCURRENCY + 8


def _spec(count: int) -> str:
    return f"keys:\n  to: json:keys.json\ntokens:\n  - name: job\n    count: {count}\n"


# ---------------------------------------------------------------------------- a holder died


@pytest.mark.parametrize("freed_by", ["the next apply", "unlock"])
def test_kill_9_mid_create_frees_the_account_within_one_lease(
    cli: Cli, tmp_path: Path, freed_by: str
) -> None:
    sandbox = cli.sandbox
    cli.spec(_spec(MANY))
    lock_dir = tmp_path / "locks"
    cli.env["PROVISIONER_LOCK_DIR"] = str(lock_dir)
    # the lock's create and the first job's pass; the other creates wait at the server
    gate = Hold(route="POST /api/token/", skip=2)
    sandbox.add_fault(gate)
    victim = apply_process(cli, lock_dir)
    wait_for(lambda: jobs(cli) and gate.held, "the first created token, and a create held")
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=30)
    # Creates already sent still land (the server finishes them): let them, and wait until
    # each one that arrived has been answered.
    gate.gate.set()
    wait_for(lambda: answered(sandbox, "POST", "/api/token/") == gate.arrived, "held creates")
    (dead,) = [r for r in lock_rows(sandbox) if r["deleted_at"] is None]
    assert dead["status"] == 2 and dead["remain_quota"] == 0  # disabled, no quota
    assert dead["expired_time"] - dead["created_time"] <= 121  # the lease: about 2 minutes
    made = len(jobs(cli))

    # While its lease runs, the account is held: exit 4, naming the dead holder and the way out.
    blocked = cli("apply", "--yes")
    assert blocked.code == 4, blocked.all
    assert f"pid {victim.pid}" in blocked.err and "lease until" in blocked.err
    assert f"provisioner unlock {dead['id']}" in blocked.err
    assert len(jobs(cli)) == made
    by_delete = cli("delete", str(dead["id"]), "--yes")  # the old advice points to unlock now
    assert by_delete.code == 1 and f"`provisioner unlock {dead['id']}`" in by_delete.err

    # One lease (plus a second of margin) later, by the server's clock:
    sandbox.advance(dead["expired_time"] - sandbox.now() + 2)
    if freed_by == "unlock":
        shown = cli("unlock", "--yes")
        assert shown.code == 0, shown.all
        assert f"pid {victim.pid}" in shown.out and "lease ended" in shown.out
        assert "Removed 1 lock token" in shown.out
    result = cli("apply", "--yes")
    assert result.code == 0, result.all
    if freed_by == "the next apply":
        assert "removed 1 lock token whose lease had ended" in result.err
    names = jobs(cli)
    assert len(names) == len(set(names)) == MANY, Counter(names).most_common(3)
    assert all(r["deleted_at"] is not None for r in lock_rows(sandbox))  # none left behind
    assert len(sink_keys(cli)) == MANY
    assert cli("plan", "--detailed-exitcode").code == 0
    assert_no_secrets(sandbox, blocked.all, result.all)


# ---------------------------------------------------------------------------- never re-sent


@pytest.mark.parametrize(
    ("fault", "first_code"),
    [
        # the lock's create and the next two job creates get no answer within --timeout 1
        ({"latency": 2.5, "times": 3}, 6),
        ({"drop": "after", "times": 1}, 0),  # committed, no answer: found by its name
        ({"drop": "before", "times": 1}, 0),  # never committed: the re-list proves it
        ({"status": 502, "times": 1}, 0),
    ],
    ids=["timeout", "drop-after", "drop-before", "502"],
)
def test_the_lock_create_is_never_sent_twice(
    cli: Cli, fault: dict[str, Any], first_code: int
) -> None:
    sandbox = cli.sandbox
    cli.env["PROVISIONER_RETRY"] = FAST_RETRY
    cli.spec(_spec(4))
    arrivals = Hold(route="POST /api/token/", hold=0, skip=10**6)  # counts, never holds
    sandbox.add_fault(arrivals)
    sandbox.add_fault(Fault(route="POST /api/token/", **fault))
    first = cli("apply", "--yes", "--timeout", "1")
    assert first.code == first_code, first.all
    # the server finishes what it was sent: wait until every create that arrived is answered
    wait_for(
        lambda: (
            answered(sandbox, "POST", "/api/token/") + (1 if fault.get("drop") == "before" else 0)
            >= arrivals.arrived
        ),
        "every create answered",
    )
    assert len(lock_rows(sandbox)) == 1, lock_rows(sandbox)  # exactly one lock, ever
    again = cli("apply", "--yes", "--timeout", "1")
    assert again.code == 0, again.all
    names = jobs(cli)
    assert len(names) == len(set(names)) == 4
    assert len(sink_keys(cli)) == 4
    assert all(r["deleted_at"] is not None for r in lock_rows(sandbox))
    assert len(lock_rows(sandbox)) <= 2  # the rerun took one of its own only if it created


# ---------------------------------------------------------------------------- a live holder


def test_unlock_a_live_holder_refused_then_forced_and_the_holder_stops(
    cli: Cli, tmp_path: Path
) -> None:
    sandbox = cli.sandbox
    cli.spec(_spec(MANY))
    lock_dir = tmp_path / "locks"
    arrivals = Arrivals()
    sandbox.add_fault(arrivals)
    gate = Hold(route="POST /api/token/", skip=2)
    sandbox.add_fault(gate)
    # a short lease, so the holder renews every second
    # (docs/robustness.md#tuning-knob-provisioner_lock_lease)
    # Told a (generous) rate limit, it sends one create at a time: every write it sent
    # before noticing has arrived by then, and the count after is exact.
    holder = apply_process(
        cli,
        lock_dir,
        env={
            "PROVISIONER_LOCK_LEASE": "3",
            "GITHUB_RUN_ID": "4242",
            "PROVISIONER_RATE_LIMIT": "1000/1",
        },
    )
    stderr = Lines(holder.stderr)
    wait_for(lambda: jobs(cli) and gate.held, "the first created token, and a create held")
    (live,) = [r for r in lock_rows(sandbox) if r["deleted_at"] is None]

    shown = cli("unlock")
    assert shown.code == 4, shown.all
    assert f"pid {holder.pid}" in shown.out and "run 4242" in shown.out and "live" in shown.out
    assert f"provisioner unlock {live['id']} --force" in shown.err
    assert "renews its lease" in shown.err

    as_json = cli("--output", "json", "unlock")
    assert as_json.code == 4
    document = json.loads(as_json.out)
    assert document["kind"] == "unlock" and document["refused"] == 1
    (entry,) = document["locks"]
    assert entry["id"] == live["id"] and entry["live"] is True
    assert entry["holder"]["pid"] == str(holder.pid) and entry["holder"]["run"] == "4242"

    assert cli("unlock", "--force").code == 64  # a live lock is named by its id
    assert cli("unlock", str(live["id"]), "--force").code == 64  # no --yes, no terminal
    assert sandbox.store.token(live["id"]) is not None

    forced = cli("unlock", str(live["id"]), "--force", "--yes")
    assert forced.code == 0, forced.all
    assert sandbox.store.token(live["id"]) is None
    stderr.wait_for("the account's lock was lost")  # the holder's next renewal noticed
    noticed = len(arrivals.seen)
    gate.gate.set()  # the creates it had sent before land now
    out = holder.stdout.read() if holder.stdout else ""
    holder.wait(timeout=60)
    err = stderr.text
    close(holder)
    assert holder.returncode == 4, out + err
    assert "was removed, by `provisioner unlock --force`" in err
    assert "stopped before its next write" in err and "provisioner unlock" in err
    assert arrivals.writes(noticed) == []  # nothing written after it noticed
    assert "not sent: the account's lock was lost" in out
    # the rerun finishes the job, with no duplicate
    cli.env["PROVISIONER_LOCK_DIR"] = str(lock_dir)
    assert cli("apply", "--yes").code == 0
    names = jobs(cli)
    assert len(names) == len(set(names)) == MANY
    assert_no_secrets(sandbox, out, err, shown.all, forced.all)


def test_unlock_with_no_lock_and_with_a_wrong_id(cli: Cli) -> None:
    cli.spec(_spec(1))
    assert cli("apply", "--yes").code == 0
    none = cli("unlock")
    assert none.code == 0 and "No apply holds the account's lock" in none.out
    job = cli.row("job")["id"]
    wrong = cli("unlock", str(job))
    assert wrong.code == 1 and "is not a lock token" in wrong.err
    assert f"provisioner delete {job}" in wrong.err
    missing = cli("unlock", "999999")
    assert missing.code == 1 and "no lock token with id 999999" in missing.err
    assert json.loads(cli("--output", "json", "unlock").out)["locks"] == []


# ---------------------------------------------------------------------------- full account


def _full(tmp_path: Path, cap: int) -> tuple[Sandbox, Cli]:
    sandbox = Sandbox(db_path=str(tmp_path / "s.db"), max_user_tokens=cap).start(port=0)
    work = tmp_path / "work"
    work.mkdir()
    sandbox.seed(cap, prefix="seed-")
    return sandbox, Cli(sandbox, work)


KEEP = "".join(f"  - name: seed-{i}\n    quota: 10 USD\n" for i in range(1, 9))


def test_a_full_account_can_be_cleaned_up_and_more_is_refused_in_words(tmp_path: Path) -> None:
    sandbox, cli = _full(tmp_path, 10)
    try:
        cli.spec("manage:\n  match: ['seed-*']\n  orphans: delete\ntokens:\n" + KEEP)
        plan = cli("plan")
        assert plan.code == 0, plan.all
        assert "delete  seed-10" in plan.out and "delete  seed-9" in plan.out
        applied = cli("apply", "--yes")
        assert applied.code == 0, applied.all
        assert sorted(cli.names()) == sorted(f"seed-{i}" for i in range(1, 9))
        assert not lock_rows(sandbox)  # deletes only: no lock token was needed
        # fill it again, then ask for one more
        sandbox.seed(2, prefix="extra-")
        more = "server:\n  max_tokens: 10\ntokens:\n" + KEEP + "  - name: one-more\n"
        cli.spec(more)
        refused = cli("plan")
        assert refused.code == 4, refused.all
        for words in ("server.max_tokens", "holds 10 tokens", "its cap is 10", "would need 12"):
            assert words in refused.all, words
        assert "`provisioner list`" in refused.all and "`provisioner delete ID`" in refused.all
        assert "count" in refused.all
        # without server.max_tokens plan cannot know the cap; apply's lock finds it full
        cli.spec("tokens:\n" + KEEP + "  - name: one-more\n")
        before = len(sandbox.requests)
        blocked = cli("apply", "--yes")
        assert blocked.code == 4, blocked.all
        assert "holds 10 tokens and its cap is 10" in blocked.err
        assert "`provisioner delete ID`" in blocked.err and "已达到最大令牌数量限制" in blocked.err
        posts = [r for r in sandbox.requests[before:] if r[:2] == ("POST", "/api/token/")]
        assert len(posts) == 1  # the lock's create only
    finally:
        sandbox.stop()


def test_revoke_on_a_full_account_reports_the_disable_and_the_failed_replacement(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox, cli = _full(tmp_path, 3)
    try:
        cli.spec("keys:\n  to: json:keys.json\ntokens:\n  - name: seed-1\n    quota: 10 USD\n")
        key = "sk-" + cli.row("seed-1")["key"]
        monkeypatch.setattr(sys, "stdin", io.StringIO(key + "\n"))
        result = cli("revoke", "--yes")
        assert result.code == 6, result.all
        leaked = [r for r in cli.rows() if r["name"].startswith("seed-1.leaked-")]
        assert len(leaked) == 1 and leaked[0]["status"] == 2  # disabled: the key is dead
        summary = result.out.strip().splitlines()[-1]
        assert summary.startswith("Revoked (disabled) 1 key: seed-1"), summary
        assert "its replacement could not be created" in summary
        assert "Nothing was revoked" not in result.out
        assert "its cap is 3" in result.out and "`provisioner delete ID`" in result.out
        monkeypatch.setattr(sys, "stdin", io.StringIO(key + "\n"))
        as_json = json.loads(cli("--output", "json", "revoke", "--yes").out)
        assert as_json["summary"]["revoked"] == 0  # already revoked by the first run
        assert_no_secrets(sandbox, result.all)
    finally:
        sandbox.stop()


def test_revoke_says_how_many_tokens_the_account_holds_when_the_server_names_no_cap(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cap refusal without a number: revoke counts the account's tokens itself, as apply's
    lock does, instead of saying it holds 0 (docs/keys-in-use.md#revoke)."""
    cli.spec("keys:\n  to: json:keys.json\ntokens:\n  - name: app\n    quota: 10 USD\n")
    assert cli("apply", "--yes").code == 0
    cli.insert(name="other", remain_quota=500_000)
    key = "sk-" + cli.row("app")["key"]
    cli.sandbox.add_fault(Fault(route="POST /api/token/", message="token limit reached"))
    monkeypatch.setattr(sys, "stdin", io.StringIO(key + "\n"))
    result = cli("revoke", "--yes")
    assert result.code == 6, result.all
    assert "its replacement could not be created: the account is full" in result.out
    assert "holds 2 tokens and the server caps it" in result.out, result.out
    assert "(the server said: token limit reached" in result.out
    assert "holds 0 tokens" not in result.all
    assert_no_secrets(cli.sandbox, result.all)


# ---------------------------------------------------------------------------- reserved names


def test_a_reserved_name_is_refused_by_validate_with_its_line(cli: Cli) -> None:
    path = cli.spec("tokens:\n  - name: app\n  - name: Provisioner.Lock.deadbeef\n")
    result = cli("validate")
    assert result.code == 65, result.all
    assert f"{path.name}:4:11: name 'Provisioner.Lock.deadbeef' is in the namespace" in result.err
    before = len(cli.sandbox.requests)
    assert cli("apply", "--yes").code == 65
    assert cli.sandbox.requests[before:] == []  # never created: nothing was sent


def test_hand_made_tokens_in_the_namespace_are_unmanaged_and_never_deleted(cli: Cli) -> None:
    sandbox = cli.sandbox
    now = sandbox.now()
    with other_client(sandbox) as client:
        client.create_token({"name": "provisioner.lock.handmade", "remain_quota": 100})
        # shaped like a lock, but a usable key: made by hand
        client.create_token({"name": "provisioner.lock.0000beef", "remain_quota": 100})
        client.create_token({"name": "Provisioner.Lock.Mine", "expired_time": now - 10})
        # a lock left by version 0.2: created expired, no holder record
        client.create_token(
            {"name": "provisioner.lock.00c0ffee", "expired_time": now - 60, "remain_quota": 0}
        )
    hand_made = {"provisioner.lock.handmade", "provisioner.lock.0000beef", "Provisioner.Lock.Mine"}
    cli.spec("manage:\n  match: ['*']\n  orphans: delete\ntokens:\n  - name: app\n")
    plan = cli("plan")
    assert plan.code == 0, plan.all
    assert "3 unmanaged" in plan.out and "delete " not in plan.out
    listed = cli("list")
    exported = cli("export")
    assert exported.code == 0, exported.all
    for name in hand_made:
        assert name in listed.out
        assert f"'{name}'" in exported.err and f"name: {name}" not in exported.out
    assert "namespace of apply's lock tokens" in exported.err
    applied = cli("apply", "--yes")  # creates app: takes the lock, removes the dead 0.2 lock
    assert applied.code == 0, applied.all
    assert set(cli.names()) == hand_made | {"app"}
    gone = [
        r for r in sandbox.rows(include_deleted=True) if r["name"] == "provisioner.lock.00c0ffee"
    ]
    assert gone[0]["deleted_at"] is not None
    assert cli("plan", "--detailed-exitcode").code == 0


# ---------------------------------------------------------------------------- release, yield


def _lock_of_another_apply(sandbox: Sandbox) -> int:
    """Another apply's live lock, written straight into the sandbox's store (no request:
    a test's fault on creates never holds it)."""
    holder = Holder.of(host="build-7", pid=777, ci="github", run="31337", repo="acme/infra")
    now = sandbox.now()
    body = lock_body("provisioner.lock.0dd0c0de", now + 120, holder)
    (token_id,) = sandbox.store.insert_tokens(
        [{**body, "user_id": sandbox.user_id, "created_time": now, "status": 2}]
    )
    return token_id


@pytest.mark.parametrize("busy", [2, 100], ids=["busy twice", "busy for good"])
def test_a_busy_server_while_yielding_is_the_locks_situation(cli: Cli, busy: int) -> None:
    """Another apply's lock lands while ours is being created (its id is lower: it wins);
    removing ours meets "database is locked" (SQLITE_BUSY): retried, then exit 4 naming
    the holder, never a bare exit 1."""
    sandbox = cli.sandbox
    cli.env["PROVISIONER_RETRY"] = FAST_RETRY
    cli.spec(_spec(2))
    ours = Hold(route="POST /api/token/", hold=1)
    sandbox.add_fault(ours)
    for route in ("POST /api/token/batch", "DELETE /api/token/:id"):
        sandbox.add_fault(
            Fault(route=route, message="database is locked (5) (SQLITE_BUSY)", times=busy)
        )
    other: list[int] = []

    def meanwhile() -> None:
        wait_for(lambda: ours.held, "our lock's create at the server")
        other.append(_lock_of_another_apply(sandbox))
        ours.gate.set()

    thread = threading.Thread(target=meanwhile)
    thread.start()
    result = cli("apply", "--yes")
    thread.join()
    assert result.code == 4, result.all
    assert "another apply holds the account's lock" in result.err
    assert "pid 777 on build-7" in result.err and "GitHub Actions run 31337" in result.err
    assert f"provisioner unlock {other[0]}" in result.err
    assert "Traceback" not in result.all
    mine = [r for r in lock_rows(sandbox) if r["id"] != other[0]]
    assert len(mine) == 1
    if busy == 2:
        assert mine[0]["deleted_at"] is not None  # removed on a later try
    else:
        assert mine[0]["deleted_at"] is None
        assert "could not be removed (database is locked" in result.err
        assert f"provisioner unlock {mine[0]['id']}" in result.err
    assert jobs(cli) == []


def test_a_busy_server_while_releasing_keeps_the_applys_result(cli: Cli) -> None:
    sandbox = cli.sandbox
    cli.env["PROVISIONER_RETRY"] = FAST_RETRY
    cli.spec(_spec(2))
    for route in ("POST /api/token/batch", "DELETE /api/token/:id"):
        sandbox.add_fault(Fault(route=route, message="database is locked (5) (SQLITE_BUSY)"))
    result = cli("apply", "--yes")
    assert result.code == 0, result.all  # the tokens were made and delivered
    (left,) = [r for r in lock_rows(sandbox) if r["deleted_at"] is None]
    assert "could not release the account's lock token" in result.err
    assert f"provisioner unlock {left['id']}" in result.err and "lease ends by itself" in result.err
    sandbox.clear_faults()
    assert cli("unlock", "--yes").code == 4  # it is live: refused without --force
    assert cli("unlock", str(left["id"]), "--force", "--yes").code == 0


def test_an_apply_that_creates_nothing_takes_no_lock_token(cli: Cli) -> None:
    cli.spec(_spec(3))
    assert cli("apply", "--yes").code == 0
    locks = len(lock_rows(cli.sandbox))
    cli.spec(_spec(3).replace("count: 3", "count: 3\n    quota: 2 USD"))  # updates only
    before = len(cli.sandbox.requests)
    result = cli("apply", "--yes")
    assert result.code == 0, result.all
    assert not [r for r in cli.sandbox.requests[before:] if r[:2] == ("POST", "/api/token/")]
    assert len(lock_rows(cli.sandbox)) == locks


@pytest.mark.parametrize("running", ["creates", "updates"])
def test_rotate_is_refused_by_an_apply_running_on_this_machine(
    cli: Cli, tmp_path: Path, running: str
) -> None:
    """rotate takes this machine's file lock as apply does: while an apply of the account
    runs here (one that creates holds a lock token too, one that only updates holds the
    file lock alone), rotate is refused (exit 4, naming it) before it writes anything,
    and goes through once that apply is done."""
    sandbox = cli.sandbox
    lock_dir = tmp_path / "locks"
    cli.env["PROVISIONER_LOCK_DIR"] = str(lock_dir)
    cli.spec(_spec(2))
    assert cli("apply", "--yes").code == 0
    if running == "creates":
        cli.spec(_spec(4))
        gate = Hold(route="POST /api/token/", skip=1, hold=1)  # its lock token passes
    else:
        cli.spec(_spec(2).replace("count: 2", "count: 2\n    quota: 2 USD"))
        gate = Hold(route="PUT /api/token/", hold=1)
    sandbox.add_fault(gate)
    apply = apply_process(cli, lock_dir)
    stderr = Lines(apply.stderr)
    wait_for(lambda: gate.held, "the running apply's first write, held at the server")
    locks = [r["id"] for r in lock_rows(sandbox)]
    tokens = cli.names()

    refused = cli("rotate", "job", "--yes")
    assert refused.code == 4, refused.all
    assert "another apply of this account is running on this machine" in refused.err
    assert f"pid {apply.pid}" in refused.err  # the lock file names the apply holding it
    assert [r["id"] for r in lock_rows(sandbox)] == locks  # rotate took no lock token
    assert cli.names() == tokens  # and renamed nothing

    gate.gate.set()
    out = apply.stdout.read() if apply.stdout else ""
    apply.wait(timeout=60)
    err = stderr.text
    close(apply)
    assert apply.returncode == 0, out + err
    rotated = cli("rotate", "job", "--yes")
    assert rotated.code == 0, rotated.all
    assert [n for n in cli.names() if n.startswith("job.old-")]


def test_renewal_failing_past_the_lease_end_stops_the_apply(cli: Cli, tmp_path: Path) -> None:
    sandbox = cli.sandbox
    cli.env.update({"PROVISIONER_RETRY": FAST_RETRY, "PROVISIONER_LOCK_LEASE": "3"})
    cli.spec(_spec(MANY))
    gate = Hold(route="POST /api/token/", skip=2)
    sandbox.add_fault(gate)
    sandbox.add_fault(Fault(route="GET /api/token/:id", status=500))  # renewals cannot read

    def meanwhile() -> None:
        wait_for(lambda: gate.held, "a create held")
        # the lease (3 s) and one more go by on the server's clock before the creates land
        sandbox.advance(10)
        gate.gate.set()

    thread = threading.Thread(target=meanwhile)
    thread.start()
    result = cli("apply", "--yes")
    thread.join()
    assert result.code == 4, result.all
    assert "the account's lock was lost" in result.err and "provisioner unlock" in result.err
    names = jobs(cli)
    assert len(names) == len(set(names)) < MANY


@pytest.mark.parametrize("meanwhile", ["nobody", "another apply"])
def test_a_lease_that_ran_out_while_the_server_made_us_wait(cli: Cli, meanwhile: str) -> None:
    """The server holds the apply's creates past its lease (as a long rate-limit pause
    would): the next renewal takes the lease back when no other apply holds a live lock,
    and gives the account up when one does."""
    sandbox = cli.sandbox
    cli.env.update({"PROVISIONER_RETRY": FAST_RETRY, "PROVISIONER_LOCK_LEASE": "3"})
    cli.spec(_spec(MANY))
    gate = Hold(route="POST /api/token/", skip=2)
    sandbox.add_fault(gate)
    other: list[int] = []

    def server_side() -> None:
        wait_for(lambda: gate.held, "a create held")
        if meanwhile == "another apply":
            other.append(_lock_of_another_apply(sandbox))  # live for 2 minutes
        sandbox.advance(10)  # our lease (3 s) ran out meanwhile
        gate.gate.set()

    thread = threading.Thread(target=server_side)
    thread.start()
    result = cli("apply", "--yes")
    thread.join()
    names = jobs(cli)
    assert len(names) == len(set(names))
    if meanwhile == "nobody":
        assert result.code == 0, result.all
        assert "renewed: no other apply took it" in result.err
        assert len(names) == MANY
    else:
        assert result.code == 4, result.all
        assert "another apply took the account's lock" in result.err
        assert f"lock {other[0]}" in result.err and "pid 777 on build-7" in result.err
        assert len(names) < MANY
