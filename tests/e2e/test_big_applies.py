"""Big applies under real rate limits and token caps; keys that never go missing; one apply
at a time (docs/reconcile.md#big-applies-and-rate-limits).

Rate limits are scaled (40 requests per 4 s instead of per 75 s) so the suite stays
fast; bench/rate_limited_apply.py runs the same story at full scale.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from provisioner.cli.execution import CREATE_CONCURRENCY
from provisioner.sandbox import Sandbox
from tests.e2e.conftest import Cli, profile_cli
from tests.e2e.lockkit import Hold, Lines, close, wait_for
from tests.e2e.sinkfiles import json_keys

LOCK = "provisioner.lock."


def _spec(count: int, sink: str = "json:keys.json") -> str:
    return f"keys:\n  to: {sink}\ntokens:\n  - name: job\n    count: {count}\n"


@pytest.fixture
def limited(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cli]:
    with profile_cli(
        tmp_path, request.param, rate_limits=True, limits={"global": (40, 4.0)}
    ) as cli:
        yield cli


def _assert_all_there(cli: Cli, count: int) -> None:
    names = [n for n in cli.names() if not n.startswith(LOCK)]
    assert len(names) == count and len(set(names)) == count, Counter(names).most_common(3)
    assert not [n for n in cli.names() if n.startswith(LOCK)], "the lock token was left behind"
    keys = json_keys(cli.workdir / "keys.json")
    rows = {r["name"]: r["key"] for r in cli.rows()}
    wrong = [n for n in names if keys.get(n.upper().replace("-", "_")) != "sk-" + rows[n]]
    assert not wrong, f"keys missing or wrong in the sink: {wrong[:5]}"


@pytest.mark.parametrize("limited", ["new-api-2026-08"], indirect=True)
def test_told_the_limit_the_apply_waits_and_finishes(limited: Cli) -> None:
    cli = limited
    cli.spec(_spec(60))
    result = cli("apply", "--yes", env={"PROVISIONER_RATE_LIMIT": "40/4"})
    assert result.code == 0, result.all
    assert "Waiting" in result.err and "the rate limit for requests (40 per 4 s)" in result.err
    _assert_all_there(cli, 60)
    refused = [r for r in cli.sandbox.requests if r[2] == 429]
    assert refused == []  # told the limit, the client never ran into it


# 2026-08 sends Retry-After; 2025-10, like every server before 2026-07-21, sends none, and
# the client reads its 429 against the generation's window (180 s): the knob says 4 s here.
UNTOLD = {
    "new-api-2026-08": {},
    "new-api-2025-10": {"PROVISIONER_RETRY": "rate_window=4"},
}
LEARNED = re.compile(
    r"the server limits requests: (\d+) per (\d+) s \(learned from a 429\); pacing to it"
)


@pytest.mark.parametrize("limited", list(UNTOLD), indirect=True)
def test_not_told_the_limit_the_apply_learns_it_from_the_first_429_and_keeps_it(
    limited: Cli,
) -> None:
    cli = limited
    del cli.env["PROVISIONER_RATE_LIMIT"]  # not told: the default
    cli.spec(_spec(100) + "  - name: run\n    count: 60\n")  # 160 creates: four windows
    result = cli("apply", "--yes", env=UNTOLD[cli.sandbox.profile.name])
    assert result.code == 0, result.all
    learned = LEARNED.findall(result.err)
    assert len(learned) == 1, result.err  # said once
    count, window = map(int, learned[0])
    assert count == 40 and window in (4, 5), result.err  # Retry-After is whole seconds
    refused = [r for r in cli.sandbox.requests if r[2] == 429]
    # the first burst meets the limit with at most a batch of creates in flight; then the
    # learned pace holds: no second burst of 429s
    assert 1 <= len(refused) <= CREATE_CONCURRENCY, refused
    _assert_all_there(cli, 160)
    assert cli("plan", "--detailed-exitcode").code == 0


@pytest.mark.parametrize("limited", ["new-api-2025-10"], indirect=True)
def test_rate_limit_off_is_not_paced_and_waits_out_each_429(limited: Cli) -> None:
    cli = limited
    cli.spec(_spec(60))
    result = cli("apply", "--yes")  # PROVISIONER_RATE_LIMIT=off: the fixture's
    assert result.code == 0, result.all
    assert "the server's rate limit (HTTP 429)" in result.err, result.err
    assert not LEARNED.search(result.err)  # told off: nothing is learned
    _assert_all_there(cli, 60)


@pytest.mark.parametrize("sink", ["json:keys.json", "dotenv:keys.env"])
def test_keys_removed_or_changed_in_the_sink_are_delivered_again(cli: Cli, sink: str) -> None:
    cli.spec(_spec(3, sink))
    assert cli("apply", "--yes").code == 0
    path = cli.workdir / sink.split(":", 1)[1]
    text = path.read_text()
    job2 = "sk-" + cli.row("job-2")["key"]
    text = text.replace(job2, "sk-" + "X" * 48)  # changed
    text = "\n".join(
        line for line in text.splitlines() if "JOB_3" not in line or sink.startswith("json")
    )
    if sink.startswith("json"):
        data = json.loads(text)
        del data["JOB_3"]  # removed
        text = json.dumps(data)
    path.write_text(text + "\n")
    plan = cli("plan", "--detailed-exitcode")
    assert plan.code == 2, plan.all
    assert (
        "deliver job-2" in plan.out
        and "deliver job-3" in plan.out
        and "deliver job " not in plan.out
    )
    assert "different key" in plan.out and "missing from the sink" in plan.out
    as_json = json.loads(cli("--output", "json", "plan").out)
    assert sorted(a["name"] for a in as_json["actions"] if a["kind"] == "deliver") == [
        "job-2",
        "job-3",
    ]
    assert "deliver" in cli("--output", "markdown", "plan").out
    applied = cli("apply", "--yes")
    assert applied.code == 0, applied.all
    assert "2 keys delivered" in applied.out
    for name in ("job", "job-2", "job-3"):
        assert "sk-" + cli.row(name)["key"] in path.read_text()
    assert cli("plan", "--detailed-exitcode").code == 0


def test_a_plan_that_cannot_fit_the_token_cap_is_refused_before_anything_is_sent(
    cli: Cli,
) -> None:
    cli.sandbox.seed(990)
    cli.spec(_spec(20))
    plan = cli("plan")
    assert plan.code == 4, plan.all
    assert "server.max_tokens" in plan.all and "1011" in plan.all and "1000" in plan.all
    before = len(cli.sandbox.requests)
    applied = cli("apply", "--yes")
    assert applied.code == 4, applied.all
    writes = [r for r in cli.sandbox.requests[before:] if r[0] != "GET"]
    assert writes == []  # no create, not even the lock's
    # the file can say the server allows more
    cli.spec("server:\n  max_tokens: 2000\n" + _spec(20))
    assert cli("plan").code == 0


def test_a_cap_error_stops_the_creates_and_the_rest_are_skipped(tmp_path: Path) -> None:
    sb = Sandbox(db_path=str(tmp_path / "s.db"), max_user_tokens=30).start(port=0)
    try:
        work = tmp_path / "work"
        work.mkdir()
        cli = Cli(sb, work)
        cli.spec(_spec(30 + CREATE_CONCURRENCY + 10))  # some are never sent
        result = cli("apply", "--yes")
        assert result.code == 6, result.all
        names = [n for n in cli.names() if not n.startswith(LOCK)]
        # the lock token holds the 30th place while apply runs
        assert len(names) == 29 and len(set(names)) == 29
        creates = [r for r in sb.requests if r[0] == "POST" and r[1] == "/api/token/"]
        # the lock, the creates that fit, at most the others in flight when the cap answered
        assert len(creates) <= 1 + 29 + CREATE_CONCURRENCY
        assert "skipped" in result.out and "not sent" in result.out
        assert "The server caps this account at 30 tokens" in result.out
        summary = result.out.strip().splitlines()[-1]
        assert summary.startswith("Apply partly failed") and "more" in summary
        assert all(line.count("job-") <= 3 for line in result.out.splitlines())
    finally:
        sb.stop()


def _apply_process(cli: Cli, work: Path, lock_dir: Path) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        **cli.env,
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        "PROVISIONER_LOCK_DIR": str(lock_dir),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "provisioner", "apply", "--yes", "--lock-timeout", "60s"],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("machines", ["one machine", "two machines"])
def test_two_applies_at_once_leave_no_duplicates(cli: Cli, tmp_path: Path, machines: str) -> None:
    # One machine: the file lock orders them. Two machines (a lock folder each): only the
    # lock token on the server does. The first apply's creates wait at the server until the
    # second says it is waiting, so the two overlap however loaded the machine is.
    cli.sandbox.latency = 0.05
    cli.spec(_spec(25))
    dirs = [
        tmp_path / "locks-a",
        tmp_path / ("locks-a" if machines == "one machine" else "locks-b"),
    ]
    gate = Hold(route="POST /api/token/", skip=1)  # its lock's create passes; its creates wait
    cli.sandbox.add_fault(gate)
    first = _apply_process(cli, cli.workdir, dirs[0])
    second = None
    try:
        wait_for(lambda: gate.held, "the first apply creating, with the lock held")
        assert [r["name"] for r in cli.rows() if r["name"].startswith(LOCK)]
        second = _apply_process(cli, cli.workdir, dirs[1])
        err = Lines(second.stderr)
        err.wait_for("waiting for another apply")
        gate.gate.set()
        first_out, first_err = first.communicate(timeout=120)
        second_out = second.stdout.read() if second.stdout else ""
        second.wait(timeout=120)
        second_err = err.text
    finally:
        gate.gate.set()
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
            if process is not None:
                close(process)
    assert (first.returncode, second.returncode) == (0, 0), (first_err, second_err)
    names = cli.names()
    assert len(names) == len(set(names)) == 25, Counter(names).most_common(3)
    assert "Apply complete" in first_out, first_out
    assert "No changes" in second_out, second_out  # the second found it done
