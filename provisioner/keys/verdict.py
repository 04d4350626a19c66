"""What ``provisioner test`` concludes from a relay answer and a token's record. Pure.

Older servers say why they refuse a key; new-api since 2026-02 answers
"Invalid token" (401) for a disabled, expired, exhausted or unknown key alike
(docs/server-contract.md#refusals). So a 401 is explained from the token's
record first (status, expiry against the server's clock, remaining budget),
and from the relay's own words when the record shows nothing wrong; a 403 on
``/v1/models`` is the IP allow-list.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from provisioner.humanize import plural, utc_time
from provisioner.observed import ObservedToken, TokenStatus
from provisioner.render.server_messages import quoted
from provisioner.spec.desired import Spec

# as-declared: a key the file declares `status: disabled`, off as declared (not a refusal)
Outcome = Literal["works", "refused", "as-declared", "missing", "error"]

#: Reason codes (JSON) and how people read them.
REASONS: dict[str, str] = {
    "disabled": "disabled",
    "expired": "expired",
    "exhausted": "exhausted",
    "ip-not-allowed": "IP not allowed",
    "invalid-key": "invalid key",
    "no-key": "no key",
    "user-disabled": "user disabled",
    "forbidden": "forbidden",
    "model-not-allowed": "model not allowed",
    "no-model-served": "no model served",
    "no-channel": "no channel for the model",
    "rate-limited": "rate limited",
    "not-found": "no such token",
    "relay-error": "relay error",
}

# The older generations' refusals, by a fragment of their text
# (docs/server-contract.md#refusals; both languages where a generation translates).
_WORDS: tuple[tuple[str, str], ...] = (
    ("该令牌状态不可用", "disabled"),
    ("已过期", "expired"),
    ("额度已用尽", "exhausted"),
    ("网段", "ip-not-allowed"),
    ("IP 不在", "ip-not-allowed"),
    ("用户已被封禁", "user-disabled"),
    ("banned", "user-disabled"),
    ("未提供令牌", "no-key"),
)


@dataclass(frozen=True)
class RelayAnswer:
    """One relay call as the shell saw it; never holds the key."""

    status: int = 0  # HTTP status; 0 when no answer came
    latency_ms: int = 0
    message: str = ""  # the relay's error message, cleaned, without its request id
    code: str = ""  # the error object's code (new-api), e.g. access_denied, model_not_found
    models: int | None = None  # how many models a 200 from /v1/models listed
    usage_tokens: int | None = None  # total_tokens of a chat completion
    failure: str = ""  # no usable answer: network error, off-host redirect, not JSON


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    reason: str = ""  # a key of REASONS; "" when the key works
    explanation: str = ""


@dataclass
class ChatTest:
    model: str
    outcome: Outcome
    reason: str = ""
    explanation: str = ""
    http_status: int | None = None
    latency_ms: int | None = None
    usage_tokens: int | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)  # every field, in its order


@dataclass
class KeyTest:
    """The test of one token's key."""

    name: str
    token_id: int | None
    outcome: Outcome
    reason: str = ""
    explanation: str = ""
    http_status: int | None = None
    latency_ms: int | None = None
    models: int | None = None
    key_source: str = ""  # "sink" or "server" (revealed, or listed by servers without masks)
    notes: list[str] = field(default_factory=list)  # e.g. the sink holds another key
    chat: ChatTest | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "id": self.token_id,
            "outcome": self.outcome,
            "reason": self.reason,
            "explanation": self.explanation,
            "http_status": self.http_status,
            "latency_ms": self.latency_ms,
            "models": self.models,
            "key_source": self.key_source,
            "notes": list(self.notes),
            "chat": self.chat.to_json() if self.chat else None,
        }


def targets(
    spec: Spec | None, inventory: Sequence[ObservedToken], names: Sequence[str]
) -> tuple[list[tuple[str, ObservedToken | None]], list[str]]:
    """The tokens to test, and the declared names the server does not have yet.

    With ``names``: every token of each name (a name shared by two tokens is a
    conflict; both are tested), or ``(name, None)`` when the server has none.
    Without: every token the file declares (not ``absent``) that exists on the server.
    """
    by_name: dict[str, list[ObservedToken]] = {}
    for token in sorted(inventory, key=lambda t: t.id):
        by_name.setdefault(token.name, []).append(token)
    chosen: list[tuple[str, ObservedToken | None]] = []
    not_created: list[str] = []
    if names:
        for name in dict.fromkeys(names):
            tokens = by_name.get(name, [])
            if tokens:
                chosen.extend((name, t) for t in tokens)
            else:
                chosen.append((name, None))
        return chosen, not_created
    for desired in spec.tokens if spec else ():
        if desired.status == "absent":
            continue
        tokens = by_name.get(desired.name, [])
        if not tokens:
            not_created.append(desired.name)
        chosen.extend((desired.name, t) for t in tokens)
    return chosen, not_created


def _when(epoch: int) -> str:
    return utc_time(epoch, "minute")


def _said(answer: RelayAnswer) -> str:
    # a Chinese refusal gets its English meaning beside it
    return f"the relay said {quoted(answer.message)}" if answer.message else ""


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def from_record(token: ObservedToken, now: int) -> tuple[str, str] | None:
    """Why the relay refuses this token's key, as its record shows it; None if it looks usable.

    The relay's order (docs/server-contract.md#lazy-status): the stored status, then
    expiry, then the remaining budget. "now" is the server's clock.
    """
    status = token.status
    if status == TokenStatus.DISABLED:
        return "disabled", "the token is disabled (status 2)"
    if status == TokenStatus.EXPIRED:
        return "expired", f"the server marked it expired (status 3); expiry {_expiry(token)}"
    if status == TokenStatus.EXHAUSTED:
        return "exhausted", f"the server marked it exhausted (status 4); {_budget(token)}"
    if status != TokenStatus.ENABLED:
        return "disabled", f"status {status} on the server (not enabled)"
    if token.expired_time != -1 and token.expired_time < now:
        return "expired", f"it expired {_when(token.expired_time)} (server time {_when(now)})"
    if not token.unlimited_quota and token.remain_quota <= 0:
        return "exhausted", f"its budget is used up ({_budget(token)})"
    return None


def _expiry(token: ObservedToken) -> str:
    return "never" if token.expired_time == -1 else _when(token.expired_time)


def _budget(token: ObservedToken) -> str:
    return f"{token.used_quota:,} units used, {max(0, token.remain_quota):,} remaining"


def _from_words(message: str) -> str | None:
    for fragment, reason in _WORDS:
        if fragment in message:
            return reason
    return None


def judge_models(token: ObservedToken, now: int, answer: RelayAnswer) -> Verdict:
    """The verdict on ``GET /v1/models`` with this token's key."""
    if answer.failure:
        return Verdict("error", "relay-error", answer.failure)
    status = answer.status
    if status == 200 and answer.models == 0:
        # the key is accepted but can call nothing: the relay lists only the models the
        # token may use that a channel of its group serves (docs/server-contract.md#refusals)
        group = token.group or "the account's group"
        if token.models:
            why = (
                f"no declared model is served: the relay lists none of "
                f"{', '.join(token.models)} for this key; check the names in models: (the "
                f"relay's own spelling) and that a channel of {group} serves them"
            )
        else:
            why = f"the relay serves no model to this key: no channel of {group} serves one"
        return Verdict("refused", "no-model-served", why)
    if status == 200 and answer.models is not None:
        return Verdict("works", "", plural(answer.models, "model"))
    if status == 200:
        return Verdict("error", "relay-error", "HTTP 200 without a model list")
    if status == 401:
        record = from_record(token, now)
        if record is not None:
            return Verdict("refused", record[0], _join(record[1], _said(answer)))
        reason = _from_words(answer.message) or "invalid-key"
        if reason == "invalid-key":
            why = (
                "the relay does not accept the key although the token's record looks usable "
                "(a relay behind a cache can lag behind the dashboard: test again in a minute)"
            )
        else:
            why = ""
        return Verdict("refused", reason, _join(why, _said(answer)))
    if status == 403:
        reason = _from_words(answer.message) or (
            "ip-not-allowed" if token.ips or answer.code == "access_denied" else ""
        )
        if reason == "ip-not-allowed":
            allowed = ", ".join(token.ips) or "?"
            why = f"this machine's address is not in the token's allow_ips ({allowed})"
            return Verdict("refused", reason, _join(why, _said(answer)))
        if reason == "user-disabled":
            return Verdict(
                "refused", reason, _join("the account's user is disabled", _said(answer))
            )
        return Verdict("refused", "forbidden", _said(answer))
    if status == 429:
        return Verdict("error", "rate-limited", _join("HTTP 429", _said(answer)))
    return Verdict("error", "relay-error", _join(f"unexpected HTTP {status}", _said(answer)))


#: refusals that a token the file declares `status: disabled` is expected to get
OFF_REASONS = ("disabled", "expired", "exhausted")


def as_declared(verdict: Verdict) -> Verdict:
    """The verdict on the key of a token the file declares ``status: disabled``.

    Off for one of :data:`OFF_REASONS` is what the file asked: shown as such, not
    counted as a refusal (docs/keys-in-use.md#test). Anything else stands.
    """
    if verdict.outcome != "refused" or verdict.reason not in OFF_REASONS:
        return verdict
    label = "disabled, as declared"
    if verdict.reason != "disabled":
        label = f"{verdict.reason}, and the file declares it disabled"
    return Verdict("as-declared", verdict.reason, _join(label, verdict.explanation))


def judge_chat(token: ObservedToken, model: str, answer: RelayAnswer) -> Verdict:
    """The verdict on one ``POST /v1/chat/completions`` to ``model`` (a key that works)."""
    if answer.failure:
        return Verdict("error", "relay-error", answer.failure)
    status = answer.status
    if status == 200:
        used = "" if answer.usage_tokens is None else plural(answer.usage_tokens, "usage token")
        return Verdict("works", "", _join(f"{model} answered", used))
    if status == 403:
        limits = f" (its models: {', '.join(token.models)})" if token.models else ""
        return Verdict(
            "refused",
            "model-not-allowed",
            _join(f"the key may not use {model}{limits}", _said(answer)),
        )
    if status == 503 or answer.code == "model_not_found":
        group = token.group or "the account's group"
        return Verdict(
            "refused",
            "no-channel",
            _join(f"no channel serves {model} for {group}", _said(answer)),
        )
    if status in (401, 404, 400):
        return Verdict("refused", "relay-error", _join(f"HTTP {status}", _said(answer)))
    if status == 429:
        return Verdict("error", "rate-limited", _join("HTTP 429", _said(answer)))
    return Verdict("error", "relay-error", _join(f"unexpected HTTP {status}", _said(answer)))


@dataclass
class KeyTestRun:
    """Everything ``provisioner test`` found, for the renderers."""

    results: list[KeyTest] = field(default_factory=list)
    not_created: list[str] = field(default_factory=list)  # declared, not on the server yet
    model: str | None = None  # --model: a chat completion was sent (it spends quota)
    sink: str = ""  # the sink keys were read from, if any

    def counts(self) -> dict[str, int]:
        counts = {"works": 0, "refused": 0, "as-declared": 0, "missing": 0, "error": 0}
        for result in self.results:
            outcome = result.outcome
            if outcome == "works" and result.chat is not None:
                outcome = result.chat.outcome  # a key that lists models but cannot chat
            counts[outcome] += 1
        return counts
