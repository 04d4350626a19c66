"""The account's lock as records on the server: lock tokens, their lease and holder. Pure.

docs/reconcile.md#one-apply-at-a-time. An apply that creates tokens holds the
account with a *lock token*:

- named ``provisioner.lock.<8 hex digits>`` (25 bytes: fits the 30-byte names
  of older servers);
- never a usable key: created with no quota (the relay refuses an exhausted
  token), a model allow-list naming no real model, then disabled;
- its ``expired_time`` is the end of the holder's **lease**, by the server's
  clock; the running apply renews it, so a holder that died frees the account
  when its lease ends;
- its ``model_limits`` carry who holds it (:class:`Holder`: host, process, user,
  CI run), so every machine sees it. Nothing secret is stored: names and
  numbers of the machine and the CI run, each cut to a safe alphabet. A server
  that drops the field keeps no holder (its lock still works);
- among the live locks (lease not over) the lowest id holds the account.

A token in the namespace that is not shaped like this (made by hand) is not a
lock: it is an unmanaged token, shown by plan and list and never deleted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from provisioner.humanize import human_span, utc_time
from provisioner.observed import ObservedToken
from provisioner.spec.reserved import LOCK_PREFIX

#: the whole name of a lock token
LOCK_NAME = re.compile(re.escape(LOCK_PREFIX) + r"[0-9a-f]{8}")
#: what the holder record in ``model_limits`` starts with
HOLDER_MARK = "provisioner-lock:v1"
#: the default lease (seconds); the running apply renews it every third of it
DEFAULT_LEASE = 120
#: each holder field is cut to this many characters, the record to HOLDER_MAX
FIELD_MAX, HOLDER_MAX = 64, 400
_UNSAFE = re.compile(r"[^A-Za-z0-9._/@:+-]")

# (environment variable, holder field): the CI run, where the CI says (GitHub Actions,
# GitLab CI, Buildkite, Jenkins, CircleCI). Never a token or a URL with credentials.
CI_VARIABLES: tuple[tuple[str, str], ...] = (
    ("GITHUB_REPOSITORY", "repo"),
    ("GITHUB_WORKFLOW", "workflow"),
    ("GITHUB_JOB", "job"),
    ("GITHUB_RUN_ID", "run"),
    ("GITHUB_RUN_ATTEMPT", "attempt"),
    ("GITHUB_ACTOR", "actor"),
    ("CI_PROJECT_PATH", "repo"),
    ("CI_PIPELINE_ID", "run"),
    ("CI_JOB_ID", "job"),
    ("BUILDKITE_PIPELINE_SLUG", "repo"),
    ("BUILDKITE_BUILD_NUMBER", "run"),
    ("JOB_NAME", "job"),
    ("BUILD_NUMBER", "run"),
    ("CIRCLE_PROJECT_REPONAME", "repo"),
    ("CIRCLE_BUILD_NUM", "run"),
)
# (environment variable, the CI's short name in the record, its name for people)
_CI_NAMES = (
    ("GITHUB_ACTIONS", "github", "GitHub Actions"),
    ("GITLAB_CI", "gitlab", "GitLab CI"),
    ("BUILDKITE", "buildkite", "Buildkite"),
    ("JENKINS_URL", "jenkins", "Jenkins"),
    ("CIRCLECI", "circleci", "CircleCI"),
)
_CI_TITLES = {short: title for _, short, title in _CI_NAMES}
_ORDER = ("host", "pid", "user", "ci", "repo", "workflow", "job", "run", "attempt", "actor")


def _clean(value: object) -> str:
    return _UNSAFE.sub("_", str(value))[:FIELD_MAX]


@dataclass(frozen=True)
class Holder:
    """Who holds a lock: what a person needs to find that apply (never a secret)."""

    fields: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, **values: object) -> Holder:
        kept = {k: _clean(v) for k, v in values.items() if k in _ORDER and v not in (None, "")}
        return cls({k: kept[k] for k in _ORDER if k in kept})

    def encode(self) -> str:
        """The record stored in the lock token's ``model_limits`` (no comma: one 'model')."""
        text = HOLDER_MARK + "".join(f";{k}={v}" for k, v in self.fields.items())
        return text[:HOLDER_MAX]

    @classmethod
    def decode(cls, text: str) -> Holder | None:
        """The holder a lock token's ``model_limits`` names; None when it names none."""
        if not text.startswith(HOLDER_MARK):
            return None
        values: dict[str, str] = {}
        for part in text[len(HOLDER_MARK) :].split(";"):
            key, sep, value = part.partition("=")
            if sep and key in _ORDER and key not in values:
                values[key] = value
        return cls.of(**values)

    def get(self, key: str) -> str:
        return self.fields.get(key, "")

    def describe(self) -> str:
        """``pid 4242 on ci-runner-7 (user runner), GitHub Actions run 99 of acme/infra...``"""
        parts: list[str] = []
        where = " on ".join(
            p for p in (f"pid {self.get('pid')}" if self.get("pid") else "", self.get("host")) if p
        )
        if where:
            parts.append(where + (f" (user {self.get('user')})" if self.get("user") else ""))
        if self.get("run") or self.get("repo"):
            ci = _CI_TITLES.get(self.get("ci"), self.get("ci") or "CI")
            run = f"{ci} run {self.get('run') or '?'}"
            if self.get("attempt") and self.get("attempt") != "1":
                run += f" (attempt {self.get('attempt')})"
            if self.get("repo"):
                run += f" of {self.get('repo')}"
            extras = [
                f"{label} {self.get(key)}"
                for key, label in (("workflow", "workflow"), ("job", "job"), ("actor", "by"))
                if self.get(key)
            ]
            parts.append(run + (f" ({', '.join(extras)})" if extras else ""))
        return ", ".join(parts) or "an apply that left no details"

    def to_json(self) -> dict[str, str]:
        return dict(self.fields)


def holder_from(env: Mapping[str, str], *, host: str, pid: int, user: str) -> Holder:
    """This run as a holder: the machine, the process and the CI run (from ``env``)."""
    values: dict[str, object] = {"host": host, "pid": pid, "user": user}
    for variable, short, _ in _CI_NAMES:
        if env.get(variable):
            values["ci"] = short
            break
    for variable, key in CI_VARIABLES:
        if env.get(variable) and key not in values:
            values[key] = env[variable]
    return Holder.of(**values)


def is_lock_token(token: ObservedToken) -> bool:
    """True when ``token`` is a lock token an apply made, live or not.

    The name (exactly ``provisioner.lock.`` and 8 lowercase hex digits), no quota, a
    finite expiry, never used, and ``model_limits`` holding a holder record or nothing
    (a server may drop the field; locks of version 0.2 had none). Anything else in the
    namespace was made by hand: not a lock, never deleted as one.
    """
    return bool(
        LOCK_NAME.fullmatch(token.name)
        and not token.unlimited_quota
        and token.remain_quota == 0
        and token.used_quota == 0
        and token.expired_time > 0
        and (not token.model_limits or token.model_limits.startswith(HOLDER_MARK))
    )


def split_locks(tokens: Iterable[ObservedToken]) -> tuple[list[ObservedToken], list[ObservedToken]]:
    """(every other token, the lock tokens)."""
    others: list[ObservedToken] = []
    locks: list[ObservedToken] = []
    for token in tokens:
        (locks if is_lock_token(token) else others).append(token)
    return others, locks


def is_live(lock: ObservedToken, now: int) -> bool:
    """The lease is not over (``now`` is the server's clock)."""
    return lock.expired_time >= now


def live_locks(locks: Iterable[ObservedToken], now: int) -> list[ObservedToken]:
    """The locks whose lease is not over, lowest id (the holder) first."""
    return sorted((t for t in locks if is_lock_token(t) and is_live(t, now)), key=lambda t: t.id)


def expired_locks(locks: Iterable[ObservedToken], now: int) -> list[ObservedToken]:
    """Locks of applies that stopped without releasing them: the next taker removes them."""
    return sorted(
        (t for t in locks if is_lock_token(t) and not is_live(t, now)), key=lambda t: t.id
    )


def holder_of(lock: ObservedToken) -> Holder | None:
    return Holder.decode(lock.model_limits)


def clock_text(epoch: int) -> str:
    """``2026-12-03 12:04:05 UTC``: the lease is counted in seconds."""
    return utc_time(epoch, "second")


def describe_lock(lock: ObservedToken, now: int) -> str:
    """One line a person can act on: which lock, who, since when, until when."""
    holder = holder_of(lock)
    who = holder.describe() if holder is not None else "an apply (this server keeps no details)"
    since = f"since {clock_text(lock.created_time)} ({human_span(now - lock.created_time)} ago)"
    if is_live(lock, now):
        left = human_span(lock.expired_time - now)
        lease = f"lease until {clock_text(lock.expired_time)} (in {left})"
    else:
        lease = (
            f"lease ended {clock_text(lock.expired_time)} "
            f"({human_span(now - lock.expired_time)} ago)"
        )
    return f"lock {lock.id} ({lock.name}) held by {who}, {since}, {lease}"


def lock_json(lock: ObservedToken, now: int) -> dict[str, Any]:
    holder = holder_of(lock)
    return {
        "id": lock.id,
        "name": lock.name,
        "holder": holder.to_json() if holder is not None else None,
        "since": lock.created_time,
        "lease_end": lock.expired_time,
        "live": is_live(lock, now),
    }
