"""No full key or credential in any output, log, plan file or report (docs/commands.md#commands).

Every command runs at the highest verbosity in every output format, against
every server generation the sandbox plays (older ones list full keys, one-api
returns the key on create), with faults that put error paths in the output too.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Cli, profile_cli

SPEC = """
keys:
  to: json:keys.json
safety:
  max_deletes: 0
tokens:
  - name: leak-a
    quota: 3 USD
    rotate: {every: 1d, overlap: 1h}
  - name: leak-b
GROUP
  - name: leak-c
    count: 2
"""
# What each generation can hold for leak-b (docs/servers.md): one-api has no groups.
GROUPS = {
    "new-api-2026-10": "    group: auto\n    auto_groups: [vip]",  # a nap_ credential
    "new-api-2026-08": "    group: auto\n    auto_groups: [vip]",
    "new-api-2026-07": "    group: vip",
    "new-api-2025-10": "    group: vip",
    "one-api-2025-02": "    quota: 1 USD",
}


@pytest.fixture(params=sorted(GROUPS))
def any_cli(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cli]:
    # leak-b uses group auto on 2026-08: a server that offers it
    with profile_cli(tmp_path, request.param, auto_group=True) as cli:
        yield cli


def _secrets(cli: Cli) -> list[str]:
    keys = [r["key"] for r in cli.sandbox.rows(include_deleted=True)]
    return [cli.sandbox.credential, *keys, *("sk-" + k for k in keys)]


def _scan(cli: Cli, extra_files: list[Path]) -> None:
    secrets = _secrets(cli)
    assert len(secrets) > 10
    texts = [(f"output #{i}", r.all) for i, r in enumerate(cli.history)]
    texts += [(str(p), p.read_text()) for p in extra_files if p.exists()]
    for where, text in texts:
        for secret in secrets:
            assert secret not in text, f"a full key or the credential leaked into {where}"


def test_no_secret_in_any_output(any_cli: Cli) -> None:
    cli = any_cli
    cli.sandbox.seed(3, prefix="other-")
    spec = SPEC.replace("GROUP", GROUPS[cli.sandbox.profile.name])
    cli.spec(spec)
    formats = ("text", "json", "markdown")
    for fmt in formats:
        cli("-vv", "--output", fmt, "validate")
        cli("-vv", "--output", fmt, "plan")
        cli("-vv", "--output", fmt, "check")
    assert cli("-vv", "plan", "--out", "plan.json").code == 0
    applied = cli("-vv", "--output", "json", "apply", "plan.json", "--yes")
    assert applied.code == 0, applied.all
    for fmt in formats:
        cli("-vv", "--output", fmt, "plan", "--detailed-exitcode")
        cli("-vv", "--output", fmt, "export")
        cli("-vv", "--output", fmt, "list")
    cli("-vv", "reveal", "leak-a", "leak-b", "nope")
    cli("-vv", "reveal", "leak-c", "--keys-to", "dotenv:keys.env")
    cli("-vv", "reveal", "leak-c", "--keys-to", "exec:sh -c 'cat > /dev/null; exit 3'")
    cli("-vv", "rotate", "leak-c", "--yes", "--overlap", "1h")
    cli.sandbox.advance(2 * 86400)
    cli("-vv", "plan")
    cli("-vv", "--output", "json", "apply", "--yes", "--force")
    # error paths: faults during writes and reads, a refused sink, a wrong credential
    cli.spec(spec.replace("leak-b", "leak-d"))
    cli.sandbox.inject("POST /api/token/", drop="after", times=1)
    cli.sandbox.inject("POST /api/token/batch/keys", status=500, times=3)
    cli("-vv", "apply", "--yes", "--force")
    cli("-vv", "apply", "--yes", "--force", "--keys-to", "json:/proc/nope/keys.json")
    cli("-vv", "check", env={"NEWAPI_TOKEN": "wrong-credential-value"})
    cli("-vv", "plan", "--url", cli.sandbox.url + "/nothing-here")
    assert len(cli.history) > 25
    _scan(cli, [cli.workdir / "plan.json"])
    # the keys did reach the sinks, so the scan was looking for the right strings
    assert any(k in (cli.workdir / "keys.json").read_text() for k in _secrets(cli))


def test_stdout_sink_is_the_only_way_to_print_a_key(cli: Cli) -> None:
    cli.spec("tokens:\n  - name: shown\n")
    assert cli("apply", "--yes").code == 0
    key = cli.row("shown")["key"]
    result = cli("reveal", "shown", "--keys-to", "stdout")
    assert result.code == 0
    assert f"SHOWN=sk-{key}" in result.out and key not in result.err
    masked = cli("reveal", "shown", "--keys-to", "stdout", env={"GITHUB_ACTIONS": "true"})
    assert masked.out == f"SHOWN=sk-{key}\n"  # the keys only: workflow commands go to stderr
    lines = masked.err.splitlines()
    assert lines[0].startswith("::add-mask::")  # before anything else
