"""``provisioner check`` against the sandbox and against things that are not new-api."""

from __future__ import annotations

import json
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from provisioner.sandbox import Sandbox
from tests.e2e.conftest import Cli


def test_check_reports_server_user_groups_and_permissions(cli: Cli) -> None:
    cli.sandbox.seed(3)
    result = cli("check")
    assert result.code == 0, result.all
    assert "v1.0.0-sandbox" in result.out
    assert "bearer token (no user header needed), page lists, masked keys" in result.out
    assert "sandbox (id 1" in result.out
    assert re.search(r"^groups +default, vip$", result.out, re.M)  # as recorded: no auto
    assert "3 of 1000" in result.out
    assert "write: yes" in result.out and "reveal: yes" in result.out
    assert cli.rows() and len(cli.rows()) == 3  # the permission probes changed nothing
    data = json.loads(cli("check", "--output", "json").out)
    assert data["tokens"] == 3 and data["permissions"]["write"] == "yes"
    assert data["dialect"]["list_shape"] == "page"


EXPECTED = {
    # profile: (what the output must say, what it must not)
    "one-api-2025-02": (
        [
            "one-api",
            "groups      not available",
            "reveal: not needed",
            "full keys in the list",
            "names up to 30 bytes",
            "group no",
            "no token cap",
        ],
        ["masked keys"],
    ),
    "new-api-2025-10": (
        [
            "full keys in the list",
            "reveal: not needed",
            "cross_group_retry no",
            "auto_groups no",
            "names up to 30 bytes",
        ],
        ["masked keys", "reveal: yes"],
    ),
    "new-api-2026-07": (
        ["masked keys", "reveal: yes", "cross_group_retry yes", "auto_groups no", "of 1000"],
        ["full keys"],
    ),
    "new-api-2026-08": (["masked keys", "auto_groups yes", "auto groups default"], ["full keys"]),
}


@pytest.mark.parametrize("profile", sorted(EXPECTED))
@pytest.mark.parametrize("seeded", [True, False], ids=["with-tokens", "empty"])
def test_check_works_on_every_generation_and_says_what_is_missing(
    tmp_path: Path, profile: str, seeded: bool
) -> None:
    sb = Sandbox(db_path=str(tmp_path / "s.db"), profile=profile).start(port=0)
    try:
        if seeded:
            sb.seed(2)
        cli = Cli(sb, tmp_path)
        cli.env["NEWAPI_USER_ID"] = str(sb.user_id)
        result = cli("check")
        assert result.code == 0, result.all
        must, must_not = EXPECTED[profile]
        if not seeded:  # no record to look at: what only records show is "not known yet"
            must = [
                m for m in must if m.startswith(("groups", "reveal", "masked", "full", "one-api"))
            ]
        for text in must:
            assert text in result.out, (text, result.out)
        for text in must_not:
            assert text not in result.out, (text, result.out)
        data = json.loads(cli("check", "--output", "json").out)
        assert data["kind"] == "check" and data["version"]
    finally:
        sb.stop()


def test_check_wrong_credential_is_77(cli: Cli) -> None:
    result = cli("check", env={"NEWAPI_TOKEN": "not-the-right-token-at-all"})
    assert result.code == 77, result.all
    assert "Traceback" not in result.err


def test_check_refuses_relay_key_as_credential(cli: Cli) -> None:
    result = cli("check", env={"NEWAPI_TOKEN": "sk-" + "a" * 48})
    assert result.code == 77
    assert "relay" in result.err and "a" * 48 not in result.all


class _Html(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<html><body>Welcome to nginx!</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_check_not_a_new_api_server_is_69(cli: Cli) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Html)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        result = cli("check", "--url", url)
    finally:
        server.shutdown()
        server.server_close()
    assert result.code == 69, result.all
    assert "new-api" in result.err


def test_check_unreachable_is_69(cli: Cli) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = cli("check", "--url", f"http://127.0.0.1:{port}")
    assert result.code == 69, result.all
    assert "cannot reach" in result.err


def test_plain_http_to_remote_host_is_refused(cli: Cli) -> None:
    result = cli("check", "--url", "http://api.example.com")
    assert result.code == 64 and "--insecure-http" in result.err
