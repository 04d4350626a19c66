"""Fixtures for the GitHub Action's tests: a sandbox, a fake GitHub, a runner's job."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from provisioner.sandbox import Sandbox
from tests.action.fakegithub import BOT, FakeGitHub
from tests.action.runner import Runner
from tests.e2e import conftest as e2e_fixtures

sandbox = e2e_fixtures.sandbox  # the fixture: a fresh sandbox each test, as e2e tests have it

GITHUB_TOKEN = "ghs_" + "T0k3n" * 7  # the job's GITHUB_TOKEN (an installation token)
PR = 12
HEAD_SHA = "c0ffee" + "0" * 34


def pull_request_event(number: int = PR, fork: str = "") -> dict:
    """The parts of a pull_request event the action reads."""
    return {
        "action": "synchronize",
        "number": number,
        "pull_request": {
            "number": number,
            "head": {"sha": HEAD_SHA, "repo": {"full_name": fork or "acme/infra"}},
            "base": {"ref": "main", "repo": {"full_name": "acme/infra"}},
        },
    }


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub(tokens={GITHUB_TOKEN: (BOT, True)}).start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def job(tmp_path: Path, github: FakeGitHub) -> Runner:
    """A runner's job for a pull_request event, its workspace holding nothing yet."""
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    temp = tmp_path / "runner-temp"
    temp.mkdir()
    return Runner(
        workspace=workspace,
        temp=temp,
        api_url=github.url,
        github_token=GITHUB_TOKEN,
        event=pull_request_event(),
    )


def write_spec(workspace: Path, body: str, name: str = "tokens.yaml") -> Path:
    path = workspace / name
    path.write_text("version: 1\n" + textwrap.dedent(body), encoding="utf-8")
    return path


def inputs(sandbox: Sandbox, **more: str) -> dict[str, str]:
    """The ``with:`` of a job against ``sandbox`` (the token as a secret would give it)."""
    return {"url": sandbox.url, "token": sandbox.credential, "rate-limit": "off", **more}
