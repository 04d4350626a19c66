"""End-to-end: the real CLI (``provisioner.cli.main``) against a real sandbox over HTTP."""

from __future__ import annotations

import contextlib
import io
import os
import pty
import select
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from provisioner.cli import main
from provisioner.sandbox import Sandbox


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def all(self) -> str:
        return self.out + self.err


@contextlib.contextmanager
def inside(env: dict[str, str], cwd: Path, *, unset: tuple[str, ...] = ()) -> Iterator[None]:
    """For the block: ``env`` set (``unset`` removed) and ``cwd`` the working folder."""
    saved = {k: os.environ.get(k) for k in [*env, *unset]}
    before = os.getcwd()
    try:
        os.environ.update(env)
        for key in unset:
            os.environ.pop(key, None)
        os.chdir(cwd)
        yield
    finally:
        os.chdir(before)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_main(
    argv: list[str], env: dict[str, str], cwd: Path, *, unset: tuple[str, ...] = ()
) -> Result:
    """Run the real CLI in-process with ``env`` set (``unset`` removed) inside ``cwd``."""
    out, err = io.StringIO(), io.StringIO()
    with (
        inside(env, cwd, unset=unset),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        code = main(argv)
    return Result(int(code), out.getvalue(), err.getvalue())


class Cli:
    def __init__(self, sandbox: Sandbox, workdir: Path) -> None:
        self.sandbox = sandbox
        self.workdir = workdir
        self.env = {
            "NEWAPI_URL": sandbox.url,
            "NEWAPI_TOKEN": sandbox.credential,
            "CI": "true",
            "NO_COLOR": "1",
            "PROVISIONER_RATE_LIMIT": "off",
        }
        self.history: list[Result] = []

    def spec(self, body: str, name: str = "tokens.yaml") -> Path:
        path = self.workdir / name
        path.write_text("version: 1\n" + textwrap.dedent(body), encoding="utf-8")
        return path

    def __call__(self, *argv: str, env: dict[str, str] | None = None) -> Result:
        result = run_main(list(argv), {**self.env, **(env or {})}, self.workdir)
        self.history.append(result)
        return result

    def insert(self, **fields: object) -> int:
        """A token made by hand on the server (as in the web UI) for this user; its id."""
        row = {"user_id": self.sandbox.user_id, "created_time": self.sandbox.now(), **fields}
        (token_id,) = self.sandbox.store.insert_tokens([row])
        return int(token_id)

    # server-side views, for assertions
    def rows(self) -> list[dict]:
        return [r for r in self.sandbox.rows() if r["user_id"] == self.sandbox.user_id]

    def names(self) -> list[str]:
        return sorted(r["name"] for r in self.rows())

    def row(self, name: str) -> dict:
        (row,) = [r for r in self.rows() if r["name"] == name]
        return row


def run_in_pty(cli: Cli, argv: list[str], answers: list[tuple[bytes, bytes]]) -> tuple[int, str]:
    """Run ``python -m provisioner ARGV`` on a real pseudo-terminal, answering each prompt
    (the first bytes of a pair) with the second, in turn; the exit code and the screen."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "provisioner", *argv],
        cwd=cli.workdir,
        env={**os.environ, "TERM": "xterm-256color", **cli.env},
        stdin=follower,
        stdout=follower,
        stderr=follower,
        close_fds=True,
    )
    os.close(follower)
    seen, cursor, pending = b"", 0, list(answers)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        if pending and pending[0][0] in seen[cursor:]:
            cursor = seen.index(pending[0][0], cursor) + len(pending[0][0])
            os.write(leader, pending.pop(0)[1])
        if proc.poll() is not None and not ready:
            break
    code = proc.wait(timeout=10)
    os.close(leader)
    return code, seen.decode(errors="replace")


@contextlib.contextmanager
def sandbox_cli(tmp_path: Path, **sandbox_kw: object) -> Iterator[Cli]:
    """A Cli on a sandbox of its own (``sandbox_kw``: the Sandbox's options), stopped after."""
    sb = Sandbox(db_path=str(tmp_path / "s.db"), **sandbox_kw).start(port=0)  # type: ignore[arg-type]
    work = tmp_path / "work"
    work.mkdir()
    try:
        yield Cli(sb, work)
    finally:
        sb.stop()


@contextlib.contextmanager
def profile_cli(tmp_path: Path, profile: str, **sandbox_kw: object) -> Iterator[Cli]:
    """A Cli on a sandbox answering as ``profile``; the user id is sent, as the header
    generations need it."""
    with sandbox_cli(tmp_path, profile=profile, **sandbox_kw) as cli:
        cli.env["NEWAPI_USER_ID"] = str(cli.sandbox.user_id)
        yield cli


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    sb = Sandbox(db_path=str(tmp_path / "sandbox.db")).start(port=0)
    try:
        yield sb
    finally:
        sb.stop()


@pytest.fixture
def cli(sandbox: Sandbox, tmp_path: Path) -> Cli:
    work = tmp_path / "work"
    work.mkdir()
    return Cli(sandbox, work)
