"""Which token a key is, and where keys hide in text (docs/keys-in-use.md). Pure.

A key is found in two steps, so that the strict reveal budget is spent only
where it can answer (docs/server-contract.md#masked-keys-and-reveal): the
listing's masked keys show each token's first and last 4 characters, which
narrow the candidates; a reveal of only those candidates confirms the match.

Keys are handled as :class:`~provisioner.secret.Secret` without their ``sk-``
prefix (the server stores them so: docs/server-contract.md#key-format-and-lookup).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from provisioner.observed import ObservedToken
from provisioner.plan.model import key_print
from provisioner.secret import Secret

#: What ``scan`` reports: ``sk-`` and exactly 48 letters and digits, neither glued to a
#: longer word nor longer itself. new-api and one-api keys are 48 ``[0-9A-Za-z]`` and
#: never contain ``-`` (docs/server-contract.md#key-format-and-lookup), so ``sk-KEY-7``
#: (a channel pinned) is found too. Bare 48-character strings are not reported:
#: hashes, ids and base64 would drown the real finds.
SCAN_PATTERN = re.compile(r"(?<![0-9A-Za-z])sk-([0-9A-Za-z]{48})(?![0-9A-Za-z])")

#: A key given to ``revoke``: imported keys may be shorter or longer than 48
#: (the column holds up to 128 since 2026-04-23); 9 is the least a masked key can match.
MIN_KEY_CHARS, MAX_KEY_CHARS = 9, 128


def parse_key(text: str) -> Secret | None:
    """A key as people paste it, or None when ``text`` is not one.

    Accepted: ``sk-KEY``, ``KEY``, ``Bearer sk-KEY``, ``sk-KEY-CHANNEL`` (the relay
    drops a ``-CHANNEL`` suffix), in quotes or not. The result has no ``sk-``.
    """
    value = text.strip().strip("'\"").strip()
    for prefix in ("Bearer ", "bearer "):
        value = value.removeprefix(prefix).strip()
    value = value.removeprefix("sk-")
    body, _, channel = value.partition("-")
    if channel and not channel.isdigit():
        return None
    if not (MIN_KEY_CHARS <= len(body) <= MAX_KEY_CHARS):
        return None
    if not (body.isascii() and body.isalnum()):
        return None
    return Secret(body)


def find_keys(text: str) -> list[tuple[int, Secret]]:
    """Every key-shaped string in ``text``: (line number from 1, key without ``sk-``)."""
    found: list[tuple[int, Secret]] = []
    for number, line in enumerate(text.split("\n"), 1):
        if "sk-" not in line:
            continue
        found.extend((number, Secret(m.group(1))) for m in SCAN_PATTERN.finditer(line))
    return found


def candidates(
    keys: Iterable[Secret], inventory: Sequence[ObservedToken]
) -> dict[Secret, list[int]]:
    """For each key, the ids of tokens whose masked key shows the same first and last 4."""
    by_print: dict[tuple[str, str], list[int]] = {}
    for token in inventory:
        shown = key_print(token.key)
        if shown is not None:
            by_print.setdefault(shown, []).append(token.id)
    result: dict[Secret, list[int]] = {}
    for key in dict.fromkeys(keys):
        shown = key_print(key.reveal())
        result[key] = list(by_print.get(shown, [])) if shown is not None else []
    return result


def ids_to_reveal(narrowed: Mapping[Secret, list[int]]) -> list[int]:
    """Every candidate id once, in a stable order: one reveal per 100 of them."""
    return sorted({i for ids in narrowed.values() for i in ids})


def identify(
    narrowed: Mapping[Secret, list[int]],
    inventory: Sequence[ObservedToken],
    revealed: Mapping[int, Secret],
) -> dict[Secret, ObservedToken | None]:
    """The token each key is, confirmed by the revealed keys; None for a key of no token."""
    by_id = {t.id: t for t in inventory}
    result: dict[Secret, ObservedToken | None] = {}
    for key, ids in narrowed.items():
        bare = key.reveal().removeprefix("sk-")
        result[key] = next(
            (by_id[i] for i in ids if i in by_id and _bare(revealed.get(i)) == bare),
            None,
        )
    return result


def _bare(key: Secret | None) -> str | None:
    return None if key is None else key.reveal().removeprefix("sk-")


@dataclass(frozen=True)
class Place:
    """A key of the account found in a file (the key itself is not kept)."""

    file: str
    line: int
    token: ObservedToken


@dataclass
class ScanReport:
    """What ``provisioner scan`` found, for the renderers."""

    places: list[Place] = field(default_factory=list)
    other_keys: int = 0  # distinct key-shaped strings of no token of this account
    other_places: int = 0
    files: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, why)
    now: int = 0

    @property
    def tokens(self) -> list[ObservedToken]:
        return list({p.token.id: p.token for p in self.places}.values())
