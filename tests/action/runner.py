"""Run action.yml's steps as a GitHub runner would, on this machine.

The action's metadata is parsed, each ``${{ ... }}`` is evaluated by a tiny
evaluator that knows only the forms the action may use (a property path in
``inputs``, ``github``, ``runner``, ``steps``, ``env``: anything else fails the
test), and each ``run:`` step goes to bash the way the runner's ``shell: bash``
template does (``bash --noprofile --norc -eo pipefail FILE``), with a fresh
``GITHUB_OUTPUT`` and ``GITHUB_STEP_SUMMARY`` per step, as composite actions
get them. Step outputs feed ``steps.ID.outputs.NAME``; the action's outputs are
evaluated last.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
ACTION = ROOT / "action.yml"
CONTEXTS = ("inputs", "github", "runner", "steps", "env")
_EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)
_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)*")


def load_action() -> dict[str, Any]:
    return yaml.safe_load(ACTION.read_text(encoding="utf-8"))


def expressions(value: Any) -> list[str]:
    """Every ``${{ ... }}`` body in a value (a string, a mapping or a list), stripped."""
    if isinstance(value, str):
        return [m.strip() for m in _EXPRESSION.findall(value)]
    if isinstance(value, dict):
        return [e for v in value.values() for e in expressions(v)]
    if isinstance(value, list):
        return [e for v in value for e in expressions(v)]
    return []


def evaluate(text: str, contexts: dict[str, Any]) -> str:
    """``text`` with each ``${{ path }}`` replaced by its value ("" when missing)."""

    def one(match: re.Match[str]) -> str:
        body = match.group(1).strip()
        if not _PATH.fullmatch(body) or body.split(".")[0] not in CONTEXTS:
            raise AssertionError(f"an expression this runner does not evaluate: {body!r}")
        value: Any = contexts
        for part in body.split("."):
            value = value.get(part, "") if isinstance(value, dict) else ""
        if isinstance(value, bool):
            return "true" if value else "false"
        return "" if value is None else str(value)

    return _EXPRESSION.sub(one, text)


def read_outputs(path: Path) -> dict[str, str]:
    """A ``GITHUB_OUTPUT`` file: ``name=value`` and ``name<<DELIMITER`` blocks."""
    outputs: dict[str, str] = {}
    lines = path.read_text(encoding="utf-8").split("\n") if path.exists() else []
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            end = lines.index(delimiter, i + 1)
            outputs[name] = "\n".join(lines[i + 1 : end])
            i = end + 1
            continue
        if "=" in line:
            name, value = line.split("=", 1)
            outputs[name] = value
        i += 1
    return outputs


@dataclass
class StepRun:
    id: str
    name: str
    code: int
    stdout: str
    stderr: str
    outputs: dict[str, str]
    summary: str


@dataclass
class ActionRun:
    code: int
    outputs: dict[str, str]
    steps: list[StepRun] = field(default_factory=list)

    @property
    def stderr(self) -> str:
        return "".join(s.stderr for s in self.steps)

    @property
    def stdout(self) -> str:
        return "".join(s.stdout for s in self.steps)

    @property
    def summary(self) -> str:
        return "".join(s.summary for s in self.steps)

    @property
    def log(self) -> str:
        return self.stdout + self.stderr


@dataclass
class Runner:
    """A runner's job: a workspace, a temp folder, an event, the environment."""

    workspace: Path
    temp: Path
    api_url: str
    github_token: str
    event_name: str = "pull_request"
    event: dict[str, Any] = field(default_factory=dict)
    sha: str = "a" * 40
    repository: str = "acme/infra"
    run_id: str = "8812"
    #: the interpreter the install step uses instead of a fresh venv
    #: (docs/ci.md#testing-the-action); None: the real install, a venv and pip
    python: str | None = sys.executable
    extra_env: dict[str, str] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        event_path = self.temp / "event.json"
        event_path.write_text(json.dumps(self.event), encoding="utf-8")
        env = {
            **os.environ,  # the tests' clean environment: PATH, HOME, no CI variables
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_EVENT_NAME": self.event_name,
            "GITHUB_EVENT_PATH": str(event_path),
            "GITHUB_REPOSITORY": self.repository,
            "GITHUB_API_URL": self.api_url,
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_SHA": self.sha,
            "GITHUB_RUN_ID": self.run_id,
            "GITHUB_WORKSPACE": str(self.workspace),
            "GITHUB_ACTION_PATH": str(ROOT),
            "RUNNER_TEMP": str(self.temp),
            "RUNNER_OS": "Linux",
            **self.extra_env,
        }
        if self.python:
            env["PROVISIONER_ACTION_PYTHON"] = self.python
        return env

    def contexts(self, inputs: dict[str, str], env: dict[str, str]) -> dict[str, Any]:
        return {
            "inputs": inputs,
            "github": {
                "token": self.github_token,
                "action_path": str(ROOT),
                "workspace": str(self.workspace),
                "event_name": self.event_name,
                "repository": self.repository,
                "sha": self.sha,
                "event": self.event,
            },
            "runner": {"temp": str(self.temp), "os": "Linux"},
            "steps": {},
            "env": env,
        }

    def run(self, with_: dict[str, str]) -> ActionRun:
        """The action with these ``with:`` inputs, step by step, until one fails."""
        action = load_action()
        assert action["runs"]["using"] == "composite"
        declared = action.get("inputs") or {}
        unknown = set(with_) - set(declared)
        assert not unknown, f"inputs the action does not declare: {unknown}"
        env = self.env()
        contexts = self.contexts({}, env)
        inputs = {}
        for name, spec in declared.items():
            default = str((spec or {}).get("default", ""))
            inputs[name] = with_.get(name, evaluate(default, contexts))
        contexts["inputs"] = inputs
        steps: list[StepRun] = []
        code = 0
        for number, step in enumerate(action["runs"]["steps"]):
            assert "run" in step, "every step of this action is a run: step"
            assert step.get("shell") == "bash", "every run: step declares shell: bash"
            assert not expressions(step["run"]), "run: text holds no ${{ }}: inputs come by env"
            step_env = {**env}
            for key, value in (step.get("env") or {}).items():
                step_env[key] = evaluate(str(value), contexts)
            output = self.temp / f"step-{number}.output"
            summary = self.temp / f"step-{number}.summary"
            output.write_text("")
            summary.write_text("")
            step_env["GITHUB_OUTPUT"] = str(output)
            step_env["GITHUB_STEP_SUMMARY"] = str(summary)
            script = self.temp / f"step-{number}.sh"
            script.write_text(step["run"], encoding="utf-8")
            proc = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
                cwd=self.workspace,
                env=step_env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=600,
            )
            outputs = read_outputs(output)
            step_id = step.get("id", f"step{number}")
            contexts["steps"][step_id] = {"outputs": outputs}
            steps.append(
                StepRun(
                    step_id,
                    evaluate(str(step.get("name", "")), contexts),
                    proc.returncode,
                    proc.stdout,
                    proc.stderr,
                    outputs,
                    summary.read_text(encoding="utf-8"),
                )
            )
            if proc.returncode != 0:
                code = proc.returncode
                break
        outputs = {
            name: evaluate(str(spec["value"]), contexts)
            for name, spec in (action.get("outputs") or {}).items()
        }
        return ActionRun(code, outputs, steps)
