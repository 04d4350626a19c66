"""The server's Chinese messages and their English meaning (render/server_messages.py)."""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path

import pytest

from provisioner.newapi.client import user_id_problem
from provisioner.render.server_messages import KNOWN, meaning, quoted, with_meaning

REPO = Path(__file__).resolve().parents[2]
HAN = re.compile(r"[\u3400-\u9fff]")


def _recorded_messages() -> set[str]:
    found: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "message" and isinstance(value, str):
                    found.add(value)
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        elif isinstance(node, str) and node.startswith("{"):
            with contextlib.suppress(ValueError):
                walk(json.loads(node))

    for path in (REPO / "tests" / "conformance" / "recordings").glob("*.json"):
        walk(json.loads(path.read_text(encoding="utf-8")))
    return found


def _documented_messages() -> set[str]:
    """The zh-CN column and the hard-coded messages of docs/server-contract.md."""
    text = (REPO / "docs" / "server-contract.md").read_text(encoding="utf-8")
    section = text.split("## Messages and language", 1)[1].split("\n## ", 1)[0]
    spans = re.findall(r"`([^`]+)`", section)
    rows = re.findall(r"^\| [a-z_.]+ \| ([^|]+) \|", section, re.MULTILINE)
    samples = {"{Max}": "5", "{n}": "1000", "{Group}": "vip"}  # placeholders, filled as served
    found = set()
    for raw in (s.strip() for s in [*spans, *rows] if HAN.search(s)):
        for placeholder, value in samples.items():
            raw = raw.replace(placeholder, value)
        found.add(raw)
    return found


def test_every_recorded_chinese_message_has_a_meaning() -> None:
    chinese = {m for m in _recorded_messages() if HAN.search(m)}
    assert len(chinese) >= 15  # the recordings are read
    assert sorted(m for m in chinese if meaning(m) is None) == []


def test_every_documented_chinese_message_has_a_meaning() -> None:
    documented = _documented_messages()
    assert len(documented) >= 20
    assert sorted(m for m in documented if meaning(m) is None) == []


@pytest.mark.parametrize(
    ("message", "words"),
    [
        ("令牌名称过长", "the token name is too long"),
        ("参数错误：令牌名称过长", "invalid parameter: the token name is too long"),
        (
            "额度值超出有效范围，最大值为 2147483647",
            "the quota is out of range; the maximum is 2147483647",
        ),
        ("已达到最大令牌数量限制 (1000)", "the account has its maximum number of tokens (1000)"),
        ("Auto 分组 vip 重复", "auto group vip is listed twice"),
        (
            "该令牌只能在指定网段使用：203.0.113.7/32，当前 ip：127.0.0.1 (request id: 7)",
            "this key works only from 203.0.113.7/32; this call came from 127.0.0.1",
        ),
        (
            "[sk-eab***hxW] 该令牌额度已用尽 !token.UnlimitedQuota && token.RemainQuota = 0",
            "this key's token has used up its quota",
        ),
    ],
)
def test_meanings_fill_in_what_the_server_named(message: str, words: str) -> None:
    assert meaning(message) == words
    assert with_meaning(message) == f"{message} (in English: {words})"


@pytest.mark.parametrize(
    "message",
    ["Token name is too long", "record not found", "", "某个没见过的错误", "Invalid token"],
)
def test_english_and_unknown_messages_stay_as_they_are(message: str) -> None:
    assert meaning(message) is None
    assert with_meaning(message) == message
    assert quoted(message) == json.dumps(message, ensure_ascii=False)


def test_longer_texts_come_first() -> None:
    patterns = [p for p, _ in KNOWN]
    assert patterns.index(r"参数错误：令牌名称过长") < patterns.index(r"令牌名称过长")


def test_quoted_keeps_the_servers_words_and_escapes_them() -> None:
    assert (
        quoted('令牌名称过长"\n') == '"令牌名称过长\\"\\n" (in English: the token name is too long)'
    )


@pytest.mark.parametrize(
    ("said", "user_id", "source", "words"),
    [
        (
            "无权进行此操作，New-Api-User 与登录用户不匹配",
            2,
            "NEWAPI_USER_ID",
            "NEWAPI_USER_ID=2 is wrong",
        ),
        (
            "Unauthorized, New-Api-User does not match logged in user",
            2,
            "NEWAPI_USER_ID",
            "NEWAPI_USER_ID=2 is wrong",
        ),
        (
            "Unauthorized, New-Api-User does not match logged in user",
            3,
            "the user id `provisioner login` stored",
            "the user id `provisioner login` stored (3) is wrong",
        ),
        ("无权进行此操作，未提供 New-Api-User", None, "NEWAPI_USER_ID", "needs your user id"),
        (
            "Unauthorized, New-Api-User header format error",
            5,
            "NEWAPI_USER_ID",
            "refused the user id 5",
        ),
    ],
)
def test_a_refused_user_id_is_told_apart(
    said: str, user_id: int | None, source: str, words: str
) -> None:
    problem = user_id_problem(said, user_id, source)
    assert words in problem and "personal settings" in problem
    if "login" in source:
        assert "run `provisioner login` again" in problem
