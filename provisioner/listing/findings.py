"""Rows and hygiene findings for ``provisioner list`` (pure: no I/O, no clock).

``build_listing(tokens, now, ...)`` turns the tokens already listed (one pass
over the list pages, no request per token) into one :class:`Row` each and the
:class:`Finding` s a person or a nightly CI job should look at. Time comes in
as ``now`` (the server's clock), so everything here is table-testable.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from provisioner.humanize import human_span
from provisioner.observed import ObservedToken, TokenStatus
from provisioner.plan.ownership import Ownership, pending_of, predecessor_of, revoked_from
from provisioner.spec.desired import Spec

# Every finding kind, in the order they are reported.
FINDING_KINDS: tuple[str, ...] = (
    "dead-but-enabled",
    "unlimited-no-expiry",
    "duplicate-name",
    "budget",
    "expiring",
    "stale",
    "never-used",
    "undeclared",
)

FINDING_MEANINGS: dict[str, str] = {
    "dead-but-enabled": "expired or exhausted, but the spec declares it enabled or the server "
    "still lists it as enabled (status 1)",
    "unlimited-no-expiry": "an enabled token with an unlimited budget that never expires",
    "duplicate-name": "more than one token on the account has this name",
    "budget": "more than --budget-above percent of a limited budget is used",
    "expiring": "a usable token that expires within --expiring-within",
    "stale": "last used longer ago than --stale-after",
    "never-used": "never used since it was created (and created longer ago than "
    "--stale-after or 1 day, whichever is shorter)",
    "undeclared": "the spec (-f FILE) does not declare it (orphans and unmanaged tokens)",
}

STATUS_NAMES: dict[int, str] = {
    TokenStatus.ENABLED: "enabled",
    TokenStatus.DISABLED: "disabled",
    TokenStatus.EXPIRED: "expired",
    TokenStatus.EXHAUSTED: "exhausted",
}

SORT_KEYS: tuple[str, ...] = (
    "name",
    "id",
    "status",
    "used",
    "budget",
    "expiry",
    "created",
    "last-used",
)


def status_name(status: int) -> str:
    """``enabled`` ... ``exhausted``; a fork's unknown value is ``status N``.

    docs/server-contract.md#status-values
    """
    return STATUS_NAMES.get(int(status), f"status {int(status)}")


@dataclass(frozen=True)
class Thresholds:
    stale_after: int = 30 * 86400  # seconds
    expiring_within: int = 7 * 86400  # seconds
    budget_above: float = 90.0  # percent


@dataclass(frozen=True)
class Row:
    """One token as ``list`` shows it. Quotas are raw units.

    docs/server-contract.md#quota-units
    """

    name: str
    id: int
    status: str  # effective: enabled | disabled | expired | exhausted | status N
    listed_status: (
        int  # what the server stores (a listed 1 can be dead: docs/server-contract.md#lazy-status)
    )
    ownership: str | None  # managed | orphan | unmanaged; None without a spec
    group: str
    unlimited: bool
    used_quota: int
    remain_quota: int | None  # None when unlimited (the server's value goes negative)
    budget_quota: int | None  # used + remaining; None when unlimited
    used_pct: float | None  # None when unlimited or the budget is 0
    expired_time: int  # -1 = never
    created_time: int
    last_used: int  # 0 = never
    key: str  # always masked: sk-abcd**********wxyz


@dataclass(frozen=True)
class Finding:
    kind: str
    name: str
    id: int
    reason: str


@dataclass
class Listing:
    now: int
    rows: list[Row]
    findings: list[Finding]
    total: int  # tokens on the account, before filters
    thresholds: Thresholds = field(default_factory=Thresholds)
    with_ownership: bool = False

    def by_status(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for row in self.rows:
            counts[row.status] = counts.get(row.status, 0) + 1
        return dict(sorted(counts.items()))

    def finding_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(FINDING_KINDS, 0)
        for finding in self.findings:
            counts[finding.kind] += 1
        return {k: v for k, v in counts.items() if v}

    def failing(self, kinds: Iterable[str]) -> list[Finding]:
        wanted = set(kinds)
        return [f for f in self.findings if f.kind in wanted]


def parse_fail_on(text: str) -> tuple[str, ...]:
    """``never-used,stale`` or ``any`` -> kinds. ValueError names the valid ones."""
    kinds: list[str] = []
    for part in text.split(","):
        name = part.strip()
        if not name:
            continue
        if name == "any":
            return FINDING_KINDS
        if name not in FINDING_KINDS:
            raise ValueError(
                f"--fail-on: unknown finding {name!r}; valid: any, " + ", ".join(FINDING_KINDS)
            )
        if name not in kinds:
            kinds.append(name)
    if not kinds:
        raise ValueError("--fail-on: name at least one finding, or 'any'")
    return tuple(kinds)


def check_statuses(values: Iterable[str]) -> tuple[str, ...]:
    valid = tuple(STATUS_NAMES.values())
    out = []
    for value in values:
        for part in value.split(","):
            name = part.strip()
            if name not in valid:
                raise ValueError(f"--status: unknown status {name!r}; valid: " + ", ".join(valid))
            out.append(name)
    return tuple(out)


# A new token is not "never-used" before it had a chance: at most a day (or --stale-after).
NEVER_USED_GRACE = 86400


def _ownership(token: ObservedToken, spec: Spec | None, owner: Ownership | None) -> str | None:
    """managed | predecessor | revoked | orphan | unmanaged (docs/list.md): plan's words."""
    if spec is None or owner is None:
        return None
    if token.name in owner.declared:
        return "managed"
    if not owner.owns(token.name):
        return "unmanaged"
    if pending_of(token.name) is not None:
        return "predecessor"  # a rotation's NAME.new-YYYYMMDD that did not finish
    if predecessor_of(token.name) is not None:
        return "predecessor"  # a rotation's NAME.old-YYYYMMDD, in its overlap or expired
    if revoked_from(token.name) is not None:
        return "revoked"  # a revoke's NAME.leaked-YYYYMMDD
    return "orphan"


def _is_leftover(name: str) -> bool:
    """A rotation's ``NAME.old-YYYYMMDD`` (or unfinished ``NAME.new-``), a revoke's
    ``NAME.leaked-YYYYMMDD``."""
    return any(f(name) is not None for f in (predecessor_of, revoked_from, pending_of))


def make_row(token: ObservedToken, now: int, ownership: str | None = None) -> Row:
    unlimited = token.unlimited_quota
    budget = None if unlimited else token.budget
    pct = None
    if budget:
        pct = 100.0 * token.used_quota / budget
    return Row(
        name=token.name,
        id=token.id,
        status=status_name(token.effective_status(now)),
        listed_status=token.status,
        ownership=ownership,
        group=token.group,
        unlimited=unlimited,
        used_quota=token.used_quota,
        remain_quota=None if unlimited else token.remain_quota,
        budget_quota=budget,
        used_pct=pct,
        expired_time=token.expired_time,
        created_time=token.created_time,
        last_used=token.last_used,
        key=token.display_key,
    )


def _declared_enabled(spec: Spec | None) -> frozenset[str]:
    """The names the spec declares enabled (none without a spec): built once per listing."""
    if spec is None:
        return frozenset()
    return frozenset(name for name, t in spec.by_name().items() if t.status == "enabled")


def _findings_for(
    token: ObservedToken,
    now: int,
    thresholds: Thresholds,
    declared_enabled: frozenset[str],
    owner: Ownership | None,
    duplicates: dict[str, list[int]],
) -> list[Finding]:
    out: list[Finding] = []

    def add(kind: str, reason: str) -> None:
        out.append(Finding(kind, token.name, token.id, reason))

    effective = token.effective_status(now)
    dead = effective in (TokenStatus.EXPIRED, TokenStatus.EXHAUSTED)
    why_dead = (
        "expired " + human_span(now - token.expired_time) + " ago"
        if effective == TokenStatus.EXPIRED
        else f"budget exhausted ({token.used_quota:,} of {token.budget:,} units used)"
    )
    if dead and token.name in declared_enabled:
        add("dead-but-enabled", f"{why_dead}, but the spec declares it enabled")
    elif dead and token.status == TokenStatus.ENABLED:
        add("dead-but-enabled", f"{why_dead}, but the server still lists it as enabled")

    usable = effective == TokenStatus.ENABLED
    if token.unlimited_quota and token.expired_time == -1 and usable:
        add("unlimited-no-expiry", "unlimited budget and never expires: a leaked key has no limit")

    ids = duplicates.get(token.name, [])
    if len(ids) > 1:
        add(
            "duplicate-name",
            f"{len(ids)} tokens are named {token.name!r} (ids "
            + ", ".join(str(i) for i in ids)
            + ")",
        )

    if not token.unlimited_quota and token.budget > 0:
        pct = 100.0 * token.used_quota / token.budget
        if pct > thresholds.budget_above:
            add(
                "budget",
                f"{pct:.0f}% of the budget used ({token.used_quota:,} of {token.budget:,} units), "
                f"more than {thresholds.budget_above:g}%",
            )

    if usable and token.expired_time != -1:
        left = token.expired_time - now
        if 0 <= left <= thresholds.expiring_within:
            add(
                "expiring",
                f"expires in {human_span(left)}, within {human_span(thresholds.expiring_within)}",
            )

    if token.last_used == 0:
        age = now - token.created_time
        if age >= min(thresholds.stale_after, NEVER_USED_GRACE):
            add("never-used", f"never used since it was created {human_span(age)} ago")
    elif now - token.last_used > thresholds.stale_after:
        add(
            "stale",
            f"last used {human_span(now - token.last_used)} ago, more than "
            f"{human_span(thresholds.stale_after)}",
        )

    if owner is not None:
        owned_leftover = owner.owns(token.name) and _is_leftover(token.name)
        if token.name not in owner.declared and not owned_leftover:
            where = (
                "owned by the spec (manage.match or a count suffix) but not declared: an orphan"
                if owner.owns(token.name)
                else "not declared in the spec and not owned by it: unmanaged"
            )
            add("undeclared", where)
    return out


def _matches(row: Row, statuses: Sequence[str], globs: Sequence[str]) -> bool:
    if statuses and row.status not in statuses:
        return False
    return not globs or any(fnmatchcase(row.name, g) for g in globs)


def _sort_key(sort: str):  # type: ignore[no-untyped-def]
    big = float("inf")
    if sort == "name":
        return lambda r: (r.name, r.id)
    if sort == "id":
        return lambda r: (r.id,)
    if sort == "status":
        return lambda r: (r.status, r.name, r.id)
    if sort == "used":
        return lambda r: (r.used_quota, r.name, r.id)
    if sort == "budget":  # unlimited sorts as the largest
        return lambda r: (big if r.unlimited else r.budget_quota or 0, r.name, r.id)
    if sort == "expiry":  # never sorts last
        return lambda r: (big if r.expired_time == -1 else r.expired_time, r.name, r.id)
    if sort == "created":
        return lambda r: (r.created_time, r.id)
    if sort == "last-used":  # never used sorts first
        return lambda r: (r.last_used, r.name, r.id)
    raise ValueError(f"--sort: unknown key {sort!r}; valid: " + ", ".join(SORT_KEYS))


def check_sort(sort: str) -> str:
    _sort_key(sort)
    return sort


def build_listing(
    tokens: Sequence[ObservedToken],
    now: int,
    *,
    spec: Spec | None = None,
    thresholds: Thresholds | None = None,
    sort: str = "name",
    statuses: Sequence[str] = (),
    globs: Sequence[str] = (),
) -> Listing:
    """Rows (filtered, sorted) and the findings of the tokens shown.

    Filters narrow both the rows and the findings; duplicate names are counted
    over the whole account, so a filtered view still says a name is taken twice.
    """
    thresholds = thresholds or Thresholds()
    owner = Ownership(spec, present=[t.name for t in tokens]) if spec is not None else None
    duplicates: dict[str, list[int]] = defaultdict(list)
    for token in tokens:
        duplicates[token.name].append(token.id)
    for ids in duplicates.values():
        ids.sort()

    shown: list[tuple[Row, ObservedToken]] = []
    for token in tokens:
        row = make_row(token, now, _ownership(token, spec, owner))
        if _matches(row, statuses, globs):
            shown.append((row, token))
    shown.sort(key=lambda pair: _sort_key(sort)(pair[0]))

    findings: list[Finding] = []
    enabled = _declared_enabled(spec)
    for _, token in shown:
        findings.extend(_findings_for(token, now, thresholds, enabled, owner, duplicates))
    order = {kind: i for i, kind in enumerate(FINDING_KINDS)}
    findings.sort(key=lambda f: (order[f.kind], f.name, f.id))
    return Listing(
        now=now,
        rows=[row for row, _ in shown],
        findings=findings,
        total=len(tokens),
        thresholds=thresholds,
        with_ownership=spec is not None,
    )
