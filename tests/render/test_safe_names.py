"""Names made to deceive, through every renderer (docs/commands.md#names-from-the-server).

A token name, group, model or server message is typed by whoever uses the web
UI. In text it must show escaped (no ANSI, no line break, no bidi trick); in
Markdown it must not close a fence, a table cell or ``<details>``, nor start a
heading, link or HTML; JSON carries the exact value. Parse-free checks.
"""

from __future__ import annotations

import json
import re

import pytest

from provisioner.keys.match import Place, ScanReport
from provisioner.keys.verdict import KeyTest, KeyTestRun
from provisioner.listing.findings import build_listing
from provisioner.observed import ObservedToken
from provisioner.plan.actions import FieldChange
from provisioner.plan.model import Conflict, Notice, Plan
from provisioner.plan.safety import Violation
from provisioner.render import deletion, keys, listing, report
from provisioner.render.plan import Header, dumps, plan_json, render_markdown, render_text
from provisioner.render.safe import fence, json_text, md_code, md_text, text
from provisioner.render.style import Style
from provisioner.report import OpResult, Report
from tests.action_builder import make_action

NOW = 1_800_000_000
PLAIN = Style(False)

CORPUS = [
    "\x1b[31mred\x1b[0m",  # ANSI colour
    "\x1b]8;;https://evil\x07link\x1b]8;;\x07",  # OSC 8 hyperlink
    "two\nlines",
    "carriage\rreturn",
    "tick```three",
    "````four",
    "`edge`",
    "pipe|cell",
    "</details>",
    "<script>alert(1)</script>",
    "# heading",
    "[link](https://evil.example)",
    "![img](x)",
    "www.evil.example",
    "@everyone",
    "zero\u200bwidth\u2060joiner",
    "rtl\u202etxt.exe",
    "ltr\u2066isolate\u2069",
    "c1\x85next\x9bcsi",
    "bell\x07del\x7f",
    "tab\tvt\x0bff\x0c",
    "line\u2028separator",
    "_emph_ *bold* ~~strike~~",
    "&amp; &lt;",
]
HEAD = Header(file="tokens.yaml", url="http://127.0.0.1:3000", version="v1\x1b[2J", user="u\u202e")


def printable_lines(output: str) -> None:
    for line in output.split("\n"):
        assert line.isprintable(), repr(line)


def plan_of(names: list[str]) -> Plan:
    actions = []
    for index, name in enumerate(names):
        actions.append(
            make_action(
                "update",
                name,
                token_id=index + 1,
                changes=(
                    FieldChange("group", name, "default"),
                    FieldChange("models", [name], ["gpt-4o"]),
                ),
                reason=f"drift on {name}",
            )
        )
    return Plan(
        actions=actions,
        conflicts=[Conflict(names[0], (1, 2))],
        notices=[Notice(name, 9, "orphan", f"{name} is kept") for name in names],
        now=NOW,
    )


VIOLATIONS = [Violation("protected", f"{CORPUS[1]} is protected", True, "--force")]


# ---------------------------------------------------------------------------- the escapers


@pytest.mark.parametrize("name", CORPUS)
def test_text_is_printable_and_keeps_safe_characters(name: str) -> None:
    shown = text(name)
    assert shown.isprintable()
    assert "\x1b" not in shown and "\n" not in shown
    assert text("视频 sora-2 (x) é") == "视频 sora-2 (x) é"  # nothing to escape, unchanged


@pytest.mark.parametrize("name", CORPUS)
def test_md_code_cannot_be_closed_or_break_a_row(name: str) -> None:
    span = md_code(name)
    ticks = re.match(r"`+", span)
    assert ticks is not None
    delimiter = ticks.group(0)
    inner = span[len(delimiter) : -len(delimiter)]
    assert span.endswith(delimiter)
    assert delimiter not in inner  # a run as long as the delimiter would close the span
    assert "\n" not in span and not re.search(r"(?<!\\)\|", span)


@pytest.mark.parametrize("name", CORPUS)
def test_md_text_has_no_live_syntax(name: str) -> None:
    prose = md_text(name)
    assert "\n" not in prose
    for char in "<>[]|`*_#!@~&":
        assert not re.search(rf"(?<!\\){re.escape(char)}", prose), (char, prose)
    assert not re.search(r"(?<!\\)://", prose) and "www." not in prose.lower()


def test_fence_is_longer_than_any_run_inside() -> None:
    block = fence(CORPUS, "diff")
    marker = block[-1]
    assert block[0] == marker + "diff"
    assert all(not line.startswith(marker) for line in block[1:-1])
    assert len(block) == len(CORPUS) + 2


@pytest.mark.parametrize("name", CORPUS)
def test_json_text_round_trips_exactly_and_prints_safely(name: str) -> None:
    document = json_text(json.dumps({"name": name}, ensure_ascii=False))
    assert json.loads(document)["name"] == name
    assert all(line.isprintable() for line in document.split("\n"))


def test_json_text_astral_characters() -> None:
    name = "tag\U000e0041\U0001f600"
    document = json_text(json.dumps({"name": name}, ensure_ascii=False))
    assert json.loads(document)["name"] == name and "\U0001f600" in document


# ---------------------------------------------------------------------------- Markdown checks


def check_markdown(document: str, *, headings: tuple[str, ...]) -> None:
    """Parse-free: fences pair up, ``<details>`` is ours only, table rows keep their cells,
    no line starts a heading, HTML or a link outside a fence, nothing raw outside code."""
    lines = document.split("\n")
    inside, marker = False, ""
    columns = None
    prose: list[str] = []  # outside fences and code spans
    for line in lines:
        if not inside and line.startswith("```"):
            marker = re.match(r"`+", line).group(0)  # type: ignore[union-attr]
            inside = True
            continue
        if inside:
            if line.startswith(marker):
                assert line == marker, line  # only the closing fence, nothing after it
                inside = False
            else:
                assert line.isprintable(), repr(line)
            continue
        assert line.isprintable(), repr(line)
        if line.startswith("#"):
            assert line.startswith(headings), line
        if line.startswith("|"):
            cells = len(re.findall(r"(?<!\\)\|", line))
            columns = columns if columns is not None else cells
            assert cells == columns, line
        elif not line.strip():
            columns = None
        plain = re.sub(r"(`+)(?:(?!\1).)*?\1", "", line)
        prose.append(plain)
        # no raw HTML but our own <details>/<summary>, no link or image, no autolink
        assert not re.search(r"(?<!\\)<(?!/?(?:details|summary)\b)", plain), line
        assert not re.search(r"(?<!\\)\]\(", plain), line
        assert not re.search(r"(?<!\\)://", plain.replace("http://127.0.0.1", "")), line
    assert not inside, "a fence was left open"
    text_ = "\n".join(prose)
    assert text_.count("<details") == text_.count("</details>") <= 1


def test_plan_markdown_with_the_corpus() -> None:
    document = render_markdown(plan_of(CORPUS), HEAD, VIOLATIONS)
    check_markdown(document, headings=("### provisioner plan",))
    assert document.count("\n") < 200


def test_plan_markdown_with_each_name_alone() -> None:
    for name in CORPUS:
        document = render_markdown(plan_of([name]), HEAD, VIOLATIONS, command="apply")
        check_markdown(document, headings=("### provisioner apply",))


def test_plan_text_with_the_corpus() -> None:
    output = render_text(plan_of(CORPUS), HEAD, VIOLATIONS, PLAIN)
    printable_lines(output)
    assert "rtl\\u202etxt.exe" in output and "two\\nlines" in output


def test_plan_json_carries_the_exact_names() -> None:
    plan = plan_of(CORPUS)
    document = dumps(plan_json(plan, HEAD, VIOLATIONS))
    printable_lines(document)
    parsed = json.loads(document)
    assert [a["name"] for a in parsed["actions"]] == sorted(CORPUS)
    assert parsed["server"]["version"] == HEAD.version


def tokens() -> list[ObservedToken]:
    return [
        ObservedToken(id=i + 1, name=name, group=name, created_time=NOW - 86400, remain_quota=1)
        for i, name in enumerate(CORPUS)
    ]


def test_list_renderers_with_the_corpus() -> None:
    built = build_listing(tokens(), NOW)
    printable_lines(listing.render_text(built, HEAD, 500_000, PLAIN, 200))
    printable_lines(listing.render_text(built, HEAD, 500_000, PLAIN, None))
    check_markdown(
        listing.render_markdown(built, HEAD, 500_000),
        headings=("### provisioner list", "#### Findings"),
    )
    parsed = json.loads(listing.render_json(built, HEAD, 500_000, spec_file=None))
    assert sorted(t["name"] for t in parsed["tokens"]) == sorted(CORPUS)


def test_report_renderers_with_the_corpus() -> None:
    result = Report(sink="dotenv:keys.env")
    for index, name in enumerate(CORPUS):
        status = "failed" if index % 2 else "ok"
        result.results.append(
            OpResult("update", name, index + 1, status=status, error=f"server said {name}")
        )
    result.keys_pending = [CORPUS[0]]
    printable_lines(report.render_text(result, PLAIN))
    check_markdown(report.render_markdown(result), headings=("#### Result",))


def test_delete_renderers_with_the_corpus() -> None:
    rows = build_listing(tokens(), NOW).rows
    failures = {rows[1].id: f"server said {CORPUS[2]}"}
    printable_lines(deletion.render_preview(rows, HEAD, NOW, PLAIN))
    printable_lines(deletion.render_results(rows, failures, PLAIN))
    check_markdown(
        deletion.render_markdown(rows, failures, HEAD, NOW, done=True),
        headings=("### provisioner delete",),
    )


def test_keys_in_use_renderers_with_the_corpus() -> None:
    run = KeyTestRun(
        results=[
            KeyTest(name, i + 1, "refused", "invalid", f"the relay said {name}", notes=[name])
            for i, name in enumerate(CORPUS)
        ],
        not_created=list(CORPUS[:3]),
    )
    printable_lines(keys.render_keytest_text(run, HEAD, PLAIN))
    check_markdown(keys.render_keytest_markdown(run, HEAD), headings=("### provisioner test",))
    parsed = json.loads(dumps(keys.keytest_json(run, HEAD)))
    assert [r["name"] for r in parsed["results"]] == CORPUS

    scan = ScanReport(files=1, now=NOW)
    pairs = zip(CORPUS, tokens(), strict=True)
    scan.places = [Place(f"dir/{name}", 3, token) for name, token in pairs]
    printable_lines(keys.render_scan_text(scan, PLAIN))
    check_markdown(keys.render_scan_markdown(scan), headings=("### provisioner scan",))
