"""``tokens.yaml`` -> :class:`Spec`, with every error located and all of them reported."""

from __future__ import annotations

import difflib
import hashlib
import re
import sys
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from provisioner.humanize import utc_time
from provisioner.observed import (
    DEFAULT_TOKEN_CAP,
    MAX_NAME_BYTES,
    MAX_QUOTA_UNITS,
    OLD_SERVER_NAME_BYTES,
    QUOTA_PER_UNIT_DEFAULT,
)
from provisioner.spec import fields, fileformat
from provisioner.spec.anchors import ItemPlace, list_items
from provisioner.spec.desired import (
    DEFAULT_ROTATE_OVERLAP,
    Budget,
    DesiredToken,
    Expiry,
    Location,
    Manage,
    RotatePolicy,
    Safety,
    Spec,
    count_key_name,
    derive_key_name,
    expand_name,
)
from provisioner.spec.diagnostics import Diagnostic, SpecError
from provisioner.spec.reserved import is_reserved_name, reserved_name_message
from provisioner.spec.yamltree import YEntry, YNode, decode, parse

SUPPORTED_VERSION = 1
STDIN = "-"  # `-f -`: the spec comes from stdin
STDIN_NAME = "<stdin>"  # how diagnostics name it
MAX_COUNT = 100
MAX_AUTO_GROUPS = 5
_KEY_NAME_RE = re.compile(fields.KEY_NAME_PATTERN)
_MODEL_RE = re.compile(fields.MODEL_PATTERN)
_GLOB_RE = re.compile(fields.GLOB_PATTERN)
_URL_RE = re.compile(fields.URL_PATTERN)
_NOT_IN_DEFAULTS = {
    "name": "each token needs its own name",
    "count": "set count on the token",
    "key_name": "key names must be unique; set key_name on the token",
    "renamed_from": "a former name belongs to one token; set renamed_from on the token",
}


class _Invalid(Exception):
    """A field value is wrong; the message is for a person."""

    def __init__(self, message: str, node: YNode | None = None) -> None:
        super().__init__(message)
        self.node = node


@dataclass
class _Field:
    value: Any
    node: YNode  # where the value was written (the token or the defaults)


@dataclass
class _Loader:
    filename: str
    now: int
    errors: list[Diagnostic] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list)
    sink_invalid: bool = False  # keys.to is there but wrong (reported once)
    passed_dates_warned: set[tuple[int, int]] = field(default_factory=set)
    source: str = ""  # the file's text, read again only to place an alias in an error

    # -- reporting ---------------------------------------------------------------
    def error(self, node: YNode, message: str) -> None:
        self.errors.append(Diagnostic(self.filename, node.line, node.col, message))

    def warn(self, node: YNode, message: str) -> None:
        self.warnings.append(
            Diagnostic(self.filename, node.line, node.col, message, severity="warning")
        )

    @cached_property
    def token_places(self) -> list[ItemPlace]:
        """Where each item of ``tokens`` was written: the file parsed once more, once a load."""
        return list_items(self.source, "tokens")

    def mapping(
        self,
        node: YNode,
        model: type[BaseModel],
        where: str,
        *,
        forbidden: dict[str, str] | None = None,
    ) -> dict[str, YEntry] | None:
        """Check a mapping's type and keys; return the entries whose keys are known."""
        if node.kind != "map":
            self.error(node, f"{where} must be a mapping, not {node.describe()}")
            return None
        allowed = fileformat.keys_of(model)
        known: dict[str, YEntry] = {}
        for key, entry in node.value.items():
            if forbidden and key in forbidden:
                self.error(entry.key, f"'{key}' is not allowed in {where}: {forbidden[key]}")
            elif model is fileformat.SpecFile and key.startswith(fileformat.EXTENSION_PREFIX):
                continue  # the user's own: anchors, notes (docs/spec.md#yaml-rules)
            elif key in allowed:
                if entry.value.kind != "bad":  # already reported (a disallowed tag)
                    known[key] = entry
            else:
                self.error(
                    entry.key, _unknown_key(key, where, allowed, model is fileformat.SpecFile)
                )
        for required in fileformat.REQUIRED.get(model, ()):
            if required not in node.value and not (
                model is fileformat.SpecFile and required == "version"
            ):
                self.error(node, f"{where} is missing required key '{required}'")
        return known

    # -- the document ------------------------------------------------------------
    def document(self, root: YNode) -> Spec | None:
        if root.kind != "map":
            if root.kind == "null":
                self.error(root, "the file is empty; it needs at least 'version: 1' and 'tokens:'")
            else:
                self.error(
                    root,
                    f"the file must be a mapping (version:, tokens:, ...), not {root.describe()}",
                )
            return None
        version = root.value.get("version")
        if version is None:
            self.error(root, "missing required key 'version' (add 'version: 1' at the top)")
        else:
            node = version.value
            if node.kind != "int":
                self.error(
                    node, f"version must be the integer {SUPPORTED_VERSION}, not {node.describe()}"
                )
            elif node.value != SUPPORTED_VERSION:
                message = (
                    f"version {node.value} is not supported by this provisioner "
                    f"(supports {SUPPORTED_VERSION}); upgrade provisioner"
                )
                if node.value < SUPPORTED_VERSION:
                    message = (
                        f"version {node.value} is not supported (supports {SUPPORTED_VERSION})"
                    )
                self.error(node, message)
                return None  # the rest follows rules we do not know
        top = self.mapping(root, fileformat.SpecFile, "the top level") or {}
        server_url, max_tokens = (
            self.server(top["server"].value) if "server" in top else (None, None)
        )
        manage = self.manage(top["manage"].value) if "manage" in top else Manage()
        safety = self.safety(top["safety"].value) if "safety" in top else Safety()
        keys_to = self.keys(top["keys"].value) if "keys" in top else None
        defaults: dict[str, _Field] = {}
        if "defaults" in top:
            defaults = self.settings(
                top["defaults"].value,
                fileformat.DefaultsBlock,
                "defaults",
                forbidden=_NOT_IN_DEFAULTS,
            )
        tokens: list[DesiredToken] = []
        declared = 0
        if "tokens" in top:
            node = top["tokens"].value
            if node.kind != "seq":
                self.error(node, f"tokens must be a list of tokens, not {node.describe()}")
            else:
                declared = len(node.value)
                tokens = self.tokens(node.value, defaults)
                self.check_token_cap(top["tokens"].key, len(tokens), max_tokens)
        self.check_rotation_sink(top, keys_to)
        return Spec(
            path=self.filename,
            digest="",
            version=SUPPORTED_VERSION,
            server_url=server_url,
            manage=manage,
            safety=safety,
            keys_to=keys_to,
            tokens=tuple(tokens),
            declared_count=declared,
            max_tokens=max_tokens,
        )

    def check_rotation_sink(self, top: dict[str, YEntry], keys_to: str | None) -> None:
        """A file that declares ``rotate`` must say where the new keys go (``keys.to``)."""
        if keys_to is not None or self.sink_invalid:
            return  # a sink, or a broken one already reported
        places: list[YNode] = []
        if "defaults" in top and top["defaults"].value.kind == "map":
            entry = top["defaults"].value.value.get("rotate")
            if entry is not None:
                places.append(entry.key)
        if "tokens" in top and top["tokens"].value.kind == "seq":
            for item in top["tokens"].value.value:
                if item.kind == "map" and "rotate" in item.value:
                    places.append(item.value["rotate"].key)
        if not places:
            return
        first = min(places, key=lambda node: (node.line, node.col))
        more = f" ({len(places)} places declare rotate)" if len(places) > 1 else ""
        self.error(
            first,
            "rotate needs keys.to: a rotation makes a new key, and with no sink in the file "
            f"the scheduled apply would have nowhere to deliver it{more}; add "
            "`keys: {to: keyring}` (or dotenv:PATH, json:PATH, exec:CMD...) at the top level",
        )

    def check_token_cap(self, node: YNode, count: int, max_tokens: int | None) -> None:
        """Warn when the file declares more tokens than the account may hold."""
        cap = max_tokens if max_tokens is not None else DEFAULT_TOKEN_CAP
        if count <= cap:
            return
        if max_tokens is not None:
            source = "the cap server.max_tokens in this file sets"
            advice = "apply would be refused"
        else:
            source = "new-api's default cap per user (MaxUserTokens, since v0.10.8)"
            advice = "set server.max_tokens if your server allows more; else apply is refused"
        self.warn(
            node,
            f"the file declares {count:,} tokens (after count), more than {cap:,}: {source}; "
            f"{advice}",
        )

    # -- sections -----------------------------------------------------------------
    def server(self, node: YNode) -> tuple[str | None, int | None]:
        """``server.url`` and ``server.max_tokens`` (None when not set or invalid)."""
        entries = self.mapping(node, fileformat.ServerBlock, "server") or {}
        url: str | None = None
        max_tokens: int | None = None
        if "url" in entries:
            value = entries["url"].value
            try:
                text = _string(value, "server.url", accepts=_URL_RE.match)
                if not _URL_RE.match(text):
                    raise _Invalid(f"server.url {text!r} must be an http:// or https:// URL")
                url = text.rstrip("/")
            except _Invalid as exc:
                self.error(value, str(exc))
        if "max_tokens" in entries:
            value = entries["max_tokens"].value
            if value.kind != "int" or value.value < 1:
                self.error(
                    value,
                    f"server.max_tokens must be a whole number >= 1 (the account's token cap), "
                    f"not {_shown(value)}",
                )
            else:
                max_tokens = int(value.value)
        return url, max_tokens

    def manage(self, node: YNode) -> Manage:
        entries = self.mapping(node, fileformat.ManageBlock, "manage") or {}
        match: tuple[str, ...] = ()
        orphans = "keep"
        if "match" in entries:
            match = tuple(self.string_list(entries["match"].value, "manage.match", _check_glob))
        if "orphans" in entries:
            value = entries["orphans"].value
            try:
                orphans = _choice(value, "manage.orphans", ("keep", "disable", "delete"))
            except _Invalid as exc:
                self.error(value, str(exc))
        return Manage(match=match, orphans=orphans)  # type: ignore[arg-type]

    def safety(self, node: YNode) -> Safety:
        entries = self.mapping(node, fileformat.SafetyBlock, "safety") or {}
        values: dict[str, Any] = {}
        for key in ("max_deletes", "max_disables"):
            if key in entries:
                value = entries[key].value
                if value.kind != "int" or value.value < 0:
                    self.error(
                        value, f"safety.{key} must be a whole number >= 0, not {_shown(value)}"
                    )
                else:
                    values[key] = value.value
        if "max_changes_pct" in entries:
            value = entries["max_changes_pct"].value
            if value.kind not in ("int", "float") or not 0 <= value.value <= 100:
                self.error(
                    value,
                    f"safety.max_changes_pct must be a number from 0 to 100, not {_shown(value)}",
                )
            else:
                values["max_changes_pct"] = float(value.value)
        if "min_idle" in entries:
            value = entries["min_idle"].value
            try:
                values["min_idle"] = _duration(value, "safety.min_idle", positive=False)
            except _Invalid as exc:
                self.error(value, str(exc))
        return Safety(**values)

    def keys(self, node: YNode) -> str | None:
        entries = self.mapping(node, fileformat.KeysBlock, "keys") or {}
        if "to" not in entries:
            return None
        value = entries["to"].value
        try:
            return fields.check_sink_syntax(
                _string(value, "keys.to", accepts=fields.check_sink_syntax)
            )
        except (_Invalid, ValueError) as exc:
            self.error(value, str(exc))
            self.sink_invalid = True
            return None

    def string_list(self, node: YNode, what: str, check: Any) -> list[str]:
        if node.kind != "seq":
            self.error(node, f"{what} must be a list, not {node.describe()}")
            return []
        out: list[str] = []
        first_line: dict[str, int] = {}
        for item in node.value:
            try:
                text = check(
                    _string(item, f"an entry of {what}", accepts=lambda t: check(t, what) or True),
                    what,
                )
            except (_Invalid, ValueError) as exc:
                self.error(item, str(exc))
                continue
            if text in first_line:
                self.error(
                    item, f"{what}: duplicate entry {text!r} (first at line {first_line[text]})"
                )
                continue
            first_line[text] = item.line
            out.append(text)
        return out

    # -- token fields --------------------------------------------------------------
    def settings(
        self,
        node: YNode,
        model: type[BaseModel],
        where: str,
        *,
        forbidden: dict[str, str] | None = None,
    ) -> dict[str, _Field]:
        entries = self.mapping(node, model, where, forbidden=forbidden)
        parsed: dict[str, _Field] = {}
        for key, entry in (entries or {}).items():
            parser = getattr(self, f"field_{key}", None)
            if parser is None:
                continue
            try:
                parsed[key] = _Field(parser(entry.value), entry.value)
            except _Silent:
                pass
            except _Invalid as exc:
                self.error(exc.node or entry.value, str(exc))
        return parsed

    def field_name(self, node: YNode) -> str:
        name = _string(node, "name")
        if not name:
            raise _Invalid("name must not be empty")
        if name.strip() != name:
            raise _Invalid(f"name {name!r} has leading or trailing whitespace")
        for char in name:
            if unicodedata.category(char) == "Cc":
                raise _Invalid(f"name {name!r} contains a control character ({ord(char):#04x})")
        if fields.OLD_SUFFIX.search(name):
            raise _Invalid(
                f"name {name!r} ends in .old-YYYYMMDD, which is reserved for rotated tokens"
            )
        if is_reserved_name(name):
            raise _Invalid(reserved_name_message(name))
        return name

    def field_renamed_from(self, node: YNode) -> str:
        try:
            return self.field_name(node)
        except _Invalid as exc:
            raise _Invalid(f"renamed_from: {exc}", exc.node) from None

    def field_count(self, node: YNode) -> int:
        if node.kind != "int" or not 1 <= node.value <= MAX_COUNT:
            raise _Invalid(
                f"count must be a whole number from 1 to {MAX_COUNT}, not {_shown(node)}"
            )
        return int(node.value)

    def field_key_name(self, node: YNode) -> str:
        scalar = node.kind in ("int", "float", "bool", "timestamp") and node.text
        if scalar and not _KEY_NAME_RE.match(scalar):
            raise _Invalid(
                f"key_name must be a string, not {node.describe()}; an environment variable "
                f"name, e.g. {derive_key_name(scalar)}"
            )
        text = _string(node, "key_name", accepts=_KEY_NAME_RE.match)
        if not _KEY_NAME_RE.match(text):
            raise _Invalid(
                f"key_name {text!r} is not a valid environment variable name "
                f"(letters, digits and _, not starting with a digit), e.g. {derive_key_name(text)}"
            )
        return text

    def field_expires(self, node: YNode) -> Expiry:
        if node.kind not in ("str", "timestamp"):
            raise _Invalid(
                f"expires must be never, a duration like 90d or a date like 2027-01-01, "
                f"not {_shown(node)}"
            )
        try:
            return fields.parse_expiry(node.value)
        except ValueError as exc:
            raise _Invalid(str(exc)) from None

    def field_quota(self, node: YNode) -> Budget:
        if node.kind not in ("str", "int", "float"):
            raise _Invalid(
                'quota must be unlimited, an amount like "10 USD" or raw units, '
                f"not {node.describe()}"
            )
        try:
            budget = fields.parse_amount(node.value)
        except ValueError as exc:
            raise _Invalid(str(exc)) from None
        if budget.resolve(QUOTA_PER_UNIT_DEFAULT) == 0:
            raise _Invalid(
                f"quota {node.value!r} is 0 quota units at the default {QUOTA_PER_UNIT_DEFAULT} "
                f"units per USD: {fields.ZERO_QUOTA_HINT}"
            )
        if budget.usd is not None and budget.usd * QUOTA_PER_UNIT_DEFAULT > MAX_QUOTA_UNITS:
            self.warn(
                node,
                f"quota {node.value} is more than {MAX_QUOTA_UNITS} units at the default "
                f"{QUOTA_PER_UNIT_DEFAULT} units per USD, the cap of new-api 2026-08 and later; "
                "plan checks your server's own cap (docs/servers.md)",
            )
        return budget

    def field_group(self, node: YNode) -> str:
        text = _string(node, "group", hint=' (use "" for the account\'s own group)')
        if any(unicodedata.category(c) == "Cc" for c in text):
            raise _Invalid(f"group {text!r} contains a control character")
        return text

    def field_status(self, node: YNode) -> str:
        return _choice(node, "status", ("enabled", "disabled", "absent"))

    def field_auto_groups(self, node: YNode) -> tuple[str, ...]:
        groups = self._sub_list(node, "auto_groups", _check_auto_group)
        if len(groups) > MAX_AUTO_GROUPS:
            raise _Invalid(
                f"auto_groups has {len(groups)} groups; the server allows at most {MAX_AUTO_GROUPS}"
            )
        return tuple(groups)

    def field_cross_group_retry(self, node: YNode) -> bool:
        return _boolean(node, "cross_group_retry")

    def field_models(self, node: YNode) -> tuple[str, ...]:
        return tuple(self._sub_list(node, "models", _check_model))

    def field_allow_ips(self, node: YNode) -> tuple[str, ...]:
        return tuple(self._sub_list(node, "allow_ips", lambda text, _what: fields.check_ip(text)))

    def field_protected(self, node: YNode) -> bool:
        return _boolean(node, "protected")

    def field_rotate(self, node: YNode) -> RotatePolicy:
        entries = self.mapping(node, fileformat.RotateBlock, "rotate")
        if entries is None or "every" not in entries:
            raise _Silent()
        every = _duration(entries["every"].value, "rotate.every", positive=True)
        # Omitted: a day of overlap (half of `every` when that is shorter), so a scheduled
        # rotation never cuts off the old key before its users can pick up the new one.
        overlap = min(DEFAULT_ROTATE_OVERLAP, every // 2)
        if "overlap" in entries:
            overlap_node = entries["overlap"].value
            overlap = _duration(overlap_node, "rotate.overlap", positive=False)
            if overlap >= every:
                raise _Invalid(
                    f"rotate.overlap ({overlap_node.value}) must be shorter than rotate.every "
                    f"({entries['every'].value.value})",
                    overlap_node,
                )
        return RotatePolicy(every=every, overlap=overlap)

    def _sub_list(self, node: YNode, what: str, check: Any) -> list[str]:
        before = len(self.errors)
        items = self.string_list(node, what, check)
        if len(self.errors) != before:
            raise _Silent()
        return items

    # -- tokens --------------------------------------------------------------------
    def tokens(self, items: list[YNode], defaults: dict[str, _Field]) -> list[DesiredToken]:
        parsed: list[tuple[YNode, dict[str, _Field]]] = []
        for item in items:
            if item.kind != "map":
                self.error(
                    item, f"a token must be a mapping with at least a name, not {item.describe()}"
                )
                continue
            own = self.settings(item, fileformat.TokenEntry, "token")
            parsed.append((item, own))

        result: list[DesiredToken] = []
        index_of = {id(item): number for number, item in enumerate(items)}
        names_seen: dict[str, tuple[str, int]] = {}
        key_names_seen: dict[str, tuple[str, int]] = {}
        self.check_renames(parsed)
        for item, own in parsed:
            if "name" not in own:
                continue
            merged = {**defaults, **own}
            base = own["name"].value
            name_node = own["name"].node
            count = own["count"].value if "count" in own else 1
            self.check_name_length(base, count, name_node)
            token_ok = self.check_token_rules(base, merged, own)

            for index in range(1, count + 1):
                final = expand_name(base, index)
                first = names_seen.get(final)
                if first is not None:
                    origin = f" (from '{first[0]}' with count)" if first[0] != final else ""
                    place, through = self.written_at(index_of[id(item)], item, name_node)
                    self.error(
                        place,
                        f"duplicate token name '{final}'{through}: "
                        f"already declared at line {first[1]}{origin}",
                    )
                    continue
                names_seen[final] = (base, name_node.line)
                if "key_name" in own:
                    key_name = count_key_name(own["key_name"].value, index)
                    key_node = own["key_name"].node
                else:
                    # copies get _2, _3, ... like an explicit key_name (docs/spec.md)
                    key_name = count_key_name(derive_key_name(base), index)
                    key_node = name_node
                first_key = key_names_seen.get(key_name)
                if first_key is not None:
                    self.error(
                        key_node,
                        f"key name '{key_name}' of token '{final}' is also the key name of token "
                        f"'{first_key[0]}' (line {first_key[1]}); set a distinct key_name",
                    )
                else:
                    key_names_seen[key_name] = (final, key_node.line)
                if token_ok:
                    result.append(
                        self.build_token(final, base, index, count, key_name, merged, item)
                    )
        return result

    def written_at(self, index: int, item: YNode, name_node: YNode) -> tuple[YNode, str]:
        """Where token ``index`` was written, and how, for an error about its name.

        An alias (``- *t1``) carries the anchor's positions: the error goes on the alias and
        names the anchor. A name merged in (``<<: *base``) was written elsewhere: the error
        goes on the token and names the line of the name.
        """
        places = self.token_places
        if index < len(places) and places[index].alias is not None:
            place = places[index]
            where = YNode("null", None, place.line, place.col)
            return (
                where,
                f" (the alias *{place.alias} repeats the token at line {place.anchor_line})",
            )
        if (name_node.line, name_node.col) < (item.line, item.col):
            return item, f" (its name merged in from line {name_node.line})"
        return name_node, ""

    def check_renames(self, parsed: list[tuple[YNode, dict[str, _Field]]]) -> None:
        """``renamed_from`` names one former name, once, of one token, that is not declared."""
        declared = {own["name"].value for _, own in parsed if "name" in own}
        seen: dict[str, int] = {}
        for _, own in parsed:
            if "renamed_from" not in own or "name" not in own:
                continue
            old, node = own["renamed_from"].value, own["renamed_from"].node
            name = own["name"].value
            if "count" in own and own["count"].value > 1:
                self.error(node, f"token '{name}': renamed_from cannot go with count > 1")
            elif old == name:
                self.error(node, f"token '{name}': renamed_from names the token itself")
            elif old in declared:
                self.error(
                    node,
                    f"token '{name}': renamed_from '{old}' is declared too; a token cannot be "
                    "renamed from a name the file still wants",
                )
            elif old in seen:
                self.error(node, f"renamed_from '{old}' is already used at line {seen[old]}")
            else:
                seen[old] = node.line

    def check_name_length(self, base: str, count: int, node: YNode) -> None:
        longest = expand_name(base, count)
        size = len(longest.encode("utf-8"))
        suffix = f" with the '-{count}' suffix" if count > 1 else ""
        if size > MAX_NAME_BYTES:
            self.error(
                node,
                f"name '{longest}' is {size} bytes of UTF-8{suffix}; the server allows "
                f"{MAX_NAME_BYTES} (CJK characters count 3 bytes each)",
            )
        elif size > OLD_SERVER_NAME_BYTES:
            self.warn(
                node,
                f"name '{longest}' is {size} bytes{suffix}: longer than 30 bytes, "
                "the limit on new-api servers before v0.10.0",
            )

    def check_token_rules(
        self, base: str, merged: dict[str, _Field], own: dict[str, _Field]
    ) -> bool:
        before = len(self.errors)
        group = merged["group"].value if "group" in merged else ""
        if group != "auto":
            # Only the token's own auto_groups / cross_group_retry are errors: values
            # inherited from defaults simply do not apply to a token outside group auto.
            shown = f"'{group}'" if "group" in merged else "not set"
            if "auto_groups" in own:
                self.error(
                    own["auto_groups"].node,
                    f"token '{base}': auto_groups needs group: auto (group is {shown})",
                )
            if "cross_group_retry" in own and own["cross_group_retry"].value:
                self.error(
                    own["cross_group_retry"].node,
                    f"token '{base}': cross_group_retry needs group: auto (group is {shown})",
                )
        self.check_passed_expiry(base, merged.get("expires"), from_defaults="expires" not in own)
        return len(self.errors) == before

    def check_passed_expiry(
        self, base: str, expires: _Field | None, *, from_defaults: bool
    ) -> None:
        """Dates do not rot (docs/spec.md#rules-across-fields): a date that has passed is a
        warning, so a file that was valid yesterday is valid today. Once per place written."""
        if expires is None or expires.value.kind != "absolute" or expires.value.at > self.now:
            return
        place = (expires.node.line, expires.node.col)
        if place in self.passed_dates_warned:
            return
        self.passed_dates_warned.add(place)
        when = utc_time(expires.value.at, "iso")
        whose = "defaults" if from_defaults else f"token '{base}'"
        self.warn(
            expires.node,
            f"{whose}: expiry {expires.node.value} ({when}) has passed; apply keeps the "
            "token expired. Use a future date or a duration to keep it usable",
        )

    def build_token(
        self,
        final: str,
        base: str,
        index: int,
        count: int,
        key_name: str,
        merged: dict[str, _Field],
        item: YNode,
    ) -> DesiredToken:
        def get(key: str, default: Any) -> Any:
            return merged[key].value if key in merged else default

        group = get("group", "")
        return DesiredToken(
            name=final,
            base_name=base,
            index=index,
            count=count,
            counted="count" in merged,
            status=get("status", "enabled"),
            expires=get("expires", Expiry.never()),
            quota=get("quota", Budget.unlimited_budget()),
            group=group,
            auto_groups=get("auto_groups", None) if group == "auto" else None,
            cross_group_retry=bool(get("cross_group_retry", False)) if group == "auto" else False,
            models=get("models", ()),
            allow_ips=get("allow_ips", ()),
            protected=bool(get("protected", False)),
            rotate=get("rotate", None),
            key_name=key_name,
            renamed_from=get("renamed_from", None) if "renamed_from" in merged else None,
            location=Location(self.filename, item.line, item.col),
        )


class _Silent(_Invalid):
    """A field whose errors were already reported (so the caller reports nothing more)."""

    def __init__(self) -> None:
        super().__init__("")


# -- small checks -----------------------------------------------------------------------
def _unknown_key(key: str, where: str, allowed: tuple[str, ...], top: bool = False) -> str:
    prefix = fileformat.EXTENSION_PREFIX
    if top and key.lower().startswith(prefix):
        own = prefix + key[len(prefix) :]
        return (
            f"unknown key '{key}' in {where}; did you mean '{own}'? "
            f"(keys of your own start with {prefix}, lower case)"
        )
    lowered = {name.lower(): name for name in allowed}
    guess = lowered.get(key.lower()) or next(
        iter(difflib.get_close_matches(key.lower(), list(allowed), n=1, cutoff=0.6)), None
    )
    if guess:
        return f"unknown key '{key}' in {where}; did you mean '{guess}'?"
    own = f"; keys of your own start with {prefix} and are ignored" if top else ""
    if not top and key.startswith(prefix):
        own = f"; keys of your own ({prefix}...) go at the top level only"
    return f"unknown key '{key}' in {where} (allowed: {', '.join(allowed)}){own}"


def _shown(node: YNode) -> str:
    if node.kind in ("map", "seq", "null"):
        return node.describe()
    return repr(node.value) if node.kind == "str" else str(node.text or node.value)


def _string(
    node: YNode, what: str, hint: str = "", *, accepts: Callable[[str], object] | None = None
) -> str:
    """The node's string; a scalar of another type is refused, with the quoted form as the
    way out only when that form is itself valid (``accepts`` returns true and does not raise)."""
    if node.kind != "str":
        quote = ""
        if node.kind in ("int", "float", "bool", "timestamp") and _accepted(accepts, node.text):
            quote = f'; quote it: "{node.text}"'
        raise _Invalid(f"{what} must be a string, not {node.describe()}{quote}{hint}")
    return str(node.value)


def _accepted(accepts: Callable[[str], object] | None, text: str | None) -> bool:
    if text is None:
        return False
    if accepts is None:
        return True
    try:
        return bool(accepts(text))
    except (_Invalid, ValueError):
        return False


def _choice(node: YNode, what: str, options: tuple[str, ...]) -> str:
    if node.kind == "str" and node.value in options:
        return str(node.value)
    raise _Invalid(f"{what} must be one of {', '.join(options)}; got {_shown(node)}")


def _boolean(node: YNode, what: str) -> bool:
    if node.kind != "bool":
        raise _Invalid(f"{what} must be true or false, not {_shown(node)}")
    return bool(node.value)


def _duration(node: YNode, what: str, *, positive: bool) -> int:
    if node.kind != "str":
        raise _Invalid(f"{what} must be a duration like 12h, 7d or 4w, not {_shown(node)}", node)
    try:
        seconds = fields.parse_duration(node.value)
    except ValueError as exc:
        raise _Invalid(f"{what}: {exc}", node) from None
    if positive and seconds <= 0:
        raise _Invalid(f"{what} must be longer than 0", node)
    return seconds


def _check_glob(text: str, what: str) -> str:
    if not _GLOB_RE.match(text):
        raise _Invalid(
            f"{what}: {text!r} must be a non-empty glob without leading or trailing spaces"
        )
    return text


def _check_model(text: str, what: str) -> str:
    if not _MODEL_RE.match(text):
        raise _Invalid(
            f"{what}: {text!r} is not a model name (non-empty, no commas, line breaks, "
            "or leading/trailing spaces)"
        )
    return text


def _check_auto_group(text: str, what: str) -> str:
    if not re.match(fields.AUTO_GROUP_PATTERN, text):
        raise _Invalid(f"{what}: {text!r} is not a group name (non-empty, no spaces or commas)")
    return text


# -- public API -------------------------------------------------------------------------
def load_spec_text(text: str | bytes, filename: str, *, now: int | None = None) -> Spec:
    """Load a spec from memory. Raises SpecError listing every error found."""
    if isinstance(text, bytes):
        data = text
        source = decode(data, filename)
    else:
        source = text
        data = text.encode("utf-8", errors="surrogatepass")
    loader = _Loader(filename, int(time.time()) if now is None else int(now), source=source)
    tree = parse(source, filename, loader.errors)
    spec = loader.document(tree)
    if loader.errors or spec is None:
        raise SpecError(loader.errors or [Diagnostic(filename, 1, 1, "invalid spec")])
    warnings = sorted(loader.warnings, key=lambda d: (d.line, d.col))
    return replace(
        spec,
        digest=hashlib.sha256(data).hexdigest(),
        warnings=tuple(str(w) for w in warnings),
        warning_diagnostics=tuple(warnings),
    )


def load_spec(path: str | Path, *, now: int | None = None) -> Spec:
    """Load ``tokens.yaml`` (``-``: from stdin, named ``<stdin>`` in messages).

    Raises SpecError (a missing or unreadable file is one too).
    """
    if str(path) == STDIN:
        try:
            data = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read()
        except (OSError, ValueError) as exc:
            raise SpecError([Diagnostic(STDIN_NAME, 1, 1, f"cannot read stdin: {exc}")]) from None
        return load_spec_text(data, STDIN_NAME, now=now)
    filename = str(path)
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise SpecError([Diagnostic(filename, 1, 1, "no such file")]) from None
    except IsADirectoryError:
        raise SpecError([Diagnostic(filename, 1, 1, "is a directory, not a spec file")]) from None
    except OSError as exc:
        raise SpecError(
            [Diagnostic(filename, 1, 1, f"cannot read: {exc.strerror or exc}")]
        ) from None
    return load_spec_text(data, filename, now=now)


__all__ = ["load_spec", "load_spec_text"]
