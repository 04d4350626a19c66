"""The job summary stays under GitHub's 1 MiB: the CLI and the action append through one
cap (cli/workflow.append_step_summary), each with its own shorter text."""

from __future__ import annotations

from pathlib import Path

from provisioner.cli.workflow import STEP_SUMMARY_LIMIT, append_step_summary
from provisioner.github.action import Inputs, Runner, Step
from tests.e2e.conftest import Cli

FULL_PLAN = "*(provisioner: plan omitted, the step summary is full)*\n"


def filled(path: Path, size: int) -> Path:
    path.write_text("x" * size, encoding="utf-8")
    return path


def test_the_text_goes_whole_while_it_fits(tmp_path: Path) -> None:
    summary = filled(tmp_path / "summary.md", STEP_SUMMARY_LIMIT - 10)
    append_step_summary(str(summary), "0123456789", lambda room: f"short {room}")
    assert summary.read_text().endswith("x0123456789")
    assert summary.stat().st_size == STEP_SUMMARY_LIMIT


def test_past_the_cap_the_fallback_gets_the_bytes_left(tmp_path: Path) -> None:
    summary = filled(tmp_path / "summary.md", STEP_SUMMARY_LIMIT - 5_000)
    append_step_summary(str(summary), "y" * 4_500, lambda room: f"[{room} left]", headroom=1_000)
    assert summary.read_text().endswith("x[4000 left]")
    missing = tmp_path / "new.md"  # no file yet: the whole limit is free
    append_step_summary(str(missing), "hello\n", lambda room: "full")
    assert missing.read_text() == "hello\n"


def test_the_cli_says_the_plan_is_omitted_when_the_summary_is_full(
    cli: Cli, tmp_path: Path
) -> None:
    summary = filled(tmp_path / "summary.md", STEP_SUMMARY_LIMIT - 100)
    cli.spec("tokens:\n  - name: summed\n")
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    assert cli("plan", "--detailed-exitcode", env=env).code == 2
    assert summary.read_text().endswith("x" + FULL_PLAN)
    assert summary.stat().st_size <= STEP_SUMMARY_LIMIT


def test_the_action_cuts_its_plan_to_the_room_left(tmp_path: Path) -> None:
    summary = filled(tmp_path / "summary.md", STEP_SUMMARY_LIMIT - 50_000)
    env = {"GITHUB_STEP_SUMMARY": str(summary), "RUNNER_TEMP": str(tmp_path)}
    step = Step(Inputs.from_env(env), Runner.from_env(env), env)
    diff = "".join(f"+ create token-{n:05d}\n" for n in range(5_000))  # about 110 kB
    plan = f"### provisioner plan\n\n```diff\n{diff}```\n\nPlan: 5000 to create.\n"
    step.summary(plan)
    written = summary.read_text()[STEP_SUMMARY_LIMIT - 50_000 :]
    assert written.startswith("### provisioner plan\n\n```diff\n+ create token-00000\n")
    assert "+ create token-04999" not in written and written.endswith("\n\n")
    assert "the file the `plan-json` output names" in written
    assert summary.stat().st_size <= STEP_SUMMARY_LIMIT - 1_000  # room for later steps
    filled(summary, STEP_SUMMARY_LIMIT - 8_000)  # under 8,000 bytes left: one line says so
    step.summary(plan)
    assert summary.read_text().endswith(
        "*(provisioner: the job summary is full; the plan is in the file the `plan-json` "
        "output names)*\n\n"
    )
