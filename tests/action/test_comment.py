"""The plan comment's parts (marker, review data, cut) and the GitHub client, one at a time.

The client talks to the fake GitHub over loopback; what a runner sees end to end
is tests/action/test_action.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from provisioner.github.api import BOT_LOGIN, Comment, GitHub, GitHubError
from provisioner.github.comment import (
    COMMENT_LIMIT,
    PLAN_BUDGET,
    Review,
    body,
    fit,
    marker,
    ours,
)
from provisioner.plan.actions import FieldChange
from provisioner.plan.model import Plan
from provisioner.plan.review import ReviewEntry
from provisioner.plan.safety import Violation
from provisioner.render.plan import Header, render_markdown
from provisioner.secret import Secret
from tests.action.conftest import GITHUB_TOKEN
from tests.action.fakegithub import BOT, FakeGitHub
from tests.action_builder import make_action

HEAD = Header(file="tokens.yaml", url="https://api.example.com", version="v1", user="alice")
WHERE = "[the job summary](https://github.com/acme/infra/actions/runs/1)"


def creates(n: int, name: str = "video-render") -> Plan:
    details = (FieldChange("expired_time", None, "never"), FieldChange("group", None, "vip"))
    actions = [
        make_action("create", f"{name}-{i:05d}", set={"name": f"{name}-{i:05d}"}, changes=details)
        for i in range(n)
    ]
    return Plan(actions=actions, owned=n)


# ---------------------------------------------------------------- marker and review data


@pytest.mark.parametrize(
    ("file", "expected"),
    [
        ("tokens.yaml", "<!-- provisioner-plan: tokens.yaml -->"),
        ("infra/prod tokens.yaml", "<!-- provisioner-plan: infra/prod%20tokens.yaml -->"),
        ("a-->b.yaml", "<!-- provisioner-plan: a-%2D%3Eb.yaml -->"),
        ("x---y.yaml", "<!-- provisioner-plan: x-%2D-y.yaml -->"),
    ],
)
def test_the_marker_names_the_file_and_cannot_end_early(file: str, expected: str) -> None:
    assert marker(file) == expected
    assert "--" not in expected[len("<!--") : -len("-->")]


def test_review_data_reads_back_and_no_name_can_break_out() -> None:
    entries = (
        ReviewEntry("create", "evil --> <b>x</b>", None, "", "0123456789abcdef"),
        ReviewEntry("update", "视频", 7, "fedcba9876543210", "0011223344556677"),
    )
    review = Review("tokens.yaml", "c0ffee", "aaaabbbbccccdddd", {"create": 1}, entries)
    text = body("tokens.yaml", review, "### plan")
    hidden = text.splitlines()[1]
    assert hidden.startswith("<!-- provisioner-review: ") and hidden.endswith(" -->")
    assert hidden.count("-->") == 1 and "<b>" not in hidden
    assert Review.decode(text) == review


@pytest.mark.parametrize(
    "damaged",
    [
        "no review here",
        "<!-- provisioner-review: not base64! -->",
        "<!-- provisioner-review: e30= -->",  # {} : no version
        "<!-- provisioner-review: eyJ2IjoxfQ== -->",  # {"v": 1}: no file
    ],
)
def test_damaged_review_data_is_no_review(damaged: str) -> None:
    assert Review.decode(marker("tokens.yaml") + "\n" + damaged) is None


def test_too_many_entries_keep_the_fingerprint_only() -> None:
    entries = tuple(
        ReviewEntry("create", f"token-{i:05d}", None, "", "0123456789abcdef") for i in range(5000)
    )
    review = Review("tokens.yaml", "c0ffee", "aaaabbbbccccdddd", {"create": 5000}, entries)
    read = Review.decode(body("tokens.yaml", review, "x"))
    assert read is not None
    assert read.entries is None and read.fingerprint == "aaaabbbbccccdddd"
    assert read.counts == {"create": 5000}
    assert len(body("tokens.yaml", review, "x")) < 2_000


def test_ours_is_the_marked_comment_of_the_token_user_only() -> None:
    mine = marker("tokens.yaml") + "\nplan"
    comments = [
        Comment(1, "mallory", mine, ""),  # the marker, pasted by someone else
        Comment(2, BOT_LOGIN, "plan without a marker", ""),
        Comment(3, BOT_LOGIN, marker("other.yaml") + "\nplan", ""),  # another file's
        Comment(4, BOT_LOGIN, "quoting\n" + mine, ""),  # the marker, not first
        Comment(5, BOT_LOGIN, mine, ""),
        Comment(6, BOT_LOGIN, mine, ""),
    ]
    assert ours(comments, "tokens.yaml", BOT_LOGIN) == comments[4]
    assert ours(comments, "tokens.yaml", "alice") is None


# ---------------------------------------------------------------- cutting to the limit


def test_a_short_plan_is_left_whole() -> None:
    markdown = render_markdown(creates(3), HEAD, [], limit=None)
    assert fit(markdown, PLAN_BUDGET, WHERE) == markdown


def test_a_long_plan_is_cut_by_whole_lines_with_the_count_of_what_was_cut() -> None:
    markdown = render_markdown(creates(4000), HEAD, [], limit=None)
    assert len(markdown) > COMMENT_LIMIT
    cut = fit(markdown, PLAN_BUDGET, WHERE)
    assert len(cut) <= PLAN_BUDGET
    shown = re.findall(r"^\+ create video-render-\d+$", cut, re.MULTILINE)
    note = re.search(r"\*\(([\d,]+) more lines of the plan \(([\d,]+) actions", cut)
    assert note is not None
    assert int(note.group(1).replace(",", "")) == 3 * (4000 - len(shown))
    assert int(note.group(2).replace(",", "")) == 4000 - len(shown)
    block = cut.split("```diff\n", 1)[1].split("\n```", 1)[0].split("\n")
    assert block[-1] == "  group: vip"  # the last action shown is whole
    assert WHERE in cut
    # the block and the details are closed; the table and the summary line stay
    assert cut.count("\n```") == 2 and "</details>" in cut
    assert "| 4000 |" in cut and "**Plan: 4000 to create," in cut


def test_a_plan_whose_refusals_alone_are_too_long_keeps_its_headline() -> None:
    violations = [Violation("server", "x" * 200, overridable=False) for _ in range(500)]
    markdown = render_markdown(creates(2), HEAD, violations, limit=None)
    cut = fit(markdown, 10_000, WHERE)
    assert len(cut) <= 10_000
    assert cut.startswith("### provisioner plan: `tokens.yaml`")
    assert "too long for a comment" in cut and WHERE in cut
    assert cut.rstrip().endswith("**")  # the summary line


# ---------------------------------------------------------------- the client


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    github = FakeGitHub(tokens={GITHUB_TOKEN: (BOT, True), "ghp_alice": ("alice", True)})
    github.start()
    try:
        yield github
    finally:
        github.stop()


def client(fake: FakeGitHub, token: str = GITHUB_TOKEN, **kw: object) -> GitHub:
    return GitHub(fake.url, "acme/infra", Secret(token), sleep=lambda _: None, **kw)  # type: ignore[arg-type]


def test_every_page_of_comments_is_read(fake: FakeGitHub) -> None:
    for n in range(9):
        fake.add_comment(3, "alice", f"comment {n}")
    with client(fake) as github:
        assert [c.body for c in github.comments(3)] == [f"comment {n}" for n in range(9)]
    assert len([c for c in fake.calls if c.path.endswith("/comments")]) == 5


def test_a_next_page_on_another_host_is_not_followed(fake: FakeGitHub) -> None:
    for n in range(3):
        fake.add_comment(3, "alice", f"comment {n}")
    fake.next_page_host = "http://198.51.100.7:9"  # never contacted: refused before
    with client(fake) as github, pytest.raises(GitHubError, match="on another host"):
        list(github.comments(3))


def test_who_the_token_is(fake: FakeGitHub) -> None:
    with client(fake) as github:
        assert github.login() is None  # GITHUB_TOKEN: GitHub will not say
    with client(fake, "ghp_alice") as github:
        assert github.login() == "alice"


def test_server_errors_are_retried_then_named(fake: FakeGitHub) -> None:
    fake.failures = [502, 503]
    with client(fake) as github:
        assert github.create_comment(3, "hello").author == BOT
    fake.failures = [500, 500, 500]
    with client(fake) as github, pytest.raises(GitHubError, match="HTTP 500; tried 3 times"):
        github.create_comment(3, "hello")


@pytest.mark.parametrize(
    ("token", "fork", "words"),
    [
        ("ghs_unknown", False, "refused the github-token (HTTP 401"),
        ("ghs_readonly", False, "permissions: pull-requests: write"),
        ("ghs_readonly", True, "comes from a fork, and GitHub gives such workflows a read-only"),
    ],
)
def test_refusals_say_why_and_what_to_do(
    fake: FakeGitHub, token: str, fork: bool, words: str
) -> None:
    fake.tokens["ghs_readonly"] = (BOT, False)
    with client(fake, token, fork=fork) as github, pytest.raises(GitHubError) as exc:
        github.create_comment(3, "hello")
    assert words in str(exc.value)
    assert token not in str(exc.value)


def test_a_silent_github_is_a_clear_error() -> None:
    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    github = GitHub(
        "https://api.github.com",
        "acme/infra",
        Secret(GITHUB_TOKEN),
        transport=httpx.MockTransport(hang),
        sleep=lambda _: None,
    )
    with github, pytest.raises(GitHubError, match="did not answer within 30 s; tried 3 times"):
        github.pulls_of_commit("b" * 40)
