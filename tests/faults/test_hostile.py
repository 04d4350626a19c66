"""Hostile server answers: a proxy in front of a real sandbox rewrites the token list.

Every case runs the real CLI (`--url` to the proxy) and must end in a clear error
(exit 1, 69 or 77) or be handled; never a traceback, never a write after a bad read,
and the credential never reaches another host.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from provisioner.sandbox import Sandbox
from tests.e2e.conftest import run_main
from tests.faults.helpers import assert_no_secrets
from tests.newapi.fakes import token

Rewrite = Callable[[dict[str, Any], str], tuple[int, dict[str, str], bytes] | None]


class Recorder:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str]]] = []


@contextlib.contextmanager
def serve(handle: Callable[[BaseHTTPRequestHandler], None]) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _any(self) -> None:
            handle(self)

        do_GET = do_POST = do_PUT = do_DELETE = _any

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _reply(
    handler: BaseHTTPRequestHandler, status: int, headers: dict[str, str], body: bytes
) -> None:
    handler.send_response(status)
    for name, value in headers.items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


@contextlib.contextmanager
def hostile(sandbox: Sandbox, rewrite: Rewrite, log: Recorder) -> Iterator[str]:
    """Forward to the sandbox; ``rewrite(list_page_json, query)`` may replace a list answer."""

    def handle(handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        log.requests.append((handler.command, handler.path, dict(handler.headers)))
        upstream = httpx.request(
            handler.command,
            sandbox.url + handler.path,
            content=body,
            headers={k: v for k, v in handler.headers.items() if k.lower() != "host"},
        )
        path, _, query = handler.path.partition("?")
        if handler.command == "GET" and path == "/api/token/":
            replaced = rewrite(upstream.json(), query)
            if replaced is not None:
                return _reply(handler, *replaced)
        headers = {"Content-Type": upstream.headers.get("content-type", "application/json")}
        _reply(handler, upstream.status_code, headers, upstream.content)

    with serve(handle) as url:
        yield url


def run_cli(url: str, sandbox: Sandbox, workdir: Path, *argv: str) -> tuple[int, str, str]:
    env = {
        "NEWAPI_TOKEN": sandbox.credential,
        "CI": "true",
        "NO_COLOR": "1",
        "PROVISIONER_RATE_LIMIT": "off",
        "PROVISIONER_RETRY": "attempts=2,base=0.01,max_time=1",
    }
    result = run_main([*argv, "--url", url], env, workdir, unset=("NEWAPI_URL",))
    return result.code, result.out, result.err


SPEC = "version: 1\ntokens:\n  - name: seed-1\n    quota: 3 USD\n  - name: brand-new\n"


def _json(status: int, data: Any) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(data).encode()


def _items(page: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    for item in page["data"]["items"]:
        change(item)
    return page


MASKED = "abcd**********wxyz"


def _endless(page: dict[str, Any], query: str) -> tuple[int, dict[str, str], bytes]:
    """Every page full of new ids, and a total of a billion."""
    number = int(dict(p.split("=") for p in query.split("&"))["p"])
    items = [
        token(10_000 + number * 100 + i, key=MASKED, name=f"x-{number}-{i}", created_time=1)
        for i in range(100)
    ]
    data = {"page": number, "page_size": 100, "total": 10**9, "items": items}
    return _json(200, {"success": True, "message": "", "data": data})


# name -> (rewrite, exit codes accepted; 0/2 means handled)
CASES: dict[str, tuple[Rewrite, tuple[int, ...]]] = {
    "html": (
        lambda page, q: (200, {"Content-Type": "text/html"}, b"<html><body>Login</body></html>"),
        (1, 69),
    ),
    "truncated-json": (
        lambda page, q: (200, {"Content-Type": "application/json"}, json.dumps(page).encode()[:57]),
        (1, 69),
    ),
    "endless-pages": (_endless, (1, 69)),
    "negative-numbers": (
        lambda page, q: _json(
            200, _items(page, lambda i: i.update(remain_quota=-5, used_quota=-7, expired_time=-99))
        ),
        (0, 1, 2, 69),
    ),
    "huge-numbers": (
        lambda page, q: _json(
            200,
            _items(
                page,
                lambda i: i.update(remain_quota=10**40, used_quota=10**30, created_time=10**20),
            ),
        ),
        (0, 1, 2, 69),
    ),
    "negative-total": (
        lambda page, q: _json(200, {**page, "data": {**page["data"], "total": -3}}),
        (0, 2),
    ),
    "unknown-fields": (
        lambda page, q: _json(
            200, _items(page, lambda i: i.update(surprise={"a": [1]}, Extra=None))
        ),
        (0, 2),
    ),
    "missing-fields": (lambda page, q: _json(200, _items(page, lambda i: i.pop("name"))), (1, 69)),
    "unknown-status": (
        lambda page, q: _json(200, _items(page, lambda i: i.update(status=42))),
        (0, 2),
    ),
    "string-ids": (
        lambda page, q: _json(200, _items(page, lambda i: i.update(id="seven"))),
        (1, 69),
    ),
    "not-a-dict": (
        lambda page, q: _json(200, {"success": True, "data": {"items": "nope", "total": 1}}),
        (0, 1, 2, 69),
    ),
}


@pytest.fixture
def seeded(tmp_path: Path) -> Iterator[Sandbox]:
    sb = Sandbox(db_path=str(tmp_path / "sandbox.db")).start(port=0)
    sb.seed(3)
    try:
        yield sb
    finally:
        sb.stop()


@pytest.mark.parametrize("command", ["plan", "apply"])
@pytest.mark.parametrize("case", list(CASES))
def test_hostile_list(
    seeded: Sandbox, tmp_path: Path, case: str, command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rewrite, accepted = CASES[case]
    # The real bound is 2,000 pages (provisioner.newapi.dialect.MAX_PAGES); 30 keeps it quick.
    monkeypatch.setattr("provisioner.newapi.dialect.MAX_PAGES", 30)
    (tmp_path / "tokens.yaml").write_text(SPEC, encoding="utf-8")
    log = Recorder()
    before = seeded.rows()
    argv = ["plan", "--detailed-exitcode"] if command == "plan" else ["apply", "--yes"]
    with hostile(seeded, rewrite, log) as url:
        code, out, err = run_cli(url, seeded, tmp_path, *argv)
    if command == "apply" and code == 0:
        code = 2  # an apply that ran is "handled"; compare with the plan's codes
    if command == "apply" and code == 6 and case == "negative-numbers":
        # The re-listed new token shows another expiry than was written (the proxy rewrote
        # it), so its create is not reported done: nothing is reported done that the server
        # did not keep (docs/reconcile.md#plan-knows-the-server).
        assert "the server did not keep expired_time" in out, out
        code = 2
    assert code in accepted, (code, out, err)
    assert_no_secrets(seeded, out, err)
    if code not in (0, 2):
        assert err.startswith("error: ") or "\nerror: " in err, err
        assert not [r for r in log.requests if r[0] != "GET"], "a write after a bad read"
        assert seeded.rows() == before
    gets = [r for r in log.requests if r[0] == "GET"]
    assert len(gets) < 40, f"{len(gets)} requests: the paging did not stop"
    if case == "endless-pages":
        assert "did not end after 30 pages" in err, err


def test_redirect_to_another_host_keeps_the_credential(seeded: Sandbox, tmp_path: Path) -> None:
    (tmp_path / "tokens.yaml").write_text(SPEC, encoding="utf-8")
    elsewhere = Recorder()

    def other(handler: BaseHTTPRequestHandler) -> None:
        elsewhere.requests.append((handler.command, handler.path, dict(handler.headers)))
        _reply(handler, *_json(200, {"success": True, "data": {"items": [], "total": 0}}))

    with serve(other) as other_url:

        def redirect(page: dict[str, Any], query: str) -> tuple[int, dict[str, str], bytes]:
            return 307, {"Location": f"{other_url}/api/token/?{query}"}, b""

        log = Recorder()
        with hostile(seeded, redirect, log) as url:
            code, out, err = run_cli(url, seeded, tmp_path, "apply", "--yes")
    assert code in (1, 69), (code, out, err)
    assert "another host" in err and "credential was not sent" in err, err
    for _, _, headers in elsewhere.requests:
        lowered = {k.lower(): v for k, v in headers.items()}
        assert "authorization" not in lowered and "new-api-user" not in lowered
        assert seeded.credential not in json.dumps(headers)
    assert not [r for r in log.requests if r[0] != "GET"]
    assert_no_secrets(seeded, out, err)
