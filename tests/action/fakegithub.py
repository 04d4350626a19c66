"""A local fake of the few GitHub REST routes the action calls, served over loopback.

It answers as GitHub does where the action depends on it: ``GITHUB_TOKEN`` (a
``ghs_`` token) is ``github-actions[bot]`` and gets 403 on ``GET /user``; a
personal token is its user; a read-only token (a fork's pull request) gets 403
on writes with GitHub's message; comment lists are paged with a ``Link`` header
(two per page here, whatever ``per_page`` asks, so paging is exercised).
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

BOT = "github-actions[bot]"


@dataclass
class Call:
    method: str
    path: str
    body: Any = None


@dataclass
class FakeGitHub:
    repository: str = "acme/infra"
    page_size: int = 2
    #: token -> (login, may write); a ghs_ token is an installation token (no GET /user)
    tokens: dict[str, tuple[str, bool]] = field(default_factory=dict)
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    #: commit sha -> the pull requests GitHub associates with it
    pulls: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    next_page_host: str = ""  # a Link to another host (the client must not follow it)
    failures: list[int] = field(default_factory=list)  # statuses answered first, one per call
    _next_id: int = 1000
    _server: ThreadingHTTPServer | None = None

    # ------------------------------------------------------------------ setup

    def start(self) -> FakeGitHub:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                fake._handle(self, "GET")

            def do_POST(self) -> None:
                fake._handle(self, "POST")

            def do_PATCH(self) -> None:
                fake._handle(self, "PATCH")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def add_comment(self, number: int, author: str, body: str) -> dict[str, Any]:
        self._next_id += 1
        comment = {
            "id": self._next_id,
            "user": {"login": author, "type": "Bot" if author.endswith("[bot]") else "User"},
            "body": body,
            "html_url": f"https://github.com/{self.repository}/pull/{number}#issuecomment-"
            f"{self._next_id}",
        }
        self.comments.setdefault(number, []).append(comment)
        return comment

    def merged(self, sha: str, number: int, head_sha: str = "") -> None:
        """Commit ``sha`` is the merge of pull request ``number``."""
        self.pulls.setdefault(sha, []).append(
            {
                "number": number,
                "state": "closed",
                "merged_at": "2026-12-03T12:00:00Z",
                "head": {"sha": head_sha or "f" * 40},
                "merge_commit_sha": sha,
                "html_url": f"https://github.com/{self.repository}/pull/{number}",
            }
        )

    def writes(self) -> list[Call]:
        return [c for c in self.calls if c.method in ("POST", "PATCH")]

    # ------------------------------------------------------------------ serving

    def _handle(self, request: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(request.path)
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        self.calls.append(Call(method, parts.path, body))
        if self.failures:
            return self._send(request, self.failures.pop(0), {"message": "Server Error"})
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else ""
        if token not in self.tokens:
            return self._send(request, 401, {"message": "Bad credentials"})
        login, may_write = self.tokens[token]
        repo = re.escape(self.repository)
        query = parse_qs(parts.query)

        if method == "GET" and parts.path == "/user":
            if token.startswith("ghs_"):
                return self._send(
                    request, 403, {"message": "Resource not accessible by integration"}
                )
            return self._send(request, 200, {"login": login})
        match = re.fullmatch(rf"/repos/{repo}/issues/(\d+)/comments", parts.path)
        if match and method == "GET":
            return self._list(request, int(match.group(1)), query)
        if match and method == "POST":
            if not may_write:
                return self._send(
                    request, 403, {"message": "Resource not accessible by integration"}
                )
            comment = self.add_comment(int(match.group(1)), login, body["body"])
            return self._send(request, 201, comment)
        match = re.fullmatch(rf"/repos/{repo}/issues/comments/(\d+)", parts.path)
        if match and method == "PATCH":
            if not may_write:
                return self._send(
                    request, 403, {"message": "Resource not accessible by integration"}
                )
            for comments in self.comments.values():
                for comment in comments:
                    if comment["id"] == int(match.group(1)):
                        if comment["user"]["login"] != login:
                            return self._send(request, 403, {"message": "Forbidden"})
                        comment["body"] = body["body"]
                        return self._send(request, 200, comment)
            return self._send(request, 404, {"message": "Not Found"})
        match = re.fullmatch(rf"/repos/{repo}/commits/([0-9a-f]+)/pulls", parts.path)
        if match and method == "GET":
            return self._send(request, 200, self.pulls.get(match.group(1), []))
        return self._send(request, 404, {"message": "Not Found"})

    def _list(self, request: BaseHTTPRequestHandler, number: int, query: dict) -> None:
        page = int(query.get("page", ["1"])[0])
        comments = self.comments.get(number, [])
        start = (page - 1) * self.page_size
        items = comments[start : start + self.page_size]
        headers = {}
        if start + self.page_size < len(comments):
            host = self.next_page_host or self.url
            link = f"{host}/repos/{self.repository}/issues/{number}/comments?page={page + 1}"
            headers["Link"] = f'<{link}>; rel="next"'
        self._send(request, 200, items, headers)

    def _send(
        self,
        request: BaseHTTPRequestHandler,
        status: int,
        data: Any,
        headers: dict[str, str] | None = None,
    ) -> None:
        blob = json.dumps(data).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(blob)))
        for name, value in (headers or {}).items():
            request.send_header(name, value)
        request.end_headers()
        request.wfile.write(blob)
