"""action.yml, the example workflow and docs/ci.md agree, and follow the action's rules.

A check of the metadata's shape that needs no network and no Go (``.ci/run``
also runs actionlint over the example workflow with this action.yml behind it).
"""

from __future__ import annotations

import re
import subprocess

import yaml

from tests.action.runner import CONTEXTS, ROOT, expressions, load_action

ACTION = load_action()
MODULE = (ROOT / "provisioner" / "github" / "action.py").read_text(encoding="utf-8")
DOC = (ROOT / "docs" / "ci.md").read_text(encoding="utf-8")
EXAMPLE = ROOT / "examples" / "github-workflow.yml"


def test_the_metadata_has_what_github_requires() -> None:
    assert {"name", "description", "inputs", "outputs", "runs"} <= set(ACTION)
    assert ACTION["runs"]["using"] == "composite"
    for name, spec in ACTION["inputs"].items():
        assert re.fullmatch(r"[a-z][a-z-]*", name), name
        assert spec.get("description"), f"input {name} has no description"
        assert isinstance(spec.get("default", ""), str), f"input {name}: a string default"
    step_ids = {step.get("id") for step in ACTION["runs"]["steps"]}
    for name, spec in ACTION["outputs"].items():
        assert spec.get("description"), f"output {name} has no description"
        (ref,) = expressions(spec["value"])
        step = re.fullmatch(r"steps\.([\w-]+)\.outputs\.[\w-]+", ref)
        assert step is not None and step.group(1) in step_ids, f"output {name}: {ref}"


def test_inputs_reach_scripts_by_environment_only() -> None:
    for step in ACTION["runs"]["steps"]:
        assert step["shell"] == "bash"
        assert "${{" not in step["run"], f"step {step.get('name')}: an expression in run:"
        for expression in expressions(step):
            assert expression.split(".")[0] in CONTEXTS, expression
            assert re.fullmatch(r"[\w.-]+", expression), f"not a plain reference: {expression}"


def test_every_input_is_passed_and_read() -> None:
    """Each input reaches the module as INPUT_NAME, and the module reads no other."""
    run_step = next(s for s in ACTION["runs"]["steps"] if s.get("id") == "run")
    mapped = {key: value for key, value in run_step["env"].items() if key.startswith("INPUT_")}
    for key, value in mapped.items():
        name = value.removeprefix("${{ inputs.").removesuffix(" }}")
        assert key == "INPUT_" + name.upper().replace("-", "_"), key
    reader = MODULE[MODULE.index("class Inputs") : MODULE.index("class Runner")]
    read = set(re.findall(r'get\("([a-z-]+)"\)|_flag\(env, "([a-z-]+)"', reader))
    read_names = {a or b for a, b in read}
    passed = {value.removeprefix("${{ inputs.").removesuffix(" }}") for value in mapped.values()}
    assert read_names == passed
    assert set(ACTION["inputs"]) == passed | {"version"}  # version: the install step's


def test_the_scripts_are_valid_bash() -> None:
    for step in ACTION["runs"]["steps"]:
        check = subprocess.run(["bash", "-n"], input=step["run"], text=True, capture_output=True)
        assert check.returncode == 0, check.stderr


def test_docs_describe_every_input_and_output() -> None:
    for name in [*ACTION["inputs"], *ACTION["outputs"]]:
        assert re.search(rf"^\| `{re.escape(name)}` \|", DOC, re.MULTILINE), name
    assert "PROVISIONER_ACTION_PYTHON" in DOC


def test_the_example_uses_the_action_in_under_30_lines() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    workflow = yaml.safe_load(text)
    jobs = text[text.index("\njobs:") + 1 :].rstrip("\n").split("\n")
    assert len(jobs) < 30
    plan, apply = workflow["jobs"]["plan"], workflow["jobs"]["apply"]
    for job, command in ((plan, "plan"), (apply, "apply")):
        (step,) = [s for s in job["steps"] if s.get("uses", "").startswith("OWNER/provisioner@")]
        assert step["with"]["command"] == command
    assert apply["steps"][-1]["with"]["require-reviewed-plan"] is True
    # one apply at a time per server and file
    group = apply["concurrency"]["group"]
    assert "vars.NEWAPI_URL" in group and "tokens.yaml" in group
    assert apply["concurrency"]["cancel-in-progress"] is False
    # a fork's pull request never runs with the credential
    assert "pull_request_target" not in workflow.get("on", workflow.get(True, {}))


def test_the_readme_points_at_the_action() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## In CI", 1)[1].split("\n## ", 1)[0]
    assert "uses: OWNER/provisioner@v0" in section
    assert "docs/ci.md" in section


def test_the_example_runs_no_shell_text_with_expressions() -> None:
    """Later steps of the example pass values by env too (the same rule as the action's)."""
    workflow = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            assert "${{" not in step.get("run", ""), step
