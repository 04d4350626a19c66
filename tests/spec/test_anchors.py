"""Where each item of the tokens list was written, aliases included (spec/anchors.py)."""

from __future__ import annotations

from provisioner.spec.anchors import ItemPlace, list_items


def test_items_and_aliases_in_order() -> None:
    text = (
        "version: 1\n"
        "x-base: &shared {name: q}\n"  # an anchor outside the list
        "tokens:\n"
        "  - &t1\n"
        "    name: one\n"
        "    models: [a, b]\n"  # a nested list: not an item of tokens
        "  - {name: two, allow_ips: [10.0.0.1]}\n"
        "  - *t1\n"
        "  - *shared\n"
        "other: [1, 2]\n"  # a list under another key: not collected
    )
    assert list_items(text, "tokens") == [
        ItemPlace(4, 5),
        ItemPlace(7, 5),
        ItemPlace(8, 5, "t1", 4, 5),
        ItemPlace(9, 5, "shared", 2, 9),
    ]


def test_no_such_list_or_no_yaml() -> None:
    assert list_items("version: 1\ntokens: {}\n", "tokens") == []
    assert list_items("version: 1\n", "tokens") == []
    assert list_items("tokens: [\n", "tokens") == []  # broken YAML: reported elsewhere
    assert list_items("- tokens\n- [1]\n", "tokens") == []  # the top level is not a mapping
    assert list_items("a: {tokens: [1]}\n", "tokens") == []  # only the top-level key
