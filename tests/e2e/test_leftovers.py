"""The file says it, the server must match: what revoke and rotation leave behind, and how
rotation treats a key (docs/reconcile.md#leftovers, #rotation). Issue 17, items 3 to 6.

On every recorded generation: a revoked key re-enabled in the web UI is a change that
apply undoes; a rotated-out key whose expiry was extended in the web UI is cut back; a
scheduled rotation of an expired key replaces it without reviving it; a rotation whose
new key cannot be delivered leaves the old token untouched; a date at or before the
epoch makes an expired token, never one that never expires.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.e2e import webui
from tests.e2e.conftest import Cli, profile_cli
from tests.e2e.sinkfiles import json_keys

PROFILES = ["new-api-2026-08", "new-api-2026-07", "new-api-2025-10", "one-api-2025-02"]
DAY = 86400


@pytest.fixture(params=PROFILES)
def gen(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cli]:
    with profile_cli(tmp_path, request.param) as cli:
        yield cli


def today(cli: Cli) -> str:
    return datetime.fromtimestamp(cli.sandbox.now(), UTC).strftime("%Y%m%d")


def day_start(cli: Cli) -> int:
    now = cli.sandbox.now()
    return now - now % DAY


def works(cli: Cli, key: str) -> bool:
    return cli.sandbox.relay_auth("sk-" + key)


def test_a_revoked_key_re_enabled_in_the_web_ui_is_disabled_again(
    gen: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli = gen
    # limits that would refuse an ordinary disable: a leaked key is not held back by them
    cli.spec(
        "safety:\n  max_disables: 0\n  min_idle: 1d\nkeys:\n  to: json:keys.json\n"
        "tokens:\n  - name: app\n"
    )
    assert cli("apply", "--yes").code == 0
    leaked = cli.row("app")
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"sk-{leaked['key']}\n"))
    assert cli("revoke", "--yes").code == 0
    leftover = f"app.leaked-{today(cli)}"
    assert cli.row(leftover)["status"] == 2 and not works(cli, leaked["key"])
    assert cli("plan", "--detailed-exitcode").code == 0

    # someone switches it back on in the web UI, and the leaked key is used at once
    webui.switch(cli, leftover, enabled=True)
    assert works(cli, leaked["key"])
    assert cli.sandbox.consume(leaked["id"], 10)
    plan = cli("plan", "--detailed-exitcode")
    assert plan.code == 2, plan.all
    assert f"! disable {leftover}" in plan.out.replace("  ", " ")
    assert "re-enabled since, so disabled again" in plan.out
    applied = cli("apply", "--yes")
    assert applied.code == 0, applied.all
    assert cli.row(leftover)["status"] == 2 and not works(cli, leaked["key"])
    assert cli.row("app")["status"] == 1  # the replacement is untouched
    assert cli("plan", "--detailed-exitcode").code == 0


def test_an_old_keys_expiry_extended_in_the_web_ui_is_cut_back(gen: Cli) -> None:
    cli = gen
    cli.spec(
        "keys:\n  to: json:keys.json\ntokens:\n  - name: svc\n"
        "    rotate: {every: 30d, overlap: 1d}\n"
    )
    assert cli("apply", "--yes").code == 0
    old_key = cli.row("svc")["key"]
    assert cli("rotate", "svc", "--yes").code == 0
    leftover = f"svc.old-{today(cli)}"
    bound = day_start(cli) + DAY + DAY  # the rotation's day end, plus the overlap
    assert cli.row(leftover)["expired_time"] <= bound
    assert cli("plan", "--detailed-exitcode").code == 0

    for extended in (-1, cli.sandbox.now() + 90 * DAY):  # never, then three months
        webui.edit(cli, leftover, expired_time=extended)
        plan = cli("plan", "--detailed-exitcode")
        assert plan.code == 2, plan.all
        assert f"~ update  {leftover}" in plan.out and "expired_time:" in plan.out
        applied = cli("apply", "--yes")
        assert applied.code == 0, applied.all
        assert cli.row(leftover)["expired_time"] == bound
        assert cli("plan", "--detailed-exitcode").code == 0

    # once the overlap is over, the old key stops and the next apply removes its token
    cli.sandbox.advance(bound - cli.sandbox.now() + 60)
    assert not works(cli, old_key)
    cleanup = cli("apply", "--yes")
    assert cleanup.code == 0 and "expired rotation predecessor" in cleanup.out
    assert cli.names() == ["svc"]


@pytest.mark.parametrize("dead", ["expired", "exhausted", "exhausted, listed 1"])
def test_a_scheduled_rotation_replaces_a_dead_key_without_reviving_it(gen: Cli, dead: str) -> None:
    cli = gen
    expires = "5d" if dead == "expired" else "30d"
    cli.spec(
        f"keys:\n  to: json:keys.json\ntokens:\n  - name: svc\n    expires: {expires}\n"
        "    quota: 1 USD\n    rotate: {every: 7d, overlap: 1d}\n"
    )
    assert cli("apply", "--yes").code == 0
    old = cli.row("svc")
    if dead == "expired":
        cli.sandbox.advance(15 * DAY)  # expired 10 days ago; nobody called: still listed as 1
    else:
        cli.sandbox.advance(4 * DAY)
        if dead == "exhausted":
            assert cli.sandbox.consume(old["id"], 500_000)  # the whole budget, and then some
            assert cli.sandbox.consume(old["id"], 1) is False
        else:  # spent where nothing marks it (a server with Redis): listed as 1
            cli.sandbox.store.update_token(old["id"], {"remain_quota": 0, "used_quota": 500_000})
        cli.sandbox.advance(4 * DAY)
    before = cli.row("svc")
    plan = cli("plan", "--detailed-exitcode")
    state = "expired" if dead == "expired" else "exhausted"
    assert plan.code == 2 and f"the old token is {state}: replaced, not revived" in plan.out
    applied = cli("apply", "--yes")
    assert applied.code == 0, applied.all
    moved = cli.row(f"svc.old-{today(cli)}")
    assert moved["id"] == old["id"]
    assert moved["expired_time"] <= before["expired_time"]  # never later
    assert moved["status"] == before["status"]  # never re-enabled
    if dead == "expired":
        assert moved["expired_time"] == old["expired_time"] < cli.sandbox.now()
    else:
        assert moved["remain_quota"] <= 0  # the rename gives it no budget back
    assert not works(cli, old["key"])  # still dead
    new = cli.row("svc")
    assert works(cli, new["key"]) and json_keys(cli.workdir / "keys.json")["SVC"] == (
        "sk-" + new["key"]
    )
    if dead == "expired":
        # the leftover has passed its expiry: the next apply deletes it, then all is quiet
        assert cli("apply", "--yes").code == 0
        assert cli.names() == ["svc"]
    assert cli("plan", "--detailed-exitcode").code == 0


VAULT = """#!/bin/sh
# a secret store that can be down: one key per call, the key on stdin
if [ -e vault.down ]; then echo "vault is sealed" >&2; exit 3; fi
echo "$1=$(cat)" >> vault.txt
"""


def test_a_rotation_whose_key_cannot_be_delivered_leaves_the_old_token_untouched(
    gen: Cli,
) -> None:
    cli = gen
    (cli.workdir / "vault.sh").write_text(VAULT)
    cli.spec(
        "keys:\n  to: exec:sh vault.sh {key_name}\ntokens:\n  - name: svc\n"
        "    rotate: {every: 7d, overlap: 1d}\n"
    )
    assert cli("apply", "--yes").code == 0
    old = cli.row("svc")
    assert (cli.workdir / "vault.txt").read_text() == f"SVC=sk-{old['key']}\n"
    cli.sandbox.advance(8 * DAY)
    (cli.workdir / "vault.down").touch()
    failed = cli("apply", "--yes")
    assert failed.code == 6, failed.all
    assert "vault is sealed" in failed.out
    assert "the old token was left as it was (svc, expiry unchanged)" in failed.out
    unchanged = cli.row("svc")
    assert (unchanged["id"], unchanged["name"], unchanged["expired_time"]) == (
        old["id"],
        "svc",
        old["expired_time"],
    )
    assert works(cli, old["key"])
    (pending,) = [r for r in cli.rows() if r["name"].startswith("svc.new-")]
    assert pending["status"] == 2 and not works(cli, pending["key"])
    assert (cli.workdir / "vault.txt").read_text() == f"SVC=sk-{old['key']}\n"

    # the vault is back: the rerun rotates, removes the unfinished one, and is quiet after
    (cli.workdir / "vault.down").unlink()
    rerun = cli("apply", "--yes")
    assert rerun.code == 0, rerun.all
    new = cli.row("svc")
    assert new["id"] not in (old["id"], pending["id"])
    assert cli.names() == sorted(["svc", f"svc.old-{today(cli)}"])
    assert (cli.workdir / "vault.txt").read_text().splitlines()[-1] == f"SVC=sk-{new['key']}"
    assert cli("plan", "--detailed-exitcode").code == 0


def test_an_expiry_at_or_before_the_epoch_makes_an_expired_token(gen: Cli) -> None:
    cli = gen
    cli.spec(
        "keys:\n  to: json:keys.json\ntokens:\n"
        '  - name: epoch\n    expires: "1970-01-01"\n'
        '  - name: before\n    expires: "1969-12-31T23:59:59Z"\n'
        '  - name: offset\n    expires: "1970-01-01T08:00:00+08:00"\n'
    )
    validated = cli("validate")
    assert validated.code == 0 and "has passed" in validated.all
    applied = cli("apply", "--yes")
    assert applied.code == 0, applied.all
    for name in ("epoch", "before", "offset"):
        row = cli.row(name)
        assert row["expired_time"] == 1, (name, row["expired_time"])  # never 0 or -1
        assert not works(cli, row["key"])
    again = cli("plan", "--detailed-exitcode")
    assert again.code == 0, again.all
    assert "expired-by-file" in again.out


def test_rotate_overlap_longer_than_the_file_allows_is_refused(cli: Cli) -> None:
    cli.spec(
        "keys:\n  to: json:keys.json\ntokens:\n  - name: svc\n"
        "    rotate: {every: 30d, overlap: 2d}\n  - name: plain\n"
    )
    assert cli("apply", "--yes").code == 0
    refused = cli("rotate", "svc", "--yes", "--overlap", "3d")
    assert refused.code == 64, refused.all
    assert "its rotate.overlap" in refused.err and "--overlap 2d or less" in refused.err
    assert cli("rotate", "plain", "--yes", "--overlap", "8d").code == 64  # 7 days at most
    assert [n for n in cli.names() if ".old-" in n] == []  # nothing was sent
    assert cli("rotate", "plain", "--yes", "--overlap", "7d").code == 0
    assert cli("plan", "--detailed-exitcode").code == 0


def test_saved_plans_carry_rotations_and_leftovers(gen: Cli) -> None:
    cli = gen
    cli.spec(
        "keys:\n  to: json:keys.json\ntokens:\n  - name: svc\n"
        "    rotate: {every: 7d, overlap: 1d}\n  - name: app\n"
    )
    assert cli("apply", "--yes").code == 0
    old = cli.row("svc")
    cli.sandbox.advance(8 * DAY)
    assert cli("plan", "--out", "plan.json").code == 0
    applied = cli("apply", "plan.json", "--yes")
    assert applied.code == 0, applied.all
    new = cli.row("svc")
    assert new["id"] != old["id"] and cli.row(f"svc.old-{today(cli)}")["id"] == old["id"]
    assert json_keys(cli.workdir / "keys.json")["SVC"] == "sk-" + new["key"]
    # a leftover's restore saved in a plan; the leftover moved again meanwhile: stale
    webui.edit(cli, f"svc.old-{today(cli)}", expired_time=-1)
    assert cli("plan", "--out", "restore.json").code == 0
    webui.edit(cli, f"svc.old-{today(cli)}", expired_time=cli.sandbox.now() + 40 * DAY)
    stale = cli("apply", "restore.json", "--yes")
    assert stale.code == 5 and f"svc.old-{today(cli)}" in stale.err
    assert cli("plan", "--out", "restore.json").code == 0
    assert cli("apply", "restore.json", "--yes").code == 0
    assert cli("plan", "--detailed-exitcode").code == 0
