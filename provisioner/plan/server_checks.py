"""What the server would drop or refuse, found at plan time. Pure.

Plan refuses first what apply would be refused or would silently lose
(docs/reconcile.md#plan-knows-the-server): a field the server generation does
not have, a name over its byte limit, a group the user does not have, an auto
group that is not offered, a budget above the server's maximum, more tokens
than the account's cap. Each is a non-overridable violation naming the token,
the field and the limit. What the probe could not learn (an empty account shows
no record) is a notice; apply then checks the records after writing
(:func:`dropped_fields`).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from provisioner.observed import DEFAULT_TOKEN_CAP, MAX_QUOTA_UNITS, ServerInfo, Token
from provisioner.plan.diff import norm_ips
from provisioner.plan.model import Notice, Plan
from provisioner.plan.safety import Violation
from provisioner.spec.desired import DesiredToken, Spec

#: apply holds the account with a lock token of its own while it creates tokens
LOCK_SLOTS = 1
#: a create refused because the account is full: 已达到最大令牌数量限制 (1000), in every
#: language (docs/server-contract.md#limits); forks word it in English
CAP_REFUSAL = re.compile(r"最大令牌数量|maximum number of tokens|token limit", re.IGNORECASE)
_CAP_NUMBER = re.compile(r"\((\d+)\)")
#: what a rotation appends to the name it moves out of the way: ".old-YYYYMMDD"
ROTATED_SUFFIX_BYTES = len(".old-20260101")


@dataclass(frozen=True)
class ServerFacts:
    """What plan knows about the server beyond the token list."""

    info: ServerInfo
    token_count: int  # every token of the account now, lock tokens included
    groups: Mapping[str, Any] | None = None  # the user's groups; None: no such route
    auto_groups: Sequence[str] | None = None  # the auto groups offered; None: not asked / none
    max_tokens: int | None = None  # the file's server.max_tokens


def _generation(info: ServerInfo) -> str:
    version = f", version {info.version}" if info.version else ""
    return f"{info.generation}{version}"


def token_cap(info: ServerInfo, max_tokens: int | None) -> int | None:
    """The account's cap: the file's ``server.max_tokens``, else the default where one exists."""
    if max_tokens is not None:
        return max_tokens
    return None if info.token_cap is False else DEFAULT_TOKEN_CAP


def _uses(desired: DesiredToken) -> dict[str, Any]:
    """The optional fields a declared token asks the server to hold."""
    used: dict[str, Any] = {}
    if desired.group:
        used["group"] = desired.group
    if desired.group == "auto" and desired.auto_groups:
        used["auto_groups"] = list(desired.auto_groups)
    if desired.group == "auto" and desired.cross_group_retry:
        used["cross_group_retry"] = True
    return used


_CAPABILITY = {"group": "group_field", "auto_groups": "auto_groups"}
_CAPABILITY["cross_group_retry"] = "cross_group_retry"


def check_server(
    spec: Spec, plan: Plan, facts: ServerFacts, *, quota_per_unit: int
) -> tuple[list[Violation], list[Notice]]:
    """Violations (refused, exit 4) and notices (unconfirmed) for this spec on this server."""
    info = facts.info
    violations: list[Violation] = []
    notices: list[Notice] = []
    unconfirmed: dict[str, list[str]] = {}
    for desired in spec.tokens:
        if desired.status == "absent":
            continue
        where = f"token {desired.name!r}"
        for field, value in _uses(desired).items():
            known = getattr(info, _CAPABILITY[field])
            if known is False:
                violations.append(
                    Violation(
                        "server.field",
                        f"{where} sets {field}: {value!r}, but this server ({_generation(info)}) "
                        f"has no {field} field and would silently drop it; remove it from the "
                        "file (docs/servers.md)",
                        overridable=False,
                    )
                )
            elif known is None:
                unconfirmed.setdefault(field, []).append(desired.name)
        size = len(desired.name.encode("utf-8"))
        if info.name_max_bytes is not None and size > info.name_max_bytes:
            violations.append(
                Violation(
                    "server.name_length",
                    f"{where} is {size} bytes long; this server ({_generation(info)}) takes "
                    f"names of at most {info.name_max_bytes} bytes (CJK characters count 3)",
                    overridable=False,
                )
            )
        elif (
            info.name_max_bytes is not None
            and desired.rotate is not None
            and size + ROTATED_SUFFIX_BYTES > info.name_max_bytes
        ):
            violations.append(
                Violation(
                    "server.name_length",
                    f"{where} rotates, and a rotation renames it {desired.name}.old-YYYYMMDD "
                    f"({size + ROTATED_SUFFIX_BYTES} bytes); this server takes names of at most "
                    f"{info.name_max_bytes} bytes: shorten the name to "
                    f"{info.name_max_bytes - ROTATED_SUFFIX_BYTES} bytes",
                    overridable=False,
                )
            )
        if (
            not info.oneapi_fields
            and info.cross_group_retry is False
            and any(_is_network(ip) for ip in desired.allow_ips)
        ):
            networks = [ip for ip in desired.allow_ips if _is_network(ip)]
            violations.append(
                Violation(
                    "server.allow_ips",
                    f"{where} allows the network {networks[0]}, but this server "
                    f"({_generation(info)}) matches IP addresses exactly (CIDR came with "
                    "new-api v0.10.1); list addresses instead",
                    overridable=False,
                )
            )
        violations.extend(_group_checks(desired, facts, where))
        budget = desired.quota.resolve(quota_per_unit)
        if budget is not None and budget > MAX_QUOTA_UNITS:
            violations.append(
                Violation(
                    "server.max_quota",
                    f"{where} has a budget of {budget} quota units, more than the server's "
                    f"maximum of {MAX_QUOTA_UNITS} (about ${MAX_QUOTA_UNITS / quota_per_unit:,.2f} "
                    f"at {quota_per_unit} units per USD)",
                    overridable=False,
                )
            )
    for field, names in sorted(unconfirmed.items()):
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        notices.append(
            Notice(
                names[0],
                None,
                "unconfirmed",
                f"{shown} set {field}; the account has no token to show whether this server "
                "keeps it, so apply checks the records after writing",
            )
        )
    cap = token_cap(info, facts.max_tokens)
    new = len(plan.of_kind("create")) + len(plan.of_kind("rotate"))
    # Only a plan that creates needs room, for its tokens and apply's lock (an apply that
    # creates nothing takes no lock token), so a full account can always be cleaned up.
    if cap is not None and new and facts.token_count + new + LOCK_SLOTS > cap:
        needed = facts.token_count + new + LOCK_SLOTS
        violations.append(
            Violation(
                "server.max_tokens",
                f"the plan creates {new} token{'s' if new != 1 else ''}: with apply's lock "
                f"({LOCK_SLOTS} more while it runs) the account would need {needed}. "
                + cap_advice(facts.token_count, cap)
                + "; or set server.max_tokens if the server allows more",
                overridable=False,
            )
        )
    return violations, notices


def cap_of(message: str) -> int | None:
    """The cap a server refusal names (0 when it names no number); None: not a cap refusal."""
    if not CAP_REFUSAL.search(message):
        return None
    number = _CAP_NUMBER.search(message)
    return int(number[1]) if number else 0


def cap_advice(held: int, cap: int | None) -> str:
    """Every cap refusal in the same words: the tokens, the cap, and the way out."""
    capped = f"its cap is {cap}" if cap else "the server caps it"
    return (
        f"The account holds {held} tokens and {capped}: make room with `provisioner list` "
        "(it shows them) and `provisioner delete ID`, or lower a `count` in the file"
    )


def _group_checks(desired: DesiredToken, facts: ServerFacts, where: str) -> Iterable[Violation]:
    group = desired.group
    if group and group != "auto" and facts.groups is not None and group not in facts.groups:
        offered = ", ".join(sorted(g for g in facts.groups if g != "auto")) or "none"
        yield Violation(
            "server.group",
            f"{where} uses group {group!r}, which this user does not have (groups: {offered})",
            overridable=False,
        )
    if group == "auto" and desired.auto_groups and facts.auto_groups is not None:
        missing = [g for g in desired.auto_groups if g not in facts.auto_groups]
        if missing:
            offered = ", ".join(facts.auto_groups) or "none"
            yield Violation(
                "server.auto_groups",
                f"{where} lists auto group {missing[0]!r}, which the server does not offer "
                f"(auto groups: {offered})",
                overridable=False,
            )


def _is_network(entry: str) -> bool:
    try:
        network = ipaddress.ip_network(entry.strip(), strict=False)
    except ValueError:
        return False
    return network.prefixlen < network.max_prefixlen


# ---------------------------------------------------------------------- after apply


def _models(value: Any) -> list[str]:
    return sorted({m.strip() for m in str(value or "").split(",") if m.strip()})


def _ips(value: Any) -> list[str]:
    """One-per-line (new-api) or comma-separated (one-api) entries, compared by meaning."""
    return norm_ips(str(value or "").replace(",", "\n").splitlines())


def dropped_fields(written: Mapping[str, Any], stored: Token) -> list[str]:
    """The fields of ``written`` (a create or update body) the server did not keep.

    Nothing is reported done that the server dropped: a generation without a
    field answers success and ignores it (docs/server-contract.md#generations).
    """
    dropped: list[str] = []

    def differs(field: str, want: Any, have: Any) -> None:
        if want != have:
            dropped.append(f"{field} (sent {want!r}, the server kept {have!r})")

    if "name" in written:
        differs("name", written["name"], stored.name)
    if "expired_time" in written and written["expired_time"] not in (0, None):
        differs("expired_time", written["expired_time"], stored.expired_time)
    if "unlimited_quota" in written:
        differs("unlimited_quota", bool(written["unlimited_quota"]), stored.unlimited_quota)
    if "model_limits" in written:
        want = _models(written["model_limits"]) if written.get("model_limits_enabled") else []
        differs("models", want, sorted(stored.models))
    if "allow_ips" in written:
        differs("allow_ips", _ips(written["allow_ips"]), _ips("\n".join(stored.ips)))
    group = written.get("group")
    if group is not None:
        differs("group", group, stored.group)
    if group == "auto":
        if written.get("cross_group_retry"):
            differs("cross_group_retry", True, stored.cross_group_retry)
        if written.get("auto_groups"):
            differs("auto_groups", list(written["auto_groups"]), list(stored.auto_groups or []))
    return dropped
