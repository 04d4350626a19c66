"""``provisioner delete ID`` keeps the file's rules (docs/commands.md#delete).

With a spec file present, a ``protected: true`` token and one used within
``safety.min_idle`` are refused (exit 4, nothing deleted) unless ``--force``;
the key of a deleted token leaves the file's sink when the sink holds that key.
"""

from __future__ import annotations

import json

from tests.e2e.conftest import Cli

SPEC = """
keys:
  to: dotenv:keys.env
safety:
  min_idle: 1h
tokens:
  - name: guarded
    protected: true
  - name: busy
  - name: idle
"""


def applied(cli: Cli) -> dict[str, int]:
    cli.spec(SPEC)
    result = cli("apply", "--yes")
    assert result.code == 0, result.all
    return {name: cli.row(name)["id"] for name in ("guarded", "busy", "idle")}


def sink(cli: Cli) -> str:
    return (cli.workdir / "keys.env").read_text(encoding="utf-8")


def test_protected_token_is_refused_without_force(cli: Cli) -> None:
    ids = applied(cli)
    key = cli.row("guarded")["key"]
    refused = cli("delete", str(ids["guarded"]), "--yes")
    assert refused.code == 4, refused.all
    assert "guarded" in refused.out and "protected: true" in refused.out
    assert "--force" in refused.err and "nothing was deleted" in refused.err
    assert "guarded" in cli.names() and f"GUARDED=sk-{key}" in sink(cli)

    forced = cli("delete", str(ids["guarded"]), "--yes", "--force")
    assert forced.code == 0, forced.all
    assert "guarded" not in cli.names()
    assert "GUARDED=" not in sink(cli) and "BUSY=" in sink(cli)  # only the deleted one's key
    assert "Removed from dotenv:keys.env: GUARDED" in forced.out


def test_recently_used_token_is_refused_within_min_idle(cli: Cli) -> None:
    ids = applied(cli)
    cli.sandbox.advance(600)
    assert cli.sandbox.consume(ids["busy"], 1)  # a relay call with the key: it is in use
    cli.sandbox.advance(60)
    refused = cli("--output", "json", "delete", str(ids["busy"]), str(ids["idle"]), "--yes")
    assert refused.code == 4, refused.all
    document = json.loads(refused.out)
    by_name = {t["name"]: t for t in document["tokens"]}
    assert by_name["busy"]["refused"] == "used 1 minute ago, less than safety.min_idle 1 hour"
    assert by_name["idle"]["refused"] == "" and not by_name["idle"]["deleted"]
    assert {"busy", "idle"} <= set(cli.names())  # nothing was deleted, not even the idle one

    idle_only = cli("delete", str(ids["idle"]), "--yes")
    assert idle_only.code == 0, idle_only.all
    cli.sandbox.advance(2 * 3600)
    later = cli("delete", str(ids["busy"]), "--yes")  # idle for longer than min_idle now
    assert later.code == 0, later.all
    assert cli.names() == ["guarded"]
    origin = f"# GUARDED: provisioner key of {cli.sandbox.url} user {cli.sandbox.user_id}"
    assert sink(cli).splitlines() == [origin, f"GUARDED=sk-{cli.row('guarded')['key']}"]


def test_a_key_the_sink_holds_for_another_token_stays(cli: Cli) -> None:
    ids = applied(cli)
    other = "sk-" + "Q" * 48
    text = sink(cli).replace(f"IDLE=sk-{cli.row('idle')['key']}", f"IDLE={other}")
    (cli.workdir / "keys.env").write_text(text, encoding="utf-8")
    result = cli("delete", str(ids["idle"]), "--yes")
    assert result.code == 0, result.all
    assert f"IDLE={other}" in sink(cli)  # not this token's key: kept


def test_without_a_spec_file_nothing_is_refused(cli: Cli) -> None:
    ids = applied(cli)
    (cli.workdir / "tokens.yaml").unlink()
    result = cli("delete", str(ids["guarded"]), "--yes")
    assert result.code == 0, result.all
    assert "guarded" not in cli.names()
    assert "GUARDED=" in sink(cli)  # no file, no sink to clean: the key stays where it is


def test_a_named_spec_that_is_missing_or_broken_stops_before_any_delete(cli: Cli) -> None:
    ids = applied(cli)
    missing = cli("delete", str(ids["idle"]), "--yes", "-f", "nope.yaml")
    assert missing.code == 64 and "nope.yaml" in missing.err
    (cli.workdir / "tokens.yaml").write_text("version: 1\ntokens: [\n", encoding="utf-8")
    broken = cli("delete", str(ids["idle"]), "--yes")
    assert broken.code == 65
    assert "idle" in cli.names()


def test_markdown_refusal_is_one_document(cli: Cli) -> None:
    ids = applied(cli)
    result = cli("--output", "markdown", "delete", str(ids["guarded"]), "--yes")
    assert result.code == 4
    assert result.out.startswith("### provisioner delete: ")
    assert "refused: protected: true in tokens.yaml" in result.out
