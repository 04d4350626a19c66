"""Write observed tokens as a ``tokens.yaml`` (``provisioner export``).

The output is a valid spec such that ``plan`` of it right away shows no
changes: budgets are ``used + remaining`` in raw units, an expiry is a UTC
date (or ``never``), and one already in the past is written as a duration
from creation (so it is no warning), or as that date when it came at or
before the token's creation. A token the server marked expired or exhausted
though its fields would allow it again is written ``status: disabled``, so
that the export does not revive it.
"""

from __future__ import annotations

import ipaddress
import json
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from provisioner.humanize import plural, utc_time
from provisioner.observed import MAX_NAME_BYTES, ObservedToken, TokenStatus
from provisioner.plan.ownership import pending_of, predecessor_of, revoked_from
from provisioner.render.safe import json_text, text
from provisioner.spec.desired import derive_key_name
from provisioner.spec.fields import MAX_FILE_QUOTA_UNITS
from provisioner.spec.reserved import is_reserved_name

_UNITS = (("y", 365 * 86400), ("w", 7 * 86400), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


@dataclass
class Exported:
    text: str
    count: int
    data: dict[str, Any]  # what YAML reads from ``text`` (its comments aside), key for key
    skipped: list[str] = field(default_factory=list)  # "name (id N): why"
    # leftovers not exported (.leaked- tokens revoke disabled, .new- tokens of an unfinished
    # rotation): their names; --include-leftovers exports them
    left_out: list[str] = field(default_factory=list)


def _duration(seconds: int) -> str:
    for suffix, size in _UNITS:
        if seconds % size == 0:
            return f"{seconds // size}{suffix}"
    return f"{seconds}s"  # pragma: no cover - the loop ends at 1 s


_RESOLVER = yaml.resolver.Resolver()
_STR = "tag:yaml.org,2002:str"


def _scalar(value: object) -> str:
    """A YAML scalar: plain when YAML reads it back as this very string, else quoted.

    JSON strings are valid YAML. ``Yes``, ``NULL``, ``.inf`` and ``10`` are not strings
    to YAML, and ``never``/``unlimited`` mean something to the spec: quoted.
    """
    if isinstance(value, str):
        plain = value.replace("-", "").replace("_", "").replace(".", "").replace("/", "")
        if (
            value
            and plain.isalnum()
            and value.isascii()
            and not value[0].isdigit()
            and value.lower() not in ("never", "unlimited", "y", "n")
            # PyYAML's stubs leave resolve() untyped; it returns the tag
            and _RESOLVER.resolve(yaml.ScalarNode, value, (True, False)) == _STR  # type: ignore[no-untyped-call]
        ):
            return value
        # YAML's double-quoted scalars read JSON escapes: a name with a control, bidi or
        # zero-width character is written escaped (render.safe.json_text) and reads back exact
        return json_text(json.dumps(value, ensure_ascii=False))
    return json.dumps(value)


def _skip_reason(token: ObservedToken, duplicates: Counter[str]) -> str | None:
    name = token.name
    if not name or name != name.strip():
        return "the name is empty or has surrounding spaces"
    if len(name.encode()) > MAX_NAME_BYTES:
        return f"the name is longer than {MAX_NAME_BYTES} bytes"
    if any(unicodedata.category(c) == "Cc" for c in name):
        return "the name has control characters"
    if duplicates[name] > 1:
        return "several tokens share this name (a conflict: rename one on the server)"
    if predecessor_of(name) is not None:
        return "a rotation predecessor (.old-); it is owned by its live name"
    if is_reserved_name(name):
        return "the name is in the namespace of apply's lock tokens, which a file may not declare"
    if not token.unlimited_quota and token.budget > MAX_FILE_QUOTA_UNITS:
        return (
            f"its budget ({token.budget} units used + remaining) is above "
            f"{MAX_FILE_QUOTA_UNITS}, which a file may not declare"
        )
    if not token.unlimited_quota and token.budget <= 0:
        return (
            "its budget is 0 units, which a file may not declare (it can never make a "
            "call): give it a budget or delete it"
        )
    for entry in token.ips:
        try:
            ipaddress.ip_network(entry, strict=True)
        except ValueError:
            return f"allow_ips entry {entry!r} is not an IP address or network"
    groups = token.auto_groups or []
    if token.group == "auto" and (len(groups) > 5 or len(set(groups)) != len(groups)):
        return "auto_groups has duplicates or more than 5 entries"
    return None


def is_leftover(name: str) -> bool:
    """A token a command left behind rather than one a person wants: ``NAME.leaked-DATE``
    (revoke disabled it; its key leaked) or ``NAME.new-DATE`` (a rotation that did not
    finish). docs/reconcile.md#leftovers"""
    return revoked_from(name) is not None or pending_of(name) is not None


def export_tokens(
    tokens: Sequence[ObservedToken],
    now: int,
    *,
    match: Sequence[str] = (),
    url: str | None = None,
    include_leftovers: bool = False,
) -> Exported:
    names = Counter(t.name for t in tokens)
    kept: list[ObservedToken] = []
    skipped: list[str] = []
    left_out: list[str] = []
    for token in sorted(tokens, key=lambda t: (t.name, t.id)):
        if not include_leftovers and is_leftover(token.name):
            left_out.append(token.name)
            continue
        reason = _skip_reason(token, names)
        if reason:
            skipped.append(f"'{text(token.name)}' (id {token.id}): {reason}")
        else:
            kept.append(token)

    key_names = _key_names(kept)
    data: dict[str, Any] = {"version": 1}
    lines = [
        "# For editor completion add a modeline pointing at provisioner's",
        "# schema/tokens.schema.json (see docs/spec.md).",
        f"# Exported by `provisioner export` on {utc_time(now, 'day')}.",
        "# Budgets are raw quota units (used + remaining); review, then commit.",
        "version: 1",
    ]
    if url:
        lines += ["server:", f"  url: {_scalar(url)}"]
        data["server"] = {"url": url}
    if match:
        lines += ["manage:", f"  match: {_flow(match)}", "  orphans: keep"]
        data["manage"] = {"match": list(match), "orphans": "keep"}
    if left_out:
        count = plural(len(left_out), "leftover")
        lines.insert(
            4,
            f"# Left out {count} (.leaked- keys revoked, .new- of unfinished rotations); "
            "--include-leftovers exports them.",
        )
    lines.append("tokens:" if kept else "tokens: []")
    data["tokens"] = []
    for token in kept:
        token_lines, token_data = _token_entry(token, now, key_names)
        lines.extend(token_lines)
        data["tokens"].append(token_data)
    return Exported("\n".join(lines) + "\n", len(kept), data, skipped, left_out)


def _flow(values: Sequence[str]) -> str:
    """A YAML flow list: ``[a, "b c"]``."""
    return "[" + ", ".join(_scalar(v) for v in values) + "]"


def _key_names(tokens: list[ObservedToken]) -> dict[int, str]:
    """A key_name for each token whose derived one clashes, unique among all of them."""
    derived = {t.id: derive_key_name(t.name) for t in tokens}
    counts = Counter(derived.values())
    taken = set(derived.values())
    out: dict[int, str] = {}
    for token in tokens:
        base = derived[token.id]
        if counts[base] < 2:
            continue
        candidate, extra = f"{base}_{token.id}", 2
        while candidate in taken:
            candidate, extra = f"{base}_{token.id}_{extra}", extra + 1
        taken.add(candidate)
        out[token.id] = candidate
    return out


def _usable_by_fields(token: ObservedToken, now: int) -> bool:
    """The token's expiry and budget would allow it (whatever status the server stored)."""
    if token.expired_time != -1 and token.expired_time <= now:
        return False
    return token.unlimited_quota or token.remain_quota > 0


def _token_entry(
    token: ObservedToken, now: int, key_names: dict[int, str]
) -> tuple[list[str], dict[str, Any]]:
    """The token's lines in the file, and the same as data (what YAML reads from them)."""
    out: list[str] = []
    data: dict[str, Any] = {}

    def put(key: str, value: Any, written: str | None = None, comment: str = "") -> None:
        data[key] = value
        line = f"{'    ' if out else '  - '}{key}: {_scalar(value) if written is None else written}"
        out.append(line + (f"   # {comment}" if comment else ""))

    put("name", token.name)
    effective = token.effective_status(now)
    if token.expired_time == -1:
        put("expires", "never", "never")
    elif token.expired_time > now or token.expired_time <= token.created_time:
        # a date; one at or before the creation cannot be a duration (validate warns)
        when = utc_time(token.expired_time, "iso")
        put("expires", when, f'"{when}"')
    else:
        # Already past: a duration from creation stays valid (and matches) for any status.
        span = _duration(max(0, token.expired_time - token.created_time))
        put("expires", span, span, f"expired {utc_time(token.expired_time, 'day')}")
    if token.unlimited_quota:
        put("quota", "unlimited", "unlimited")
    else:
        put(
            "quota",
            max(0, token.budget),
            comment=f"used {token.used_quota} + remaining {token.remain_quota} units",
        )
    put("group", token.group)
    if token.group == "auto":
        if token.auto_groups:
            put("auto_groups", list(token.auto_groups), _flow(token.auto_groups))
        put("cross_group_retry", bool(token.cross_group_retry))
    if token.models:
        put("models", list(token.models), _flow(token.models))
    if token.ips:
        put("allow_ips", list(token.ips), _flow(token.ips))
    if token.status == TokenStatus.DISABLED:
        put("status", "disabled")
    elif token.status not in (TokenStatus.ENABLED, TokenStatus.EXPIRED, TokenStatus.EXHAUSTED):
        put("status", "disabled", comment=f"unknown server status {token.status}")
    elif token.status != TokenStatus.ENABLED and _usable_by_fields(token, now):
        # Marked expired or exhausted, but its fields would allow it now: declared enabled,
        # the next plan would revive it. The export changes nothing.
        state = TokenStatus(token.status).name.lower()
        put("status", "disabled", comment=f"{state} on the server; set enabled to revive it")
    elif effective != TokenStatus.ENABLED:
        out.append(f"    # {TokenStatus(effective).name.lower()} on the server")
    if token.id in key_names:
        put("key_name", key_names[token.id], key_names[token.id])
    return out, data
