"""The whole story in every server dialect the sandbox speaks.

docs/server-contract.md#generations
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from provisioner.sandbox import Sandbox
from tests.e2e.conftest import Cli
from tests.e2e.sinkfiles import json_keys

DIALECTS = [("bearer", "page"), ("legacy", "page"), ("legacy", "array"), ("bearer", "array")]


@pytest.fixture(params=DIALECTS, ids=["-".join(d) for d in DIALECTS])
def dialect_cli(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cli]:
    auth, shape = request.param
    sb = Sandbox(db_path=str(tmp_path / "s.db"), auth=auth, list_shape=shape).start(port=0)
    work = tmp_path / "work"
    work.mkdir()
    cli = Cli(sb, work)
    cli.env["NEWAPI_USER_ID"] = str(sb.user_id)  # legacy servers need New-Api-User
    try:
        yield cli
    finally:
        sb.stop()


def test_apply_plan_reveal_rotate_export(dialect_cli: Cli) -> None:
    cli = dialect_cli
    cli.sandbox.seed(150, prefix="bulk-")  # more than one page of 100
    cli.spec(
        "keys:\n  to: json:keys.json\n"
        "tokens:\n  - name: d1\n    quota: 1 USD\n  - name: d2\n    count: 2\n    expires: 7d\n"
    )
    applied = cli("apply", "--yes")
    assert applied.code == 0, applied.all
    keys = json_keys(cli.workdir / "keys.json")
    assert keys == {
        "D1": "sk-" + cli.row("d1")["key"],
        "D2": "sk-" + cli.row("d2")["key"],
        "D2_2": "sk-" + cli.row("d2-2")["key"],
    }
    assert cli("plan", "--detailed-exitcode").code == 0
    assert cli("rotate", "d1", "--yes").code == 0
    assert json_keys(cli.workdir / "keys.json")["D1"] == "sk-" + cli.row("d1")["key"]
    exported = cli("export", "--out", "all.yaml")
    assert exported.code == 0
    assert cli("plan", "-f", "all.yaml", "--detailed-exitcode").code == 0
    assert len(cli.rows()) == 150 + 4
