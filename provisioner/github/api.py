"""The few GitHub REST calls the action makes, and their failures in the user's words.

``GITHUB_API_URL`` is the base (``https://api.github.com``, or an Enterprise
server's ``/api/v3``). Every call has a timeout; the comment list follows the
``Link`` header page by page, and never to another host: the token is sent to
``GITHUB_API_URL``'s origin only. The token never appears in a message.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from provisioner import __version__
from provisioner.errors import ProvisionerError
from provisioner.humanize import utc_time
from provisioner.newapi.transport import origin
from provisioner.secret import Secret

API_VERSION = "2022-11-28"
TIMEOUT = 30.0
PAGE_SIZE = 100
MAX_PAGES = 100  # 10,000 comments: far beyond a pull request a person can read
RETRIES = 2  # a 5xx or a dropped connection is tried again this many times
BOT_LOGIN = "github-actions[bot]"  # who GITHUB_TOKEN writes as


class GitHubError(ProvisionerError):
    """A GitHub API call failed; the message says why and what to do."""


@dataclass(frozen=True)
class Comment:
    id: int
    author: str
    body: str
    url: str


@dataclass(frozen=True)
class PullRequest:
    number: int
    merged: bool
    head_sha: str
    merge_sha: str
    url: str


class GitHub(AbstractContextManager["GitHub"]):
    """A GitHub REST client for one repository (``owner/name``)."""

    def __init__(
        self,
        api_url: str,
        repository: str,
        token: Secret,
        *,
        fork: bool = False,
        timeout: float = TIMEOUT,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        from provisioner.keystore.credentials import ssl_verify_setting
        from provisioner.newapi import proxies

        self.base = api_url.rstrip("/")
        self.repository = repository
        self.fork = fork  # a pull request from a fork: GITHUB_TOKEN is read-only there
        self._sleep = sleep
        options = proxies.route(self.base).httpx_options() if transport is None else {}
        self._http = httpx.Client(
            transport=transport,
            timeout=timeout,
            follow_redirects=False,
            verify=ssl_verify_setting(),
            headers={
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": API_VERSION,
                "User-Agent": f"newapi-provisioner/{__version__}",
                "Authorization": f"Bearer {token.reveal()}",
            },
            **options,
        )

    def close(self) -> None:
        self._http.close()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ calls

    def login(self) -> str | None:
        """The token's own user, or None when GitHub will not say (``GITHUB_TOKEN``
        and app tokens get 403 on ``GET /user``)."""
        reply = self._send("GET", f"{self.base}/user", what="who the token is", quiet=(401, 403))
        if reply.status_code in (401, 403):
            return None
        login = _json(reply, "who the token is").get("login")
        return login if isinstance(login, str) else None

    def comments(self, number: int) -> Iterator[Comment]:
        """Every comment of issue or pull request ``number``, oldest first, page by page."""
        url: str | None = f"{self.base}/repos/{self.repository}/issues/{number}/comments"
        params: dict[str, Any] | None = {"per_page": PAGE_SIZE}
        what = f"the comments of pull request #{number}"
        for _ in range(MAX_PAGES):
            if url is None:
                return
            reply = self._send("GET", url, what=what, params=params)
            items = _json(reply, what)
            if not isinstance(items, list):
                raise GitHubError(f"GitHub answered {what} with something else than a list")
            for item in items:
                comment = _comment(item)
                if comment is not None:
                    yield comment
            url, params = self._next_page(reply), None
        raise GitHubError(f"{what}: more than {MAX_PAGES} pages; stopped reading")

    def create_comment(self, number: int, body: str) -> Comment:
        url = f"{self.base}/repos/{self.repository}/issues/{number}/comments"
        what = f"a comment on pull request #{number}"
        return self._write_comment("POST", url, body, what, "without the comment it made")

    def update_comment(self, comment_id: int, body: str) -> Comment:
        url = f"{self.base}/repos/{self.repository}/issues/comments/{comment_id}"
        what = f"comment {comment_id}"
        return self._write_comment("PATCH", url, body, what, "without the comment", edit=True)

    def _write_comment(
        self, method: str, url: str, body: str, what: str, missing: str, *, edit: bool = False
    ) -> Comment:
        reply = self._send(method, url, what=what, json={"body": body}, write=True)
        comment = _comment(_json(reply, what))
        if comment is None:
            answered = f"the edit of {what}" if edit else what
            raise GitHubError(f"GitHub answered {answered} {missing}")
        return comment

    def pulls_of_commit(self, sha: str) -> list[PullRequest]:
        """The pull requests commit ``sha`` belongs to (a merge's or a squash's own)."""
        url = f"{self.base}/repos/{self.repository}/commits/{sha}/pulls"
        what = f"the pull requests of commit {sha[:12]}"
        items = _json(self._send("GET", url, what=what, params={"per_page": PAGE_SIZE}), what)
        if not isinstance(items, list):
            raise GitHubError(f"GitHub answered {what} with something else than a list")
        pulls = []
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("number"), int):
                continue
            head = item.get("head")
            head = head if isinstance(head, dict) else {}
            pulls.append(
                PullRequest(
                    number=item["number"],
                    merged=bool(item.get("merged_at")),
                    head_sha=str(head.get("sha") or ""),
                    merge_sha=str(item.get("merge_commit_sha") or ""),
                    url=str(item.get("html_url") or ""),
                )
            )
        return pulls

    # ------------------------------------------------------------------ plumbing

    def _next_page(self, reply: httpx.Response) -> str | None:
        """The ``Link: <...>; rel="next"`` URL, if it stays on the API's origin."""
        following = reply.links.get("next", {}).get("url")
        if not following:
            return None
        if origin(following) != origin(self.base):  # :443 spelled out is the same origin
            raise GitHubError(
                f"GitHub's next page of comments is on another host ({urlsplit(following).netloc})"
                "; not following it with the token"
            )
        return str(following)

    def _send(
        self,
        method: str,
        url: str,
        *,
        what: str,
        write: bool = False,
        quiet: tuple[int, ...] = (),
        **kwargs: Any,
    ) -> httpx.Response:
        delay = 1.0
        for attempt in range(RETRIES + 1):
            try:
                reply = self._http.request(method, url, **kwargs)
            except httpx.TimeoutException:
                problem = f"GitHub did not answer within {self._http.timeout.read:g} s"
            except httpx.TransportError as exc:
                problem = f"could not reach GitHub at {self.base} ({type(exc).__name__})"
            else:
                if reply.status_code < 300 or reply.status_code in quiet:
                    return reply
                if reply.status_code < 500:
                    raise GitHubError(self._refusal(reply, what, write))
                problem = f"GitHub answered HTTP {reply.status_code}"
            if attempt < RETRIES:
                self._sleep(delay)
                delay *= 2
        raise GitHubError(f"{what}: {problem}; tried {RETRIES + 1} times. Re-run the job later.")

    def _refusal(self, reply: httpx.Response, what: str, write: bool) -> str:
        """A 4xx in the user's words: what was refused, why, and what to do."""
        status = reply.status_code
        message = ""
        try:
            data = reply.json()
            if isinstance(data, dict) and isinstance(data.get("message"), str):
                message = data["message"]
        except ValueError:
            pass
        said = f" (GitHub: {message!r})" if message else ""
        if status == 401:
            return (
                f"{what}: GitHub refused the github-token (HTTP 401{said}); pass a valid one, "
                "or leave github-token unset to use the job's GITHUB_TOKEN"
            )
        if status in (403, 429) and reply.headers.get("x-ratelimit-remaining") == "0":
            reset = reply.headers.get("x-ratelimit-reset", "")
            when = ""
            if reset.isdigit():
                when = " until " + utc_time(int(reset), "clock")
            return f"{what}: GitHub's API rate limit for this token is used up{when}{said}"
        if status == 403 and write and self.fork:
            return (
                f"{what}: GitHub refused (HTTP 403{said}). This pull request comes from a fork, "
                "and GitHub gives such workflows a read-only GITHUB_TOKEN, so the plan cannot "
                "be posted as a comment; it is in the job summary. Set comment: false for "
                "pull requests from forks"
            )
        if status == 403:
            need = "pull-requests: write" if write else "pull-requests: read"
            return (
                f"{what}: GitHub refused (HTTP 403{said}). The github-token lacks a permission: "
                f"give the job `permissions: {need}` (and `contents: read`), or pass a token "
                "that has it"
            )
        if status == 404:
            return (
                f"{what}: not found (HTTP 404{said}). Check GITHUB_REPOSITORY "
                f"({self.repository}) and that the github-token can see it"
            )
        return f"{what}: GitHub refused (HTTP {status}{said})"


def _json(reply: httpx.Response, what: str) -> Any:
    try:
        return reply.json()
    except ValueError:
        raise GitHubError(f"GitHub answered {what} with something else than JSON") from None


def _comment(item: Any) -> Comment | None:
    if not isinstance(item, dict) or not isinstance(item.get("id"), int):
        return None
    user = item.get("user")
    user = user if isinstance(user, dict) else {}
    return Comment(
        id=item["id"],
        author=str(user.get("login") or ""),
        body=str(item.get("body") or ""),
        url=str(item.get("html_url") or ""),
    )
