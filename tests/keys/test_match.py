"""Keys in text and which token a key is (docs/keys-in-use.md): pure table tests."""

from __future__ import annotations

import pytest

from provisioner.keys.match import candidates, find_keys, identify, ids_to_reveal, parse_key
from provisioner.observed import ObservedToken
from provisioner.secret import Secret

KEY = "a1B2" + "x" * 40 + "w9Z8"  # 48 letters and digits
OTHER = "a1B2" + "y" * 40 + "w9Z8"  # the same first and last 4: a candidate, not a match


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (KEY, KEY),
        (f"sk-{KEY}", KEY),
        (f"  sk-{KEY}\r", KEY),
        (f'"sk-{KEY}"', KEY),
        (f"Bearer sk-{KEY}", KEY),
        (f"sk-{KEY}-7", KEY),  # a pinned channel: the relay drops it
        ("sk-" + "a" * 128, "a" * 128),  # imported keys can be longer
        ("sk-" + "a" * 129, None),
        ("sk-abcd1234", None),  # too short to match a masked key
        (f"sk-{KEY}-x", None),
        (f"sk-{KEY[:20]}_{KEY[21:]}", None),
        ("KEY=sk-" + KEY, None),  # one key a line, nothing else
        ("", None),
    ],
)
def test_parse_key(text: str, expected: str | None) -> None:
    parsed = parse_key(text)
    assert (parsed.reveal() if parsed else None) == expected


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        (f"API_KEY=sk-{KEY}\n", [1]),
        (f"a\nb\n  'sk-{KEY}', 'sk-{OTHER}'\n", [3, 3]),
        (f"x sk-{KEY}-3 y", [1]),  # channel suffix
        (f"sk-{KEY}Q", []),  # 49 characters: not a key
        (f"sk-{KEY[:47]}", []),  # 47
        (f"task-{KEY}", []),  # glued to a word
        (f"ask-{KEY}", []),
        (KEY, []),  # bare: not reported
        (f"SK-{KEY}", []),
        (f"sk-{KEY[:10]}-{KEY[11:]}", []),  # keys never hold a dash
        (f"line1\r\nsk-{KEY}\r\n", [2]),
    ],
)
def test_find_keys(text: str, lines: list[int]) -> None:
    found = find_keys(text)
    assert [line for line, _ in found] == lines
    assert all(len(key.reveal()) == 48 and not key.reveal().startswith("sk-") for _, key in found)


def token(i: int, key: str, name: str = "") -> ObservedToken:
    return ObservedToken(id=i, name=name or f"t{i}", key=key)


def test_narrow_by_masked_ends_then_confirm_by_reveal() -> None:
    inventory = [
        token(1, OTHER),  # same ends as KEY: a candidate the reveal rules out
        token(2, KEY),
        token(3, "zzzz" + "x" * 40 + "zzzz"),  # never a candidate: not revealed
        token(4, ""),  # no key to compare
    ]
    keys = [Secret(KEY), Secret("sk-" + "Q" * 48)]
    narrowed = candidates(keys, inventory)
    assert narrowed == {Secret(KEY): [1, 2], Secret("sk-" + "Q" * 48): []}
    assert ids_to_reveal(narrowed) == [1, 2]
    revealed = {1: Secret(OTHER), 2: Secret(KEY)}
    found = identify(narrowed, inventory, revealed)
    assert found[Secret(KEY)] is not None and found[Secret(KEY)].id == 2
    assert found[Secret("sk-" + "Q" * 48)] is None


def test_a_candidate_the_server_did_not_reveal_is_no_match() -> None:
    inventory = [token(1, KEY)]
    narrowed = candidates([Secret(KEY)], inventory)
    assert identify(narrowed, inventory, {}) == {Secret(KEY): None}


def test_masked_listing_keys_narrow_the_same_as_full_ones() -> None:
    masked = ObservedToken(id=5, name="m", key=KEY[:4] + "*" * 10 + KEY[-4:])
    assert candidates([Secret(KEY)], [masked]) == {Secret(KEY): [5]}
