"""Write observed tokens as a ``tokens.yaml`` (``provisioner export``).

The output is a valid spec such that ``plan`` of it right away shows no
changes: budgets are ``used + remaining`` in raw units, an expiry is a UTC
date (or ``never``), and one already in the past is written as a duration
from creation (a past *date* is an error for an enabled token).
"""

from __future__ import annotations

import ipaddress
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from provisioner.observed import MAX_NAME_BYTES, Token, TokenStatus
from provisioner.plan.ownership import predecessor_of
from provisioner.spec.desired import derive_key_name

_UNITS = (("y", 365 * 86400), ("w", 7 * 86400), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


@dataclass
class Exported:
    text: str
    count: int
    skipped: list[str] = field(default_factory=list)  # "name (id N): why"


def _duration(seconds: int) -> str:
    for suffix, size in _UNITS:
        if seconds % size == 0:
            return f"{seconds // size}{suffix}"
    return f"{seconds}s"  # pragma: no cover - the loop ends at 1 s


def _scalar(value: object) -> str:
    """A YAML scalar: JSON strings are valid YAML and always quoted safely."""
    if isinstance(value, str):
        plain = value.replace("-", "").replace("_", "").replace(".", "").replace("/", "")
        if (
            value
            and plain.isalnum()
            and value.isascii()
            and not value[0].isdigit()
            and value
            not in (
                "yes",
                "no",
                "on",
                "off",
                "true",
                "false",
                "null",
                "never",
                "unlimited",
                "y",
                "n",
            )
        ):
            return value
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value)


def _skip_reason(token: Token, duplicates: Counter[str]) -> str | None:
    name = token.name
    if not name or name != name.strip():
        return "the name is empty or has surrounding spaces"
    if len(name.encode()) > MAX_NAME_BYTES:
        return f"the name is longer than {MAX_NAME_BYTES} bytes"
    if any(ord(c) < 32 for c in name):
        return "the name has control characters"
    if duplicates[name] > 1:
        return "several tokens share this name (a conflict: rename one on the server)"
    if predecessor_of(name) is not None:
        return "a rotation predecessor (.old-); it is owned by its live name"
    for entry in token.ips:
        try:
            ipaddress.ip_network(entry, strict=True)
        except ValueError:
            return f"allow_ips entry {entry!r} is not an IP address or network"
    groups = token.auto_groups or []
    if token.group == "auto" and (len(groups) > 5 or len(set(groups)) != len(groups)):
        return "auto_groups has duplicates or more than 5 entries"
    return None


def export_tokens(
    tokens: Sequence[Token], now: int, *, match: Sequence[str] = (), url: str | None = None
) -> Exported:
    names = Counter(t.name for t in tokens)
    kept: list[Token] = []
    skipped: list[str] = []
    for token in sorted(tokens, key=lambda t: (t.name, t.id)):
        reason = _skip_reason(token, names)
        if reason:
            skipped.append(f"{token.name!r} (id {token.id}): {reason}")
        else:
            kept.append(token)

    key_names = Counter(derive_key_name(t.name) for t in kept)
    lines = [
        "# For editor completion add a modeline pointing at provisioner's",
        "# schema/tokens.schema.json (see docs/spec.md).",
        f"# Exported by `provisioner export` on {datetime.fromtimestamp(now, UTC):%Y-%m-%d}.",
        "# Budgets are raw quota units (used + remaining); review, then commit.",
        "version: 1",
    ]
    if url:
        lines += ["server:", f"  url: {_scalar(url)}"]
    if match:
        lines += [
            "manage:",
            "  match: [" + ", ".join(_scalar(m) for m in match) + "]",
            "  orphans: keep",
        ]
    lines.append("tokens:" if kept else "tokens: []")
    for token in kept:
        lines.extend(_token_lines(token, now, key_names))
    return Exported("\n".join(lines) + "\n", len(kept), skipped)


def _token_lines(token: Token, now: int, key_names: Counter[str]) -> list[str]:
    out = [f"  - name: {_scalar(token.name)}"]
    effective = token.effective_status(now)
    if token.expired_time == -1:
        out.append("    expires: never")
    elif token.expired_time > now:
        when = datetime.fromtimestamp(token.expired_time, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        out.append(f'    expires: "{when}"')
    else:
        # Already past: a duration from creation stays valid (and matches) for any status.
        out.append(
            f"    expires: {_duration(max(0, token.expired_time - token.created_time))}"
            f"   # expired {datetime.fromtimestamp(token.expired_time, UTC):%Y-%m-%d}"
        )
    if token.unlimited_quota:
        out.append("    quota: unlimited")
    else:
        out.append(
            f"    quota: {max(0, token.budget)}   # used {token.used_quota} + remaining "
            f"{token.remain_quota} units"
        )
    out.append(f"    group: {_scalar(token.group)}")
    if token.group == "auto":
        if token.auto_groups:
            out.append(
                "    auto_groups: [" + ", ".join(_scalar(g) for g in token.auto_groups) + "]"
            )
        out.append(f"    cross_group_retry: {'true' if token.cross_group_retry else 'false'}")
    if token.models:
        out.append("    models: [" + ", ".join(_scalar(m) for m in token.models) + "]")
    if token.ips:
        out.append("    allow_ips: [" + ", ".join(_scalar(ip) for ip in token.ips) + "]")
    if token.status == TokenStatus.DISABLED:
        out.append("    status: disabled")
    elif token.status not in (TokenStatus.ENABLED, TokenStatus.EXPIRED, TokenStatus.EXHAUSTED):
        out.append(f"    status: disabled   # unknown server status {token.status}")
    elif effective != TokenStatus.ENABLED:
        out.append(f"    # {TokenStatus(effective).name.lower()} on the server")
    key_name = derive_key_name(token.name)
    if key_names[key_name] > 1:
        out.append(f"    key_name: {key_name}_{token.id}")
    return out
