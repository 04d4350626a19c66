"""`provisioner sandbox` as a subprocess: prints url/token/user_id, serves, exits 0 on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def running(*args: str) -> Iterator[tuple[subprocess.Popen[str], dict[str, str]]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "provisioner", "sandbox", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        info = dict(proc.stdout.readline().strip().split("=", 1) for _ in range(3))
        yield proc, info
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    db = tmp_path / "nested" / "cli.db"
    with running("--db", str(db), "--seed", "3", "--fault", "POST /api/token/=500x1") as (
        proc,
        info,
    ):
        assert set(info) == {"url", "token", "user_id"}
        assert info["url"].startswith("http://127.0.0.1:") and info["user_id"] == "1"
        assert len(info["token"]) == 32
        headers = {"Authorization": f"Bearer {info['token']}", "New-Api-User": "1"}
        with httpx.Client(verify=False, base_url=info["url"], headers=headers) as c:
            assert c.get("/api/status").json()["data"]["quota_per_unit"] == 500000
            assert c.get("/api/token/").json()["data"]["total"] == 3
            assert c.post("/api/token/", json={"name": "x"}).status_code == 500
            assert c.post("/api/token/", json={"name": "x"}).json()["success"] is True
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    assert db.exists()
    with running("--db", str(db), "--auth", "legacy", "--list-shape", "array") as (proc, again):
        assert again["token"] == info["token"]  # same db, same credential
        headers = {"Authorization": again["token"], "New-Api-User": "1"}
        items = httpx.get(again["url"] + "/api/token/", headers=headers, verify=False).json()
        assert isinstance(items["data"], list) and len(items["data"]) == 4
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0


def test_cli_bad_fault_is_a_usage_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "provisioner",
            "sandbox",
            "--port",
            "0",
            "--db",
            str(tmp_path / "x.db"),
            "--fault",
            "POST /api/token/=teapot",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=30,
    )
    assert result.returncode == 64
    assert "bad fault action 'teapot'" in result.stderr
    assert result.stdout == ""
