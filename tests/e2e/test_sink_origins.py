"""One sink, two servers (docs/sinks.md#one-sink-one-server).

A sink remembers the server and account of each key; the second server's apply
is refused (exit 4, before anything is written to it) instead of replacing the
first one's key, and ``{host}`` in the path gives each server a file of its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from provisioner.keystore.sinks import host_label
from provisioner.sandbox import Sandbox
from tests.e2e.conftest import Cli
from tests.e2e.sinkfiles import json_keys, json_origins

SPEC = """
keys:
  to: {sink}
tokens:
  - name: app
"""


@pytest.fixture
def prod(tmp_path: Path, cli: Cli) -> Iterator[Cli]:
    """A second server, used from the same folder (and so the same sink files)."""
    sandbox = Sandbox(db_path=str(tmp_path / "prod.db")).start(port=0)
    try:
        yield Cli(sandbox, cli.workdir)
    finally:
        sandbox.stop()


def writes(cli: Cli) -> list[tuple[str, str, int]]:
    return [r for r in cli.sandbox.requests if r[0] in ("POST", "PUT", "DELETE")]


def test_second_server_is_refused_then_host_placeholder_works(cli: Cli, prod: Cli) -> None:
    staging = cli
    staging.spec(SPEC.format(sink="dotenv:keys.env"))
    assert staging("apply", "--yes").code == 0
    staging_key = staging.row("app")["key"]
    sink = staging.workdir / "keys.env"
    assert f"APP=sk-{staging_key}" in sink.read_text()

    refused = prod("apply", "--yes")
    assert refused.code == 4, refused.all
    assert staging.sandbox.url in refused.all and prod.sandbox.url in refused.all
    assert "dotenv:keys.{host}.env" in refused.all
    assert writes(prod) == [] and prod.names() == []  # nothing was sent to prod
    assert f"APP=sk-{staging_key}" in sink.read_text()  # staging's key is untouched
    planned = prod("plan")
    assert planned.code == 4 and "keys.to" in planned.err

    for server in (staging, prod):
        server.spec(SPEC.format(sink="dotenv:keys.{host}.env"))
    assert prod("apply", "--yes").code == 0
    assert staging("apply", "--yes").code == 0  # delivers staging's key to its own file
    for server in (staging, prod):
        # both plans clean: no deliver action going back and forth between the servers
        assert server("plan", "--detailed-exitcode").code == 0
        own = server.workdir / f"keys.{host_label(server.sandbox.url)}.env"
        assert f"APP=sk-{server.row('app')['key']}" in own.read_text()
        assert f"provisioner key of {server.sandbox.url} user" in own.read_text()


def test_json_sink_and_reveal_refuse_another_servers_key(cli: Cli, prod: Cli) -> None:
    cli.spec(SPEC.format(sink="json:keys.json"))
    assert cli("apply", "--yes").code == 0
    path = cli.workdir / "keys.json"
    assert json_origins(path) == {"APP": f"{cli.sandbox.url} user {cli.sandbox.user_id}"}
    prod.spec("tokens:\n  - name: app\n", name="prod.yaml")
    assert prod("apply", "--yes", "-f", "prod.yaml").code == 0
    before = path.read_text()

    revealed = prod("reveal", "app", "--keys-to", "json:keys.json", "-f", "prod.yaml")
    assert revealed.code == 4, revealed.all
    assert "{host}" in revealed.err and path.read_text() == before
    assert not [r for r in prod.sandbox.requests if "keys" in r[1]]  # no key was revealed


def test_keys_written_before_origins_are_adopted(cli: Cli) -> None:
    cli.spec(SPEC.format(sink="dotenv:keys.env"))
    assert cli("apply", "--yes").code == 0
    sink = cli.workdir / "keys.env"
    key = cli.row("app")["key"]
    sink.write_text(f"# written by provisioner 0.2\nAPP=sk-{key}\n")  # no origin recorded
    assert cli("plan", "--detailed-exitcode").code == 0  # the same key: nothing to do
    cli.sandbox.store.update_token(cli.row("app")["id"], {"key": "Z" * 48})  # another key
    adopted = cli("apply", "--yes")
    assert adopted.code == 0, adopted.all
    text = sink.read_text()
    assert f"# APP: provisioner key of {cli.sandbox.url} user" in text
    assert f"APP=sk-{'Z' * 48}" in text and text.startswith("# written by provisioner 0.2\n")


def test_same_server_another_account_is_refused(cli: Cli) -> None:
    cli.spec(SPEC.format(sink="json:keys.json"))
    assert cli("apply", "--yes").code == 0
    path = cli.workdir / "keys.json"
    text = path.read_text().replace(
        f"{cli.sandbox.url} user {cli.sandbox.user_id}", f"{cli.sandbox.url} user 99"
    )
    path.write_text(text)
    cli.sandbox.store.update_token(cli.row("app")["id"], {"key": "Y" * 48})
    refused = cli("apply", "--yes")
    assert refused.code == 4, refused.all
    assert "user 99" in refused.err and f"user {cli.sandbox.user_id}" in refused.err
    assert json_keys(path)["APP"] != "sk-" + "Y" * 48


def test_the_embedded_sandbox_is_one_server_across_runs(tmp_path: Path) -> None:
    """`--sandbox` gets a new port at every run; its keys' origin is its state file, so the
    second run neither refuses the sink nor delivers again, and {host} is `sandbox`."""
    from tests.e2e.conftest import run_main

    (tmp_path / "tokens.yaml").write_text(
        "version: 1\nkeys:\n  to: dotenv:keys.{host}.env\ntokens:\n  - name: app\n"
    )
    first = run_main(["apply", "--sandbox", "--yes"], {"CI": "true"}, tmp_path)
    assert first.code == 0, first.all
    sink = tmp_path / "keys.sandbox.env"
    text = sink.read_text()
    assert f"provisioner key of sandbox:{tmp_path / '.provisioner' / 'sandbox.db'} user" in text
    again = run_main(["plan", "--sandbox", "--detailed-exitcode"], {"CI": "true"}, tmp_path)
    assert again.code == 0, again.all  # a new port, the same server: nothing to deliver
    assert sink.read_text() == text
