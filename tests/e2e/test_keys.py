"""Key delivery, reveal and rotation end to end (docs/reconcile.md#rotation)."""

from __future__ import annotations

import json
import os
import stat

from tests.e2e.conftest import Cli

DAY = 86400


def keys(cli: Cli, name: str = "keys.json") -> dict[str, str]:
    """The keys a JSON sink holds (without the origins recorded beside them)."""
    data = json.loads((cli.workdir / name).read_text())
    return {k: v for k, v in data.items() if k != "provisioner:origins"}


def test_new_keys_go_to_the_sink_0600(cli: Cli) -> None:
    cli.spec("keys:\n  to: json:secrets/keys.json\ntokens:\n  - name: a\n    key_name: A_KEY\n")
    assert cli("apply", "--yes").code == 0
    path = cli.workdir / "secrets" / "keys.json"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    origin = f"{cli.sandbox.url} user {cli.sandbox.user_id}"
    assert json.loads(path.read_text()) == {
        "A_KEY": "sk-" + cli.row("a")["key"],
        "provisioner:origins": {"A_KEY": origin},
    }


def test_no_sink_reveals_nothing_and_says_how(cli: Cli) -> None:
    cli.spec("tokens:\n  - name: a\n")
    result = cli("apply", "--yes")
    assert result.code == 0
    assert "provisioner reveal a" in result.out
    assert not any("key" in path for _, path, _ in cli.sandbox.requests)


def test_failed_delivery_disables_the_new_token(cli: Cli) -> None:
    cli.spec("tokens:\n  - name: a\n  - name: b\n")
    result = cli("apply", "--yes", "--keys-to", "exec:sh -c 'cat >/dev/null; exit 3'")
    assert result.code == 6, result.all
    assert "new token disabled" in result.out
    assert cli.row("a")["status"] == 2 and cli.row("b")["status"] == 2
    # a rerun with a working sink: no duplicates; the tokens are enabled and, as they come
    # back to life, their keys are delivered
    fixed = cli("apply", "--yes", "--keys-to", "json:keys.json")
    assert fixed.code == 0 and cli.names() == ["a", "b"]
    assert cli.row("a")["status"] == 1
    assert keys(cli) == {"A": "sk-" + cli.row("a")["key"], "B": "sk-" + cli.row("b")["key"]}


def test_exec_sink_gets_the_key_on_stdin_only(cli: Cli) -> None:
    script = cli.workdir / "store.sh"
    script.write_text('#!/bin/sh\necho "$1 $(env | grep -c sk-)" >> calls.txt\ncat >> stdin.txt\n')
    script.chmod(0o755)
    cli.spec("tokens:\n  - name: a\n")
    assert cli("apply", "--yes", "--keys-to", f"exec:{script} {{key_name}}").code == 0
    assert (cli.workdir / "calls.txt").read_text().split() == ["A", "0"]
    assert (cli.workdir / "stdin.txt").read_text().strip() == "sk-" + cli.row("a")["key"]


def test_reveal_uses_the_batch_endpoint(cli: Cli) -> None:
    cli.spec("tokens:\n  - name: r\n    count: 5\n")
    assert cli("apply", "--yes").code == 0
    result = cli("reveal", "r", "r-2", "r-3", "r-4", "r-5", "--keys-to", "json:k.json")
    assert result.code == 0, result.all
    assert len(keys(cli, "k.json")) == 5
    reveals = [r for r in cli.sandbox.requests if r[0] == "POST" and "key" in r[1]]
    assert [r[1] for r in reveals] == ["/api/token/batch/keys"]


def test_reveal_without_sink_is_a_usage_error(cli: Cli) -> None:
    cli.spec("tokens:\n  - name: a\n")
    assert cli("reveal", "a").code == 64


def test_rotate_now_then_cleanup(cli: Cli) -> None:
    cli.spec("keys:\n  to: json:keys.json\ntokens:\n  - name: svc\n    quota: 2 USD\n")
    assert cli("apply", "--yes").code == 0
    old = cli.row("svc")
    result = cli("rotate", "svc", "--yes", "--overlap", "2d")
    assert result.code == 0, result.all
    new = cli.row("svc")
    assert new["id"] != old["id"] and keys(cli)["SVC"] == "sk-" + new["key"]
    (renamed,) = [r for r in cli.rows() if r["name"].startswith("svc.old-")]
    assert renamed["id"] == old["id"]
    assert renamed["expired_time"] - cli.sandbox.now() in range(2 * DAY - 60, 2 * DAY + 1)
    assert new["remain_quota"] == 2 * 500_000 and not new["unlimited_quota"]
    # the old key keeps working during the overlap, and so does the new one
    assert cli.sandbox.relay_auth(old["key"]) and cli.sandbox.relay_auth(new["key"])
    plan = cli("plan", "--detailed-exitcode")
    assert plan.code == 0 and "predecessor" in plan.out
    cli.sandbox.advance(2 * DAY + 10)
    assert not cli.sandbox.relay_auth(old["key"])
    assert cli.sandbox.relay_auth(new["key"])
    cleanup = cli("apply", "--yes")
    assert cleanup.code == 0 and "expired rotation predecessor" in cleanup.out
    assert cli.names() == ["svc"]


def test_scheduled_rotation_from_the_spec(cli: Cli) -> None:
    cli.spec(
        "keys:\n  to: json:keys.json\ntokens:\n  - name: svc\n"
        "    rotate: {every: 30d, overlap: 1d}\n"
    )
    assert cli("apply", "--yes").code == 0
    first_key = keys(cli)["SVC"]
    assert cli("plan", "--detailed-exitcode").code == 0
    cli.sandbox.advance(31 * DAY)
    plan = cli("plan", "--detailed-exitcode")
    assert plan.code == 2 and "rotate" in plan.out
    assert cli("apply", "--yes").code == 0
    assert keys(cli)["SVC"] != first_key
    assert cli("plan", "--detailed-exitcode").code == 0


def test_protected_token_refuses_rotation_without_force(cli: Cli) -> None:
    cli.spec("keys:\n  to: json:keys.json\ntokens:\n  - name: p\n    protected: true\n")
    assert cli("apply", "--yes").code == 0
    refused = cli("rotate", "p", "--yes")
    assert refused.code == 4 and "protected" in refused.err
    assert cli.names() == ["p"]
    assert cli("rotate", "p", "--yes", "--force").code == 0
    assert len(cli.names()) == 2


def test_rotate_undeclared_token_copies_its_settings(cli: Cli) -> None:
    cli.spec("tokens:\n  - name: hand\n    group: vip\n    models: [m1]\n", name="seed.yaml")
    assert cli("apply", "--yes", "-f", "seed.yaml").code == 0
    cli.spec("tokens: []\n")
    result = cli("rotate", "hand", "--yes", "--keys-to", "json:keys.json")
    assert result.code == 0, result.all
    row = cli.row("hand")
    assert row["group"] == "vip" and row["model_limits"] == "m1"
