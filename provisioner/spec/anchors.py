"""Where each item of a top-level list was written, aliases included. Pure.

Composing YAML resolves an alias (``- *t1``) to the node it names, so every
position inside the item is the anchor's: an error found in it would point at
the anchor, twice. Only when such an error is reported do we read the file's
events once more to learn where the alias itself stands.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import yaml
from yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    Event,
    MappingStartEvent,
    NodeEvent,
    ScalarEvent,
    SequenceStartEvent,
)

__all__ = ["ItemPlace", "list_items"]

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True, slots=True)
class ItemPlace:
    """Where an item was written (1-based); for an alias, its anchor's name and position."""

    line: int
    col: int
    alias: str | None = None
    anchor_line: int = 0
    anchor_col: int = 0


def list_items(text: str, key: str) -> list[ItemPlace]:
    """The place of each item of the list under the top-level ``key``, in order.

    Empty when the file has no such list or does not parse (its errors are reported
    elsewhere).
    """
    try:
        return _walk(yaml.parse(text, Loader=_Loader), key)
    except yaml.YAMLError:
        return []


class _Mark(Protocol):  # yaml.error.Mark, or libyaml's own
    line: int
    column: int


def _at(mark: _Mark | None) -> tuple[int, int]:
    """A mark's line and column, 1-based (a parsed event always has its mark)."""
    return (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)


def _walk(events: Iterable[Event], key: str) -> list[ItemPlace]:
    anchors: dict[str, tuple[int, int]] = {}
    # one entry per open collection: (is a mapping, events seen directly inside it)
    stack: list[list[int]] = []
    target_depth = 0  # the depth of the list we collect, once found
    wanted_next = False  # the next node is the value of the top-level `key`
    places: list[ItemPlace] = []
    for event in events:
        if isinstance(event, NodeEvent) and event.anchor and not isinstance(event, AliasEvent):
            anchors[event.anchor] = _at(event.start_mark)
        if isinstance(event, NodeEvent):
            depth = len(stack)
            if target_depth and depth == target_depth:
                line, col = _at(event.start_mark)
                if isinstance(event, AliasEvent):
                    anchor_line, anchor_col = anchors.get(event.anchor or "", (0, 0))
                    places.append(ItemPlace(line, col, event.anchor, anchor_line, anchor_col))
                else:
                    places.append(ItemPlace(line, col))
            if depth == 1 and stack[0][0]:  # inside the top-level mapping
                is_key = stack[0][1] % 2 == 0
                stack[0][1] += 1
                if wanted_next:
                    wanted_next = False
                    if isinstance(event, SequenceStartEvent):
                        target_depth = 2
                elif is_key and isinstance(event, ScalarEvent) and event.value == key:
                    wanted_next = True
            if isinstance(event, CollectionStartEvent):
                stack.append([int(isinstance(event, MappingStartEvent)), 0])
        elif isinstance(event, CollectionEndEvent):
            stack.pop()
            if target_depth and len(stack) < target_depth:
                return places
    return places
