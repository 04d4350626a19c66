"""The sandbox command: flags to typed options in-process, and the server as a subprocess."""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from provisioner.sandbox.api import MODELS
from provisioner.sandbox.cli import SandboxOptions, SandboxUsageError, add_arguments, options_from
from provisioner.sandbox.faults import parse_fault

ROOT = Path(__file__).resolve().parents[2]
INFO = {"url", "token", "user_id", "profile"}


def parse(*argv: str) -> SandboxOptions:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return options_from(parser.parse_args(list(argv)))


def test_defaults() -> None:
    opts = parse()
    assert opts == SandboxOptions()
    assert (opts.profile, opts.rate_limits, opts.neighbour, opts.channels) == (
        "new-api-2026-08",
        False,
        True,
        MODELS,
    )


@pytest.mark.parametrize(
    ("argv", "field", "value"),
    [
        (["--profile", "one-api-2025-02"], "profile", "one-api-2025-02"),
        (["--auth", "legacy"], "profile", "new-api-2026-07"),
        (["--list-shape", "array"], "profile", "new-api-2025-05"),
        (["--rate-limits"], "rate_limits", True),
        (["--rate-limits"], "global_limit", None),
        (["--rate-limits", "30/60"], "global_limit", (30, 60.0)),
        (["--rate-limits", "5/1.5s"], "global_limit", (5, 1.5)),
        (["--max-tokens", "3"], "max_tokens", 3),
        (["--no-neighbour"], "neighbour", False),
        (["--channels", "none"], "channels", ()),
        (["--channels", "gpt-4o, x,gpt-4o"], "channels", ("gpt-4o", "x")),
        (["--redis"], "redis", True),
        (["--fault", "POST /api/token/=500x1"], "faults", (parse_fault("POST /api/token/=500x1"),)),
    ],
)
def test_flags(argv: list[str], field: str, value: object) -> None:
    assert getattr(parse(*argv), field) == value


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--rate-limits", "fast"], "bad --rate-limits 'fast': expected N/SECONDS"),
        (["--rate-limits", "0/60"], "bad --rate-limits '0/60'"),
        (["--max-tokens", "0"], "--max-tokens: expected a whole number from 1 to 1000000"),
        (["--seed", "-1"], "--seed: expected a whole number from 0 to 100000"),
        (["--latency", "nan"], "--latency: expected a number of seconds from 0 to 60"),
        (["--port", "70000"], "--port: expected a port number from 0 to 65535"),
        (["--fault", "POST /api/token/=teapot"], "bad fault action 'teapot'"),
        (["--profile", "one-api-2025-02", "--auth", "legacy"], "give --profile alone"),
    ],
)
def test_bad_flags(argv: list[str], message: str) -> None:
    with pytest.raises(SandboxUsageError, match=re.escape(message)):
        parse(*argv)


def test_an_older_parsers_namespace_still_works() -> None:
    """The top-level parser may still hand over --auth/--list-shape defaults and a bool."""
    old = argparse.Namespace(
        port=0, host="127.0.0.1", db="x.db", auth="bearer", list_shape="page",
        rate_limits=True, seed=0, lang="en", latency=0.0, fault=[], verbose=1,
    )  # fmt: skip
    opts = options_from(old)
    assert (opts.profile, opts.rate_limits, opts.global_limit, opts.verbose) == (
        "new-api-2026-08",
        True,
        None,
        1,
    )


@contextmanager
def running(*command: str) -> Iterator[tuple[subprocess.Popen[str], dict[str, str]]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", *command, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
    )
    with proc:  # closes the pipes and waits
        try:
            assert proc.stdout is not None
            info = dict(proc.stdout.readline().strip().split("=", 1) for _ in range(len(INFO)))
            yield proc, info
        finally:
            if proc.poll() is None:
                proc.kill()


def test_provisioner_sandbox_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    db = tmp_path / "nested" / "cli.db"
    command = ("provisioner", "sandbox", "--db", str(db), "--seed", "3")
    with running(*command, "--fault", "POST /api/token/=500x1") as (proc, info):
        assert set(info) == INFO and info["profile"] == "new-api-2026-08"
        assert info["url"].startswith("http://127.0.0.1:") and info["user_id"] == "1"
        assert len(info["token"]) == 32
        headers = {"Authorization": f"Bearer {info['token']}", "New-Api-User": "1"}
        with httpx.Client(base_url=info["url"], headers=headers) as c:
            assert c.get("/api/status").json()["data"]["quota_per_unit"] == 500000
            assert c.get("/api/token/").json()["data"]["total"] == 3
            assert c.post("/api/token/", json={"name": "x"}).status_code == 500
            assert c.post("/api/token/", json={"name": "x"}).json()["success"] is True
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    assert db.exists()


def test_module_entry_with_profile_limits_and_no_neighbour(tmp_path: Path) -> None:
    db = tmp_path / "one.db"
    flags = ("--db", str(db), "--profile", "one-api-2025-02", "--no-neighbour")
    with running("provisioner.sandbox", *flags, "--max-tokens", "1", "--rate-limits", "3/60") as (
        proc,
        info,
    ):
        assert info["profile"] == "one-api-2025-02"
        with httpx.Client(base_url=info["url"], headers={"Authorization": info["token"]}) as c:
            created = c.post("/api/token/", json={"name": "only", "unlimited_quota": True})
            created = created.json()["data"]
            assert created["id"] == 1  # no neighbour rows before it
            assert c.post("/api/token/", json={"name": "more"}).json()["message"] == (
                "已达到最大令牌数量限制 (1)"
            )
            assert c.get("/api/token/").json()["data"][0]["key"] == created["key"]
            refused = c.get("/api/token/")
            assert refused.status_code == 429 and "retry-after" not in refused.headers
            models = httpx.get(
                info["url"] + "/v1/models", headers={"Authorization": f"Bearer sk-{created['key']}"}
            ).json()
            assert [m["id"] for m in models["data"]] == list(MODELS)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0


def test_usage_errors_exit_64(tmp_path: Path) -> None:
    for command in (
        ("provisioner", "sandbox", "--fault", "POST /api/token/=teapot"),
        ("provisioner.sandbox", "--rate-limits", "fast"),
        ("provisioner.sandbox", "--profile", "new-api-1999"),
    ):
        result = subprocess.run(
            [sys.executable, "-m", *command, "--port", "0", "--db", str(tmp_path / "x.db")],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            timeout=30,
        )
        assert result.returncode == 64, (command, result.stderr)
        assert result.stdout == ""
        assert (
            "teapot" in result.stderr or "fast" in result.stderr or "new-api-1999" in result.stderr
        )
