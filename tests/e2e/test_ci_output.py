"""Under GitHub Actions stdout stays one document and the masks come first, on stderr.

Each command a workflow runs (plan, apply, list, test, revoke, reveal) in each
format: stdout parses as that format and holds no key or credential; every
``::add-mask::`` (and any other workflow command) is on stderr, and it comes
before anything written after the key was obtained, on either stream
(docs/commands.md#outputs). Both streams are recorded as one ordered log.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from provisioner.cli import main
from tests.e2e.conftest import Cli, inside

SPEC = """
keys:
  to: dotenv:keys.env
tokens:
  - name: ci-app
  - name: ci-worker
    quota: 2 USD
"""


@dataclass
class Run:
    code: int
    events: list[tuple[str, str]] = field(default_factory=list)  # (stream, text), in order

    @property
    def out(self) -> str:
        return "".join(text for stream, text in self.events if stream == "out")

    @property
    def err(self) -> str:
        return "".join(text for stream, text in self.events if stream == "err")


class _Tap(io.StringIO):
    """A stream that appends what it is given to a shared, ordered log."""

    def __init__(self, name: str, log: list[tuple[str, str]]) -> None:
        super().__init__()
        self.name, self.log = name, log

    def write(self, text: str) -> int:
        if text:
            self.log.append((self.name, text))
        return len(text)

    def isatty(self) -> bool:
        return False


def run_ordered(cli: Cli, *argv: str, stdin: str = "", env: dict[str, str] | None = None) -> Run:
    """The real CLI in-process with stdout and stderr recorded in one ordered log."""
    events: list[tuple[str, str]] = []
    old_stdin = sys.stdin
    try:
        sys.stdin = io.StringIO(stdin)
        with (
            inside({**cli.env, **(env or {})}, cli.workdir),
            contextlib.redirect_stdout(_Tap("out", events)),
            contextlib.redirect_stderr(_Tap("err", events)),
        ):
            code = main(list(argv))
    finally:
        sys.stdin = old_stdin
    return Run(int(code), events)


@pytest.fixture
def ci(cli: Cli, tmp_path: Path) -> Cli:
    cli.env.update(
        GITHUB_ACTIONS="true",
        GITHUB_STEP_SUMMARY=str(tmp_path / "summary.md"),
    )
    cli.spec(SPEC)
    return cli


def secrets(cli: Cli) -> list[str]:
    keys = [r["key"] for r in cli.sandbox.rows(include_deleted=True)]
    return [cli.sandbox.credential, *keys]


def check_document(run: Run, fmt: str, cli: Cli) -> None:
    """stdout is one document of ``fmt`` with no key, credential or workflow command."""
    if fmt == "json":
        assert isinstance(json.loads(run.out), dict), run.out
    lines = run.out.splitlines()
    assert not [line for line in lines if line.startswith("::")], run.out
    logs = "".join(line for line in run.err.splitlines(True) if not line.startswith("::add-mask::"))
    for secret in secrets(cli):
        assert secret not in run.out
        assert secret not in logs


def check_masked_first(run: Run, keys: list[str]) -> None:
    """Each key has its ``::add-mask::`` on stderr, before the last write of the document
    and before any write (on either stream) that contains the key."""
    assert keys, "the run revealed no key: nothing was checked"
    last_doc = max(i for i, (stream, _) in enumerate(run.events) if stream == "out")
    for key in keys:
        masks = [
            i
            for i, (stream, text) in enumerate(run.events)
            if stream == "err" and f"::add-mask::{key}\n" in text
        ]
        assert masks, f"no mask for the key of {len(key)} characters"
        first = masks[0]
        assert first < last_doc
        holders = [
            i
            for i, (_, text) in enumerate(run.events)
            if key in text and "::add-mask::" not in text
        ]
        assert all(i > first for i in holders)


@pytest.mark.parametrize("fmt", ["text", "json", "markdown"])
def test_ci_runs_keep_stdout_one_document_and_mask_first(ci: Cli, fmt: str) -> None:
    out = ("--output", fmt)
    plan = run_ordered(ci, *out, "plan")
    assert plan.code == 0, plan.err
    check_document(plan, fmt, ci)

    apply = run_ordered(ci, *out, "apply", "--yes")
    assert apply.code == 0, apply.err
    check_document(apply, fmt, ci)
    check_masked_first(apply, [ci.row("ci-app")["key"], ci.row("ci-worker")["key"]])
    if fmt == "markdown":
        assert apply.out.startswith("### provisioner apply: `tokens.yaml`")
        assert "### provisioner plan" not in apply.out
        assert "#### Result" in apply.out

    listed = run_ordered(ci, *out, "list")
    assert listed.code == 0, listed.err
    check_document(listed, fmt, ci)

    tested = run_ordered(ci, *out, "test")
    assert tested.code == 0, tested.err
    check_document(tested, fmt, ci)
    check_masked_first(tested, [ci.row("ci-app")["key"], ci.row("ci-worker")["key"]])

    revealed = run_ordered(ci, *out, "reveal", "ci-app", "--keys-to", "json:other.json")
    assert revealed.code == 0, revealed.err
    check_document(revealed, fmt, ci)
    app_key = ci.row("ci-app")["key"]
    if fmt == "json":  # the one document names what was delivered where
        assert app_key not in revealed.out
    masks = [line for line in revealed.err.splitlines() if line.startswith("::add-mask::")]
    assert f"::add-mask::{app_key}" in masks

    worker_key = ci.row("ci-worker")["key"]
    revoked = run_ordered(ci, *out, "revoke", "--yes", stdin=f"sk-{worker_key}\n")
    assert revoked.code == 0, revoked.err
    check_document(revoked, fmt, ci)
    replacement = ci.row("ci-worker")["key"]
    assert replacement != worker_key  # the declared token was replaced and its key delivered
    check_masked_first(revoked, [worker_key, replacement])

    summary = Path(ci.env["GITHUB_STEP_SUMMARY"]).read_text(encoding="utf-8")
    assert "### provisioner plan" in summary and "### provisioner apply" in summary
    for secret in secrets(ci):
        assert secret not in summary


def test_keys_to_stdout_is_the_only_document(ci: Cli) -> None:
    """`apply --keys-to stdout > keys.env` captures only the keys; the rest is on stderr."""
    run = run_ordered(ci, "apply", "--yes", "--keys-to", "stdout")
    assert run.code == 0, run.err
    keys = {name: ci.row(name)["key"] for name in ("ci-app", "ci-worker")}
    assert sorted(run.out.splitlines()) == sorted(
        [f"CI_APP=sk-{keys['ci-app']}", f"CI_WORKER=sk-{keys['ci-worker']}"]
    )
    assert "Plan: 2 to create" in run.err and "Apply complete" in run.err
    check_masked_first(run, list(keys.values()))
    logs = "".join(line for line in run.err.splitlines(True) if not line.startswith("::add-mask::"))
    for key in keys.values():
        assert key not in logs


def test_keys_to_stdout_outside_ci_has_no_workflow_lines(cli: Cli) -> None:
    cli.spec(SPEC)
    run = run_ordered(cli, "apply", "--yes", "--keys-to", "stdout")
    assert run.code == 0, run.err
    assert all(line.split("=", 1)[0] in ("CI_APP", "CI_WORKER") for line in run.out.splitlines())
    assert "::" not in run.err


# ---------------------------------------------------------------------------- names from the web UI

DECEIVING = [
    "\x1b[31mred\x1b[0m",
    "two\nlines",
    "cr\rreturn",
    "tick```x",
    "````four",
    "pipe|cell",
    "</details>",
    "<script>x</script>",
    "# heading",
    "[link](https://e.x)",
    "zero\u200bwidth",
    "rtl\u202etxt.exe",
    "c1\x85\x9bctl",
]


def web_ui_create(cli: Cli, name: str) -> None:
    """Create a token the way the web UI does: one POST to the management API."""
    import httpx

    answer = httpx.post(
        cli.sandbox.url + "/api/token/",
        headers={"Authorization": f"Bearer {cli.sandbox.credential}"},
        json={"name": name, "expired_time": -1, "remain_quota": 0, "unlimited_quota": True},
        timeout=10,
    )
    assert answer.status_code == 200 and answer.json()["success"], answer.text


def test_names_from_the_web_ui_are_rendered_safely(cli: Cli) -> None:
    from tests.render.test_safe_names import check_markdown

    for name in DECEIVING:
        web_ui_create(cli, name)
    assert sorted(cli.names()) == sorted(DECEIVING)
    cli.spec('manage:\n  match: ["*"]\n  orphans: disable\ntokens: []\n')

    for command in (("plan",), ("list",)):
        shown = cli(*command)
        assert shown.code in (0, 4), shown.err  # plan: too many disables, refused (4)
        for line in shown.out.split("\n"):
            assert line.isprintable(), repr(line)
        assert "rtl\\u202etxt.exe" in shown.out and "two\\nlines" in shown.out

        markdown = cli("--output", "markdown", *command)
        check_markdown(markdown.out, headings=(f"### provisioner {command[0]}", "#### Findings"))

        document = json.loads(cli("--output", "json", *command).out)
        names = [a["name"] for a in document.get("actions", document.get("tokens", []))]
        assert sorted(names) == sorted(DECEIVING)  # the exact values

    ids = [str(r["id"]) for r in cli.rows()]
    refused = cli("delete", *ids[:3])  # not a terminal, no --yes: shown, then refused
    assert refused.code == 64
    for line in refused.out.split("\n"):
        assert line.isprintable(), repr(line)
    assert len(cli.rows()) == len(DECEIVING)
