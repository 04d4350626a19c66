"""The action as a workflow gets it: a fresh venv under RUNNER_TEMP, the tool installed
from GITHUB_ACTION_PATH with pip, then the plan. No PROVISIONER_ACTION_PYTHON here."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from provisioner.sandbox import Sandbox
from tests.action.conftest import PR, inputs, write_spec
from tests.action.fakegithub import BOT, FakeGitHub
from tests.action.runner import Runner

pytestmark = pytest.mark.slow  # a venv and pip install (seconds with wheels at hand, more cold)


def test_a_fresh_install_plans_and_comments(
    job: Runner, sandbox: Sandbox, github: FakeGitHub, tmp_path: Path
) -> None:
    job.python = None  # the real install step
    # the runner's python3 is this one's (3.11+), found on PATH as a runner finds its own
    bin_dir = tmp_path / "runner-bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(sys.base_prefix + "/bin/python3")
    job.extra_env["PATH"] = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
    write_spec(job.workspace, "tokens:\n  - name: alpha\n")

    run = job.run(inputs(sandbox))

    assert run.code == 0, run.log[-3000:]
    venv = job.temp / "provisioner-venv"
    assert run.steps[0].outputs["python"] == str(venv / "bin" / "python")
    assert run.outputs["provisioner"] == str(venv / "bin" / "provisioner")
    assert Path(run.outputs["provisioner"]).exists()
    assert run.outputs["changes"] == "true"
    assert run.outputs["summary"].startswith("Plan: 1 to create,")
    (comment,) = [c for c in github.comments[PR] if c["user"]["login"] == BOT]
    assert "+ create alpha" in comment["body"]
