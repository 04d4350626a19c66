"""A clear answer to every input (issue 21 items 1-6): never "internal error" from plain input.

Each test runs the real CLI (in-process, or on a pseudo-terminal where a terminal matters)
against the real sandbox over HTTP, and checks what a user sees: the exit code, the
message, the server's state.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import http.server
import importlib.util
import io
import json
import os
import shlex
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import keyring
import pytest
from keyring.backend import KeyringBackend

from provisioner.cli.parser import build_parser
from provisioner.sandbox import Sandbox, parse_fault
from tests.e2e.conftest import Cli, Result, run_in_pty, run_main

INTERNAL = "internal error"


def _usage_error(result, *names: str) -> None:  # type: ignore[no-untyped-def]
    assert result.code == 64, result.all
    assert INTERNAL not in result.all
    for name in names:
        assert name in result.err, (name, result.err)


# -------------------------------------------------------------- 2. numbers and durations

# (argv, the flag or variable named, words of the accepted range)
BAD_VALUES = [
    *[
        (["plan", "--timeout", value], "--timeout", "more than 0 and at most 3600")
        for value in ("-1", "nan", "inf", "0", "1e400", "-inf", "ten")
    ],
    *[
        (["apply", f"--lock-timeout={value}"], "--lock-timeout", "from 0s to 1d")
        for value in ("-1", "nan", "1e400", "2d", "-1s")
    ],
    *[
        (["list", "--stale-after", value], "--stale-after", "from 1m to 100y")
        for value in ("0", "0s", "-1d", "nan", "101y")
    ],
    (["list", "--expiring-within=inf"], "--expiring-within", "from 0s to 100y"),
    *[
        (["list", f"--budget-above={value}"], "--budget-above", "from 0 to 100")
        for value in ("-1", "nan", "inf", "101", "1e400")
    ],
    *[
        (["rotate", "x", "--overlap", value], "--overlap", "from 0s to 1y")
        for value in ("-1", "1e400", "2y", "nan")
    ],
    *[
        (["plan", f"--rate-limit={value}"], "--rate-limit", "a whole number from 1 to 1000000")
        for value in ("nan/1", "1/inf", "0/1", "-1/1", "1e400", "5/0", "1/1e400")
    ],
    *[
        (["delete", f"{value}"], "ID", "a token id, a whole number, 1 or more")
        for value in ("0", "1e400", "nan")
    ],
    (["delete", "--", "-1"], "ID", "1 or more"),
    *[
        (["scan", ".", f"--max-size={value}"], "--max-size", "from 1 byte to 16G")
        for value in ("0", "nan", "inf", "-1M", "1e400", "17G")
    ],
    *[
        (["login", "--url", "http://127.0.0.1:9", f"--user-id={value}"], "--user-id", "1 or more")
        for value in ("0", "nan", "-3")
    ],
    *[
        (["sandbox", f"--max-tokens={value}"], "--max-tokens", "from 1 to 1000000")
        for value in ("0", "nan", "1e400", "-1")
    ],
    (["sandbox", "--port=65536"], "--port", "from 0 to 65535"),
    (["sandbox", "--port=-1"], "--port", "from 0 to 65535"),
    (["sandbox", "--latency=nan"], "--latency", "from 0 to 60"),
    (["sandbox", "--latency=-1"], "--latency", "from 0 to 60"),
    (["sandbox", "--seed=-1"], "--seed", "from 0 to 100000"),
    (["sandbox", "--rate-limits=0/1"], "--rate-limits", "from 1 to 1000000"),
]


@pytest.mark.parametrize(
    ("argv", "name", "accepted"), BAD_VALUES, ids=[" ".join(a[0]) for a in BAD_VALUES]
)
def test_a_value_out_of_range_is_a_usage_error_naming_the_flag_and_range(
    cli: Cli, argv: list[str], name: str, accepted: str
) -> None:
    cli.spec("tokens:\n  - name: x\n")
    result = cli(*argv)
    _usage_error(result, name, accepted)
    before = len(cli.rows())
    # the same refusal as one JSON document on stdout
    result = cli(*argv, "--output", "json")
    _usage_error(result, name)
    document = json.loads(result.out)
    assert document["error"]["exit_code"] == 64
    assert name in document["error"]["message"]
    assert len(cli.rows()) == before  # nothing was done


BAD_VARIABLES = [
    ("PROVISIONER_RATE_LIMIT", "nan/1", "a whole number from 1 to 1000000"),
    ("PROVISIONER_RATE_LIMIT", "1/inf", "more than 0 and at most 86400"),
    ("PROVISIONER_RATE_LIMIT", "bogus", "N/SECONDS"),
    ("PROVISIONER_RETRY", "base=nan", "base: expected a number from 0 to 86400"),
    ("PROVISIONER_RETRY", "max_time=inf", "max_time: expected a number from 0 to 86400"),
    ("PROVISIONER_RETRY", "attempts=-1", "attempts: expected a number from 0 to 86400"),
    ("PROVISIONER_RETRY", "speed=3", "expected comma-separated"),
]


@pytest.mark.parametrize(("variable", "value", "accepted"), BAD_VARIABLES)
def test_a_bad_environment_variable_is_named(
    cli: Cli, variable: str, value: str, accepted: str
) -> None:
    cli.spec("tokens:\n  - name: x\n")
    result = cli("apply", "--yes", env={variable: value})
    _usage_error(result, f"{variable}={value!r} in the environment", accepted)
    assert "--rate-limit" not in result.err  # the variable, not a flag the user never typed
    assert cli.names() == []


def test_values_in_range_still_work(cli: Cli) -> None:
    cli.spec("tokens:\n  - name: x\n")
    result = cli(
        "apply", "--yes", "--timeout", "0.5", "--rate-limit", "50/1.5s", "--lock-timeout", "0s"
    )
    assert result.code == 0, result.all
    assert cli.names() == ["x"]
    listed = cli("list", "--stale-after", "1m", "--expiring-within", "0s", "--budget-above", "0")
    assert listed.code == 0, listed.all
    assert cli("plan", env={"PROVISIONER_RETRY": "attempts=0,base=0"}).code == 0


# -------------------------------------------------------------- 1. Ctrl-D at a prompt


def _key_of(cli: Cli, name: str) -> str:
    return "sk-" + cli.row(name)["key"]


@pytest.mark.parametrize("command", ["apply", "delete", "rotate", "revoke"])
def test_ctrl_d_at_the_confirmation_is_a_no(cli: Cli, command: str) -> None:
    cli.spec("keys:\n  to: dotenv:keys.env\ntokens:\n  - name: kept\n")
    assert cli("apply", "--yes").code == 0
    if command == "apply":
        cli.spec("keys:\n  to: dotenv:keys.env\ntokens:\n  - name: kept\n  - name: new\n")
        argv, answers = ["apply"], []
    elif command == "delete":
        argv, answers = ["delete", str(cli.row("kept")["id"])], []
    elif command == "rotate":
        argv, answers = ["rotate", "kept"], []
    else:
        key = _key_of(cli, "kept").encode()
        argv = ["revoke"]
        prompt = b"an empty line to finish): "
        answers = [(prompt, key + b"\n"), (prompt, b"\n")]
    before = cli.rows()
    code, screen = run_in_pty(cli, argv, [*answers, (b"Enter a value", b"\x04")])
    assert code == 1, screen
    assert f"{command} cancelled: no answer (end of input); nothing was changed" in screen
    assert INTERNAL not in screen and "EOFError" not in screen and "Traceback" not in screen
    assert cli.rows() == before  # nothing done: no token, no rename, no lock left behind


def test_an_answer_other_than_yes_is_a_no(cli: Cli) -> None:
    cli.spec("tokens:\n  - name: asked\n")
    code, screen = run_in_pty(cli, ["apply"], [(b"Enter a value", b"y\n")])
    assert code == 1, screen
    assert "apply cancelled: the answer was not 'yes'; nothing was changed" in screen
    assert cli.names() == []


class _Terminal(io.StringIO):
    """A stdin that is a terminal holding what the user types."""

    def isatty(self) -> bool:
        return True


def test_the_question_never_goes_to_stdout(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """`apply --output json` on a terminal: the prompt is on stderr, stdout stays one document."""
    cli.spec("tokens:\n  - name: asked\n")
    monkeypatch.setattr("sys.stdin", _Terminal("yes\n"))
    result = cli("apply", "--output", "json")
    assert result.code == 0, result.all
    assert "Enter a value" in result.err
    assert json.loads(result.out)["kind"] == "apply"
    assert cli.names() == ["asked"]


# -------------------------------------------------------------- 3. a sandbox state that is not one


def _garbage(path: Path) -> None:
    path.write_bytes(b"garbage\n")


def _other_program(path: Path) -> None:
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        db.execute("INSERT INTO notes (body) VALUES ('keep me')")
        db.commit()


def _future_schema(path: Path) -> None:
    Sandbox(db_path=path).store.close()
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA user_version = 99")
        db.commit()


def _half_sandbox(path: Path) -> None:
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TABLE tokens (id INTEGER PRIMARY KEY, name TEXT)")
        db.commit()


def _truncated(path: Path) -> None:
    Sandbox(db_path=path).store.close()
    data = path.read_bytes()
    path.write_bytes(data[:100] + b"\xff" * (len(data) - 100))


STATES = {
    "garbage": (_garbage, "is not a sandbox database (file is not a database)", "rm -f"),
    "another-program": (_other_program, "SQLite database of another program (tables: notes)", "mv"),
    "future-schema": (_future_schema, "written by a newer provisioner (sandbox schema 99", "rm -f"),
    "half-a-sandbox": (_half_sandbox, "its table tokens has no", "rm -f"),
    "corrupt": (_truncated, "is not a sandbox database", "rm -f"),
}


@pytest.mark.parametrize("state", sorted(STATES))
def test_a_sandbox_state_that_is_not_one_says_so_and_how_to_start_fresh(
    cli: Cli, state: str
) -> None:
    make, message, fix = STATES[state]
    cli.spec("tokens:\n  - name: x\n")
    db = cli.workdir / ".provisioner" / "sandbox.db"
    db.parent.mkdir()
    make(db)
    os.chmod(db, 0o644)
    before = db.read_bytes()
    result = cli("plan", "--sandbox")
    assert result.code == 1, result.all
    assert INTERNAL not in result.all and "Traceback" not in result.all
    assert ".provisioner/sandbox.db" in result.err and message in result.err
    assert "left untouched" in result.err and fix in result.err
    assert db.read_bytes() == before and (db.stat().st_mode & 0o777) == 0o644  # untouched
    assert not db.with_name("sandbox.db-wal").exists()
    if fix == "rm -f":  # the command it prints starts a fresh sandbox
        command = result.err.split("remove it")[1].split(": ", 1)[1].strip()
        assert command == (
            "rm -f .provisioner/sandbox.db .provisioner/sandbox.db-wal .provisioner/sandbox.db-shm"
        )
        subprocess.run(shlex.split(command), cwd=cli.workdir, check=True)
        assert cli("plan", "--sandbox").code == 0
    json_result = cli("plan", "--sandbox", "--output", "json")
    if fix != "rm -f":
        assert json.loads(json_result.out)["error"]["exit_code"] == 1


def test_an_empty_state_file_is_a_fresh_sandbox(cli: Cli) -> None:
    cli.spec("tokens:\n  - name: x\n")
    db = cli.workdir / ".provisioner" / "sandbox.db"
    db.parent.mkdir()
    db.touch()
    assert cli("apply", "--sandbox", "--yes").code == 0
    assert (db.stat().st_mode & 0o777) == 0o600
    assert "1 to create" not in cli("plan", "--sandbox").out  # the state was kept


@pytest.mark.parametrize("state", sorted(STATES))
def test_sandbox_db_flag_refuses_a_file_that_is_not_a_sandbox_database(
    tmp_path: Path, state: str
) -> None:
    make, message, fix = STATES[state]
    db = tmp_path / "state.sqlite"
    make(db)
    before = db.read_bytes()
    result = run_main(["sandbox", "--db", str(db), "--port", "0"], {}, tmp_path)
    assert result.code == 1, result.all
    assert message in result.err and fix in result.err and INTERNAL not in result.all
    assert db.read_bytes() == before
    # on its own (python -m provisioner.sandbox) too
    alone = subprocess.run(
        [sys.executable, "-m", "provisioner.sandbox", "--db", str(db), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert alone.returncode == 1 and message in alone.stderr, alone.stderr
    assert db.read_bytes() == before


def test_sandbox_db_flag_naming_a_folder(tmp_path: Path) -> None:
    result = run_main(["sandbox", "--db", str(tmp_path), "--port", "0"], {}, tmp_path)
    assert result.code == 1, result.all
    assert "it is not a regular file" in result.err


# -------------------------------------------------------------- 4. streams that cannot take it all

NAMES = ("alpha", "beta-令牌", "rocket-🚀", "café")


def _process(
    cli: Cli, argv: list[str], *, env: dict[str, str] | None = None, stdout: int | None = None
) -> subprocess.CompletedProcess[bytes]:
    """``python -m provisioner ARGV`` as its own process (the streams are the real ones)."""
    return subprocess.run(
        [sys.executable, "-m", "provisioner", *argv],
        cwd=cli.workdir,
        env={**os.environ, **cli.env, **(env or {})},
        stdout=subprocess.PIPE if stdout is None else stdout,
        stderr=subprocess.PIPE,
        timeout=120,
        check=False,
    )


def _spec_with_names(cli: Cli) -> None:
    cli.spec("tokens:\n" + "".join(f"  - name: {name}\n" for name in NAMES))


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
def test_a_narrow_stdout_gets_the_whole_report_escaped(cli: Cli, encoding: str) -> None:
    _spec_with_names(cli)
    done = _process(cli, ["apply", "--yes"], env={"PYTHONIOENCODING": encoding})
    stdout, stderr = done.stdout.decode(encoding), done.stderr.decode(encoding)
    assert done.returncode == 0, stderr
    assert INTERNAL not in stderr and "Traceback" not in stderr
    assert sorted(cli.names()) == sorted(NAMES)
    assert "Apply complete: 4 operations done." in stdout  # the report is all there
    assert "beta-\\u4ee4\\u724c" in stdout and "rocket-\\ud83d\\ude80" in stdout
    assert ("café" if encoding == "latin-1" else "caf\\u00e9") in stdout


def test_json_on_an_ascii_stdout_is_still_the_same_json(cli: Cli) -> None:
    _spec_with_names(cli)
    done = _process(cli, ["apply", "--yes", "--output", "json"], env={"PYTHONIOENCODING": "ascii"})
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout.decode("ascii"))  # \uXXXX escapes are JSON's own
    assert sorted(r["name"] for r in document["results"]) == sorted(NAMES)  # exact names


def _gone_stdout() -> int:
    """The write end of a pipe whose reader has gone (what `| head` leaves behind)."""
    reader, writer = os.pipe()
    os.close(reader)
    return writer


def test_apply_into_a_pipe_whose_reader_went_away_keeps_its_report_and_code(cli: Cli) -> None:
    _spec_with_names(cli)
    writer = _gone_stdout()
    try:
        done = _process(cli, ["apply", "--yes"], stdout=writer)
    finally:
        os.close(writer)
    stderr = done.stderr.decode()
    assert done.returncode == 0, stderr
    assert "stdout is gone (its reader went away); the rest of the report follows here:" in stderr
    assert "✓ create  rocket-🚀" in stderr and "Apply complete: 4 operations done." in stderr
    assert "Exception ignored" not in stderr and "Traceback" not in stderr
    assert sorted(cli.names()) == sorted(NAMES)


def test_a_failing_apply_keeps_its_own_exit_code_when_stdout_is_gone(cli: Cli) -> None:
    cli.spec("tokens:\n  - name: kept\n")
    assert cli("apply", "--yes").code == 0
    cli.spec("tokens:\n  - name: kept\n    status: disabled\n")
    cli.sandbox.add_fault(parse_fault("PUT /api/token/=500x50"))
    writer = _gone_stdout()
    try:
        done = _process(
            cli, ["apply", "--yes"], env={"PROVISIONER_RETRY": "attempts=1"}, stdout=writer
        )
    finally:
        os.close(writer)
    stderr = done.stderr.decode()
    assert done.returncode == 6, stderr  # partial apply, as with a stdout that works
    assert "✗ disable kept" in stderr and "Traceback" not in stderr


def test_keys_for_a_stdout_that_is_gone_are_never_spilled(cli: Cli) -> None:
    """`apply --keys-to stdout | head -0`: the key is not delivered (and so its new token is
    disabled, as for any sink that fails); the report goes on on stderr, without the key."""
    cli.spec("tokens:\n  - name: piped\n")
    writer = _gone_stdout()
    try:
        done = _process(cli, ["apply", "--yes", "--keys-to", "stdout"], stdout=writer)
    finally:
        os.close(writer)
    stderr = done.stderr.decode()
    assert done.returncode == 6, stderr  # the delivery failed
    (row,) = cli.rows()
    assert row["key"] not in stderr and row["status"] == 2  # never spilled; token disabled
    assert "stdout is gone" in stderr and "Traceback" not in stderr


def test_a_closed_stdout(cli: Cli) -> None:
    """`provisioner apply --yes >&-`: the report goes to stderr; a read-only command says so."""
    cli.spec("tokens:\n  - name: closed\n")
    done = subprocess.run(  # the shell's `>&-`
        ["sh", "-c", 'exec "$@" >&-', "sh", sys.executable, "-m", "provisioner", "apply", "--yes"],
        cwd=cli.workdir,
        env={**os.environ, **cli.env},
        stderr=subprocess.PIPE,
        timeout=120,
        check=False,
    )
    stderr = done.stderr.decode()
    assert done.returncode == 0, stderr
    assert "stdout is gone (it was closed); the rest of the report follows here:" in stderr
    assert "Apply complete: 1 operation done." in stderr and cli.names() == ["closed"]
    writer = _gone_stdout()
    try:
        listed = _process(cli, ["list"], stdout=writer)
    finally:
        os.close(writer)
    assert listed.returncode == 0
    assert listed.stderr.decode().count("stdout is gone") == 1  # one line, not the listing
    assert "closed" not in listed.stderr.decode().replace("stdout is gone", "")


def test_a_closed_stdin_is_no_terminal(cli: Cli) -> None:
    cli.spec("tokens:\n  - name: asked\n")
    done = subprocess.run(  # the shell's `<&-`
        ["sh", "-c", 'exec "$@" <&-', "sh", sys.executable, "-m", "provisioner", "apply"],
        cwd=cli.workdir,
        env={**os.environ, **cli.env},
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 64, done.stderr
    assert b"stdin is not a terminal; pass --yes" in done.stderr and cli.names() == []


# -------------------------------------------------------------- 5. proxies


def _free_port() -> int:
    """A port nothing listens on (a proxy there refuses every connection)."""
    with contextlib.closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class _Proxy:
    url: str
    seen: list[str]  # the absolute URLs it was asked for


@contextlib.contextmanager
def _forwarding_proxy(target: str) -> Iterator[_Proxy]:
    """A plain-HTTP forward proxy that sends every request it gets to ``target`` (the
    sandbox), whatever host the request names."""
    seen: list[str] = []
    upstream = urlsplit(target)

    class Handler(http.server.BaseHTTPRequestHandler):
        def _forward(self) -> None:
            seen.append(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            path = urlsplit(self.path)
            connection = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=30)
            headers = {k: v for k, v in self.headers.items() if k.lower() != "proxy-connection"}
            connection.request(
                self.command, path.path + (f"?{path.query}" if path.query else ""), body, headers
            )
            answer = connection.getresponse()
            data = answer.read()
            self.send_response(answer.status)
            for key, value in answer.getheaders():
                if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            connection.close()

        do_GET = do_POST = do_PUT = do_DELETE = _forward

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield _Proxy(f"http://127.0.0.1:{server.server_port}", seen)
    finally:
        server.shutdown()
        server.server_close()


EVERY_PROXY = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")
REMOTE = "http://relay.invalid:3000"  # never resolved: only the proxy is asked for it


@pytest.mark.parametrize(
    "proxy", ["http://127.0.0.1:{dead}", "socks5://127.0.0.1:{dead}"], ids=["http", "socks5"]
)
def test_loopback_never_goes_through_a_proxy(cli: Cli, proxy: str) -> None:
    """The sandbox (and any loopback URL) is reached directly whatever the proxy variables say."""
    env = dict.fromkeys(EVERY_PROXY, proxy.format(dead=_free_port()))
    cli.spec("keys:\n  to: dotenv:keys.env\ntokens:\n  - name: direct\n")
    applied = cli("apply", "--yes", env=env)
    assert applied.code == 0, applied.all
    assert cli.names() == ["direct"]
    tested = cli("test", env=env)  # the relay side too
    assert tested.code == 0, tested.all
    local = cli.sandbox.url.replace("127.0.0.1", "localhost")
    assert cli("check", "--url", local, env=env).code == 0
    cli.spec("tokens:\n  - name: direct\n", name="bare.yaml")  # no key sink of another server
    assert cli("plan", "--sandbox", "-f", "bare.yaml", env=env).code == 0


def test_a_remote_server_goes_through_the_proxy(cli: Cli) -> None:
    cli.spec("keys:\n  to: dotenv:keys.env\ntokens:\n  - name: proxied\n")
    with _forwarding_proxy(cli.sandbox.url) as proxy:
        env = {"NEWAPI_URL": REMOTE, "HTTP_PROXY": proxy.url}
        result = cli("apply", "--yes", "--insecure-http", env=env)
        assert result.code == 0, result.all
        tested = cli("test", "--insecure-http", env=env)  # the relay through it too
        assert tested.code == 0, tested.all
    assert cli.names() == ["proxied"]
    assert f"{REMOTE}/api/status" in proxy.seen and f"{REMOTE}/v1/models" in proxy.seen


def test_a_proxy_that_cannot_be_reached_is_named(cli: Cli) -> None:
    cli.spec("tokens:\n  - name: x\n")
    dead = f"http://me:s3cret@127.0.0.1:{_free_port()}"
    result = cli("plan", "--insecure-http", env={"NEWAPI_URL": REMOTE, "HTTP_PROXY": dead})
    assert result.code == 69, result.all
    assert "cannot reach relay.invalid:3000 through the proxy http://***@127.0.0.1:" in result.err
    assert (
        "(from HTTP_PROXY)" in result.err
        and "check the URL, the proxy and the network" in result.err
    )
    assert "s3cret" not in result.all and INTERNAL not in result.all


@pytest.mark.skipif(importlib.util.find_spec("socksio") is not None, reason="socksio installed")
def test_a_socks_proxy_is_explained_in_one_line(cli: Cli) -> None:
    cli.spec("tokens:\n  - name: x\n")
    result = cli(
        "plan",
        "--insecure-http",
        "--output",
        "json",
        env={"NEWAPI_URL": REMOTE, "ALL_PROXY": "socks5://127.0.0.1:1080"},
    )
    assert result.code == 64, result.all
    message = json.loads(result.out)["error"]["message"]
    assert message.startswith("ALL_PROXY=socks5://127.0.0.1:1080 is a SOCKS proxy, which needs")
    assert "ImportError" not in result.all and INTERNAL not in result.all


# -------------------------------------------------------------- 6. --output json everywhere


class _MemoryKeyring(KeyringBackend):
    """A keyring in a dict: `login` stores into it, nothing on the machine is touched."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.items.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.items[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.items.pop((service, username), None)


def _commands() -> list[str]:
    """Every command the parser knows: a new one is in this table or the test fails."""
    parser = build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return sorted(commands.choices)


#: commands for which JSON makes no sense refuse it (exit 64): none today
REFUSES_JSON: set[str] = set()
DEAD_SERVER = "http://127.0.0.1:{port}"


def _one_json_document(result: Result, kind: str) -> dict:  # type: ignore[type-arg]
    """stdout is exactly one JSON document (json.loads refuses a second one): the command's
    own (kind) or the error object; nothing of it went anywhere else."""
    document = json.loads(result.out)
    assert isinstance(document, dict) and document["schema_version"] == 1, result.out
    assert document.get("kind") == kind or _is_error(document), document
    if _is_error(document):
        assert document["error"]["exit_code"] == result.code != 0
    return document


def _is_error(document: dict) -> bool:  # type: ignore[type-arg]
    return set(document) == {"schema_version", "error"}


def _successful_run(cli: Cli, command: str, monkeypatch: pytest.MonkeyPatch) -> Result:
    sink = ["--keys-to", "dotenv:keys.env"]
    if command == "login":
        keyring.set_keyring(_MemoryKeyring())
        monkeypatch.setattr("sys.stdin", io.StringIO(cli.sandbox.credential + "\n"))
        return cli("login", "--url", cli.sandbox.url, "--output", "json")
    if command == "revoke":
        monkeypatch.setattr("sys.stdin", io.StringIO(_key_of(cli, "two") + "\n"))
    argv = {
        "validate": ["validate"],
        "plan": ["plan"],
        "apply": ["apply", "--yes"],
        "export": ["export"],
        "list": ["list"],
        "check": ["check"],
        "reveal": ["reveal", "one", *sink],
        "rotate": ["rotate", "one", "--yes", *sink],
        "delete": ["delete", str(cli.row("two")["id"]), "--yes"],
        "test": ["test"],
        "revoke": ["revoke", "--yes"],
        "scan": ["scan", "."],
        "unlock": ["unlock"],
    }[command]
    return cli(*argv, "--output", "json")


def _sandbox_in_json(tmp_path: Path) -> None:
    """`provisioner sandbox --output json`: one JSON object on one line, then it serves."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "provisioner",
            "sandbox",
            "--port",
            "0",
            "--output",
            "json",
            "--db",
            str(tmp_path / "own.db"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        document = json.loads(process.stdout.readline())
        assert document["kind"] == "sandbox" and document["schema_version"] == 1
        assert set(document) >= {"url", "token", "user_id", "profile", "db"}
        # the credential in full, as the text form's token= line shows it: it is the
        # sandbox's own, for the user to use
        assert len(document["token"]) == 32
        assert httpx.get(document["url"] + "/api/status", timeout=10).status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        rest, errors = process.communicate(timeout=30)
    assert process.returncode == 0, errors
    assert rest == ""  # nothing after the one document


@pytest.mark.parametrize("command", _commands())
def test_every_command_prints_one_json_document_or_refuses_the_flag(
    cli: Cli, command: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    if command in REFUSES_JSON:
        _usage_error(cli(command, "--output", "json"), "--output json")
        return
    cli.spec(
        "keys:\n  to: dotenv:keys.env\ntokens:\n  - name: one\n  - name: two\n  - name: three\n"
    )
    assert cli("apply", "--yes").code == 0
    (cli.workdir / "leak.txt").write_text(f"KEY={_key_of(cli, 'three')}\n", encoding="utf-8")
    keys = [row["key"] for row in cli.rows()]
    saved_keyring = keyring.get_keyring()
    try:
        if command == "sandbox":
            _sandbox_in_json(tmp_path)
            failed = cli("sandbox", "--db", str(tmp_path), "--port", "0", "--output", "json")
            _one_json_document(failed, command)
            return
        result = _successful_run(cli, command, monkeypatch)
    finally:
        keyring.set_keyring(saved_keyring)
    expected = {"scan": 8}.get(command, 0)  # scan: a key of the account was found
    assert result.code == expected, result.all
    document = _one_json_document(result, command)
    assert not _is_error(document)
    assert not any(key in result.out for key in keys)  # never a key
    # the failure of the same command: one document too (the error object, or its own)
    dead = DEAD_SERVER.format(port=_free_port())
    env = {"NEWAPI_URL": dead}
    if command == "validate":
        failed = cli("validate", "-f", "missing.yaml", "--output", "json")
        assert failed.code == 65 and _one_json_document(failed, "validate")["valid"] is False
    elif command == "login":
        failed = cli("login", "--output", "json", env={"NEWAPI_URL": " "})
        assert failed.code == 64 and _is_error(_one_json_document(failed, command))
    else:
        monkeypatch.setattr("sys.stdin", io.StringIO(_key_of(cli, "one") + "\n"))
        # the same command against a server that is not there
        argv = {
            "apply": ["apply", "--yes"],
            "reveal": ["reveal", "one"],
            "rotate": ["rotate", "one", "--yes"],
            "delete": ["delete", "1", "--yes"],
            "revoke": ["revoke", "--yes"],
            "scan": ["scan", "leak.txt"],
        }.get(command, [command])
        failed = cli(*argv, "--output", "json", env=env)
        assert failed.code in (64, 69), failed.all
        assert _is_error(_one_json_document(failed, command))


def test_export_json_is_the_spec_as_data(cli: Cli) -> None:
    """`export --output json`: `.spec` is itself a spec (JSON is YAML) that plans no change."""
    cli.spec(
        "tokens:\n  - name: video\n    quota: 5000000\n    models: [gpt-4o]\n"
        "  - name: 令牌\n    expires: 30d\n"
    )
    assert cli("apply", "--yes").code == 0
    result = cli("export", "--output", "json")
    assert result.code == 0, result.all
    document = json.loads(result.out)
    assert document["count"] == 2 and document["out"] is None
    names = [token["name"] for token in document["spec"]["tokens"]]
    assert names == ["video", "令牌"]
    (cli.workdir / "exported.json").write_text(json.dumps(document["spec"]), encoding="utf-8")
    assert cli("validate", "-f", "exported.json").code == 0
    planned = cli("plan", "-f", "exported.json", "--detailed-exitcode")
    assert planned.code == 0, planned.all  # no changes
    # --out: the file is the YAML spec, stdout the JSON document naming it
    written = cli("export", "--out", "back.yaml", "--output", "json")
    assert written.code == 0, written.all
    assert json.loads(written.out)["out"] == "back.yaml"
    assert (cli.workdir / "back.yaml").read_text(encoding="utf-8").startswith("# ")


def test_reveal_json_says_what_went_where(cli: Cli) -> None:
    cli.spec("tokens:\n  - name: one\n    key_name: FIRST_KEY\n")
    assert cli("apply", "--yes").code == 0
    result = cli("reveal", "one", "ghost", "--keys-to", "dotenv:k.env", "--output", "json")
    assert result.code == 6, result.all  # one delivered, one not
    document = json.loads(result.out)
    assert document["sink"] == "dotenv:k.env"
    assert document["keys"] == [
        {
            "name": "one",
            "id": cli.row("one")["id"],
            "key_name": "FIRST_KEY",
            "delivered": True,
            "error": "",
        },
        {
            "name": "ghost",
            "id": None,
            "key_name": "GHOST",
            "delivered": False,
            "error": "no token with this name",
        },
    ]
    assert document["summary"] == {"requested": 2, "delivered": 1, "failed": 1}
    assert cli.row("one")["key"] not in result.all
    assert cli.row("one")["key"] in (cli.workdir / "k.env").read_text(encoding="utf-8")


def test_a_state_folder_that_is_a_file(cli: Cli) -> None:
    cli.spec("tokens:\n  - name: x\n")
    (cli.workdir / ".provisioner").write_text("not a folder\n", encoding="utf-8")
    result = cli("plan", "--sandbox")
    assert result.code == 1, result.all
    assert (
        "cannot use .provisioner/sandbox.db as the sandbox's database: .provisioner is a file, "
        "not a folder" in result.err
    )
    assert INTERNAL not in result.all
