"""Why a relay refused a key: the token's record and the relay's words (docs/keys-in-use.md)."""

from __future__ import annotations

import pytest

from provisioner.keys.verdict import KeyTestRun, RelayAnswer, judge_chat, judge_models, targets
from provisioner.observed import ObservedToken
from provisioner.spec.desired import DesiredToken, Spec

NOW = 1_800_000_000
INVALID = RelayAnswer(401, 3, "Invalid token")


def tok(**fields: object) -> ObservedToken:
    return ObservedToken(**{"id": 7, "name": "app", "unlimited_quota": True, **fields})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("token", "answer", "outcome", "reason", "words"),
    [
        (tok(), RelayAnswer(200, 5, models=3), "works", "", "3 models"),
        (tok(), RelayAnswer(200, 5, models=1), "works", "", "1 model"),
        (
            tok(model_limits_enabled=True, model_limits="gpt-4o-mni"),
            RelayAnswer(200, 5, models=0),
            "refused",
            "no-model-served",
            "no declared model is served: the relay lists none of gpt-4o-mni",
        ),
        (tok(), RelayAnswer(200, 5, models=0), "refused", "no-model-served", "no channel"),
        (tok(status=2), INVALID, "refused", "disabled", "status 2"),
        (tok(status=3), INVALID, "refused", "expired", "status 3"),
        (tok(status=4), INVALID, "refused", "exhausted", "status 4"),
        (tok(status=5), INVALID, "refused", "disabled", "status 5"),
        # a listed 1 that is dead: judged by the server's clock
        (tok(expired_time=NOW - 60), INVALID, "refused", "expired", "expired"),
        (tok(expired_time=NOW + 60), INVALID, "refused", "invalid-key", "cache"),
        (
            tok(unlimited_quota=False, remain_quota=0, used_quota=500),
            INVALID,
            "refused",
            "exhausted",
            "500 units used",
        ),
        # older generations say why; the record wins, the words explain the rest
        (tok(), RelayAnswer(401, 1, "该令牌状态不可用"), "refused", "disabled", "该令牌状态不可用"),
        (tok(), RelayAnswer(401, 1, "该令牌已过期"), "refused", "expired", "已过期"),
        (tok(), RelayAnswer(401, 1, "无效的令牌"), "refused", "invalid-key", "无效的令牌"),
        (
            tok(allow_ips="203.0.113.7"),
            RelayAnswer(403, 1, "您的 IP 不在令牌允许访问的列表中", "access_denied"),
            "refused",
            "ip-not-allowed",
            "203.0.113.7",
        ),
        (
            tok(allow_ips="203.0.113.0/24"),
            RelayAnswer(403, 1, "该令牌只能在指定网段使用：203.0.113.0/24，当前 ip：127.0.0.1"),
            "refused",
            "ip-not-allowed",
            "当前 ip",
        ),
        (tok(), RelayAnswer(403, 1, "用户已被封禁"), "refused", "user-disabled", "disabled"),
        (tok(), RelayAnswer(403, 1, "nope"), "refused", "forbidden", "nope"),
        (tok(), RelayAnswer(429, 1), "error", "rate-limited", "429"),
        (tok(), RelayAnswer(502, 1, "bad gateway"), "error", "relay-error", "502"),
        (tok(), RelayAnswer(200, 1), "error", "relay-error", "without a model list"),
        (tok(), RelayAnswer(0, 15000, failure="no answer"), "error", "relay-error", "no answer"),
    ],
)
def test_judge_models(
    token: ObservedToken, answer: RelayAnswer, outcome: str, reason: str, words: str
) -> None:
    verdict = judge_models(token, NOW, answer)
    assert (verdict.outcome, verdict.reason) == (outcome, reason)
    assert words in verdict.explanation


@pytest.mark.parametrize(
    ("answer", "outcome", "reason"),
    [
        (RelayAnswer(200, 9, usage_tokens=6), "works", ""),
        (RelayAnswer(403, 1, "该令牌无权访问模型 gpt-4o"), "refused", "model-not-allowed"),
        (RelayAnswer(503, 1, "No available channel", "model_not_found"), "refused", "no-channel"),
        (RelayAnswer(429, 1), "error", "rate-limited"),
        (RelayAnswer(0, 1, failure="timeout"), "error", "relay-error"),
    ],
)
def test_judge_chat(answer: RelayAnswer, outcome: str, reason: str) -> None:
    verdict = judge_chat(tok(model_limits_enabled=True, model_limits="a,b"), "gpt-4o", answer)
    assert (verdict.outcome, verdict.reason) == (outcome, reason)


def spec(*names: str, absent: str = "") -> Spec:
    tokens = [
        DesiredToken(name=n, base_name=n, index=1, count=1, key_name=n.upper()) for n in names
    ]
    if absent:
        tokens.append(
            DesiredToken(
                name=absent, base_name=absent, index=1, count=1, status="absent", key_name="X"
            )
        )
    return Spec(path="tokens.yaml", digest="", tokens=tuple(tokens))


def test_targets_default_to_the_declared_tokens_on_the_server() -> None:
    inventory = [tok(id=1, name="a"), tok(id=2, name="b"), tok(id=3, name="gone"), tok(id=4)]
    chosen, not_created = targets(spec("a", "b", "new", absent="gone"), inventory, [])
    assert [(n, t.id if t else None) for n, t in chosen] == [("a", 1), ("b", 2)]
    assert not_created == ["new"]


def test_named_targets_include_both_halves_of_a_conflict_and_the_missing() -> None:
    inventory = [tok(id=2, name="dup"), tok(id=1, name="dup")]
    chosen, _ = targets(None, inventory, ["dup", "nope", "dup"])
    assert [(n, t.id if t else None) for n, t in chosen] == [("dup", 1), ("dup", 2), ("nope", None)]


def test_a_key_that_lists_models_but_cannot_chat_counts_as_refused() -> None:
    from provisioner.keys.verdict import ChatTest, KeyTest

    ok = KeyTest("a", 1, "works")
    no_chat = KeyTest("b", 2, "works", chat=ChatTest("m", "refused", "no-channel"))
    run = KeyTestRun(results=[ok, no_chat], model="m")
    assert run.counts() == {
        "works": 1,
        "refused": 1,
        "as-declared": 0,
        "missing": 0,
        "error": 0,
    }
