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
from dataclasses import dataclass, replace
from typing import Any

from provisioner.humanize import plural
from provisioner.observed import DEFAULT_TOKEN_CAP, MAX_QUOTA_UNITS, ObservedToken, ServerInfo
from provisioner.plan.actions import Create, TokenFields
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
    quota_cap, which = budget_cap(info, quota_per_unit)
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
        networks = [ip for ip in desired.allow_ips if _is_network(ip)]
        if networks and not info.oneapi_fields and info.cross_group_retry is False:
            violations.append(
                Violation(
                    "server.allow_ips",
                    f"{where} allows the network {networks[0]}, but this server "
                    f"({_generation(info)}) matches IP addresses exactly (CIDR came with "
                    "new-api v0.10.1); list addresses instead",
                    overridable=False,
                )
            )
        if networks and _networks_unconfirmed(info):
            unconfirmed.setdefault("a network in allow_ips", []).append(desired.name)
        violations.extend(_group_checks(desired, facts, where))
        budget = desired.quota.resolve(quota_per_unit)
        if budget is not None and quota_cap is not None and budget > quota_cap:
            violations.append(
                Violation(
                    "server.max_quota",
                    f"{where} has a budget of {budget} quota units, more than this server's "
                    f"maximum of {quota_cap} (about ${quota_cap / quota_per_unit:,.2f} at "
                    f"{quota_per_unit} units per USD; {which}, here {_generation(info)})",
                    overridable=False,
                )
            )
        elif budget == 0:
            violations.append(
                Violation(
                    "server.quota",
                    f"{where} has a budget of 0 quota units at this server's {quota_per_unit} "
                    "units per USD: it could never make a call; raise the amount, or write "
                    "`status: disabled` to switch it off",
                    overridable=False,
                )
            )
    for field, names in sorted(unconfirmed.items()):
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        if field == "a network in allow_ips":
            message = (
                f"{shown} set {field}; the account has no token to show whether this server "
                "enforces networks (new-api before v0.10.1 stores them but matches addresses "
                "exactly), so apply creates these tokens expired and makes them usable only "
                "once their records show it does"
            )
        else:
            message = (
                f"{shown} set {field}; the account has no token to show whether this server "
                "keeps it, so apply checks the records after writing"
            )
        notices.append(Notice(names[0], None, "unconfirmed", message))
    cap = token_cap(info, facts.max_tokens)
    new = len(plan.of_kind("create")) + len(plan.of_kind("rotate"))
    # Only a plan that creates needs room, for its tokens and apply's lock (an apply that
    # creates nothing takes no lock token), so a full account can always be cleaned up.
    if cap is not None and new and facts.token_count + new + LOCK_SLOTS > cap:
        needed = facts.token_count + new + LOCK_SLOTS
        violations.append(
            Violation(
                "server.max_tokens",
                f"the plan creates {plural(new, 'token')}: with apply's lock "
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
        f"The account holds {plural(held, 'token')} and {capped}: make room with "
        "`provisioner list` "
        "(it shows them) and `provisioner delete ID`, or lower a `count` in the file"
    )


def cap_words(message: str, token_count: int) -> str | None:
    """A cap refusal in the user's words: ``token_count`` (the tokens the account holds,
    locks included), the cap the server named, and what it said; None when ``message`` is
    not one."""
    cap = cap_of(message)
    if cap is None:
        return None
    return f"{cap_advice(token_count, cap)} (the server said: {message})"


#: budget caps: new-api v0.10.5 (2025-12-29) capped remain_quota at 1e9 USD, 2026-08-10
#: at 2147483647 units (docs/server-contract.md#limits)
LEGACY_CAP_USD = 1_000_000_000


def budget_cap(info: ServerInfo, quota_per_unit: int) -> tuple[int | None, str]:
    """The largest budget this generation takes for a limited token, and whose cap it is.

    None where the generation has no cap (one-api, new-api before v0.10.5) or the probe
    could not tell: the server then refuses on write, and says so (docs/servers.md).
    """
    if info.oneapi_fields:
        return None, ""
    if info.auto_groups:
        return MAX_QUOTA_UNITS, "the cap of new-api 2026-08 and later"
    if info.keys_masked or info.fingerprint:
        return (
            LEGACY_CAP_USD * quota_per_unit,
            "1e9 USD, the cap of new-api v0.10.5 to 2026-08",
        )
    return None, ""


def _group_checks(desired: DesiredToken, facts: ServerFacts, where: str) -> Iterable[Violation]:
    group = desired.group
    if group and facts.groups is not None and group not in facts.groups:
        offered = ", ".join(sorted(facts.groups)) or "none"
        relay = ""
        if group == "auto":
            relay = (
                ": the relay would refuse every call with its key (无权访问 auto 分组); ask "
                "the server's admin to offer automatic groups, or name a group"
            )
        yield Violation(
            "server.group",
            f"{where} uses group {group!r}, which this user does not have (groups: "
            f"{offered}){relay}",
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


def _networks_unconfirmed(info: ServerInfo) -> bool:
    """True when the probe could not tell whether this server matches a network in
    ``allow_ips``: new-api before v0.10.1 stores one but matches addresses exactly, and an
    account with no token shows no record to tell the generation by."""
    return not info.oneapi_fields and info.cross_group_retry is None


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


def confirm_on_create(plan: Plan, info: ServerInfo) -> Plan:
    """Mark the creates whose limits the plan could not confirm (docs/reconcile.md).

    On an account with no token yet the probe cannot see whether the server enforces a
    network in ``allow_ips`` (new-api before v0.10.1 stores it and matches addresses
    exactly). Apply then creates such a token expired and makes it usable only once the
    re-listed record shows it does (:func:`unenforced_limits`).
    """
    if not _networks_unconfirmed(info):
        return plan
    for index, action in enumerate(plan.actions):
        if not isinstance(action, Create) or action.unconfirmed:
            continue
        if any(_is_network(entry) for entry in action.settings.allow_ips):
            plan.actions[index] = replace(action, unconfirmed=("allow_ips",))
    return plan


def unenforced_limits(written: TokenFields, stored: ObservedToken) -> list[str]:
    """Limits of ``written`` that ``stored`` holds but its server does not enforce.

    A network in ``allow_ips`` on new-api before v0.10.1, whose records have a ``group``
    and no ``cross_group_retry`` field: it is stored as text and never matches, so the key
    would work from any address (docs/servers.md).
    """
    fields = stored.model_fields_set | set(stored.model_extra or {})
    old_new_api = "group" in fields and "cross_group_retry" not in fields
    networks = [e for e in written.allow_ips if _is_network(e)]
    if not (old_new_api and networks):
        return []
    why = (
        f"allow_ips: this server (new-api before v0.10.1: its records have no "
        f"cross_group_retry) stores the network {networks[0].strip()} but matches addresses "
        "exactly, so the key would work from any address; the token was disabled. List "
        "addresses instead of networks"
    )
    return [why]


def dropped_fields(written: TokenFields, stored: ObservedToken) -> list[str]:
    """The fields of ``written`` (what a create or an update asked the record to hold) the
    server did not keep.

    Nothing is reported done that the server dropped: a generation without a
    field answers success and ignores it (docs/server-contract.md#generations).
    """
    dropped: list[str] = []

    def differs(field: str, want: Any, have: Any) -> None:
        if want != have:
            dropped.append(f"{field} (sent {want!r}, the server kept {have!r})")

    differs("name", written.name, stored.name)
    if written.expired_time != 0:
        differs("expired_time", written.expired_time, stored.expired_time)
    differs("unlimited_quota", written.unlimited_quota, stored.unlimited_quota)
    want = _models(",".join(written.model_limits)) if written.model_limits_enabled else []
    differs("models", want, sorted(stored.models))
    differs("allow_ips", _ips("\n".join(written.allow_ips)), _ips("\n".join(stored.ips)))
    differs("group", written.group, stored.group)
    if written.group == "auto":
        if written.cross_group_retry:
            differs("cross_group_retry", True, stored.cross_group_retry)
        if written.auto_groups:
            differs("auto_groups", list(written.auto_groups), list(stored.auto_groups or []))
    return dropped
