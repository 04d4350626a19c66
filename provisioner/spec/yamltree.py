"""Safe YAML to a tree of located nodes.

PyYAML's ``SafeLoader`` composes the document (so every node has a start
mark); we build the values ourselves from the nodes, which lets us refuse what
plain ``yaml.safe_load`` silently accepts (duplicate keys) and bound what it
would happily expand (aliases). Only the YAML core tags are allowed: a
``!!python/...`` tag is an error, so a spec can never run code.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from provisioner.spec.diagnostics import Diagnostic, SpecError

MAX_DEPTH = 64
MAX_ALIAS_NODES = 50_000  # nodes produced by expanding aliases (billion laughs guard)

_T = "tag:yaml.org,2002:"
_SCALAR_KINDS = {
    _T + "str": "str",
    _T + "int": "int",
    _T + "float": "float",
    _T + "bool": "bool",
    _T + "null": "null",
    _T + "timestamp": "timestamp",
}
_KIND_WORDS = {
    "map": "a mapping",
    "seq": "a list",
    "str": "a string",
    "int": "an integer",
    "float": "a number",
    "bool": "a boolean",
    "null": "nothing (null)",
    "timestamp": "a date",
    "bad": "a value with a disallowed tag",
}


@dataclass(slots=True)
class YNode:
    """A located value. ``value`` is: map -> dict[str, YEntry]; seq -> list[YNode];
    scalars -> the Python value (timestamps stay the source text)."""

    kind: str
    value: Any
    line: int
    col: int
    text: str = ""  # the scalar's source text

    def describe(self) -> str:
        return _KIND_WORDS.get(self.kind, self.kind)


@dataclass(slots=True)
class YEntry:
    key: YNode
    value: YNode


@dataclass
class _Budget:
    alias_nodes: int = 0
    seen: set[int] = field(default_factory=set)


class _TooDeepError(Exception):
    def __init__(self, mark: yaml.Mark) -> None:
        self.mark = mark


class _DepthBound(Composer):
    """A composer that bounds nesting depth (PyYAML's composer recurses)."""

    _depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _TooDeepError(self.peek_event().start_mark)  # type: ignore[attr-defined]
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _Loader(_DepthBound, yaml.SafeLoader):
    """The pure-Python SafeLoader: the reference for error messages and positions."""


try:
    from yaml.cyaml import CSafeLoader as _CSafeLoader
except ImportError:  # pragma: no cover - libyaml is missing
    _CSafeLoader = None  # type: ignore[misc, assignment]

#: Compose with libyaml's own composer when it is there (about 3x faster on big files);
#: tests switch it off to prove both paths give the same nodes, marks and messages.
LIBYAML = _CSafeLoader is not None

if _CSafeLoader is not None:

    class _CLoader(_CSafeLoader):
        """libyaml's composer; a scalar's tag is resolved once per text (a spec repeats its
        keys and values: ``name``, ``quota``, ``10 USD``), not once per node."""

        def __init__(self, stream: str) -> None:
            super().__init__(stream)
            self._tags: dict[tuple[str, Any], str] = {}

        def resolve(self, kind: type, value: Any, implicit: Any) -> str:
            if kind is not ScalarNode:
                # PyYAML's stubs leave resolve() untyped; it returns the tag, a str
                return super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call,no-any-return]
            key = (value, implicit)
            tag = self._tags.get(key)
            if tag is None:
                tag = self._tags[key] = super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]
            return tag


def _position(text: str, index: int) -> tuple[int, int]:
    index = max(0, min(index, len(text)))
    line = text.count("\n", 0, index) + 1
    col = index - (text.rfind("\n", 0, index) + 1) + 1
    return line, col


def decode(data: bytes, filename: str) -> str:
    """UTF-8 (a BOM is allowed) or a located error at the first bad byte."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        col = len(data[line_start : exc.start].decode("utf-8", errors="replace")) + 1
        raise SpecError(
            [
                Diagnostic(
                    filename,
                    line,
                    col,
                    f"the file is not valid UTF-8 (byte 0x{data[exc.start]:02x} "
                    f"at offset {exc.start}); save it as UTF-8",
                )
            ]
        ) from None


def _tabs_in_indentation(text: str, filename: str) -> list[Diagnostic]:
    found = []
    for number, line in enumerate(text.split("\n"), start=1):
        stripped = line.lstrip(" \t")
        if not stripped or stripped.startswith("#"):
            continue
        indent = line[: len(line) - len(stripped)]
        if "\t" in indent:
            found.append(
                Diagnostic(
                    filename,
                    number,
                    indent.index("\t") + 1,
                    "tab character in indentation; YAML indents with spaces",
                )
            )
    return found


def _yaml_error(exc: yaml.YAMLError, text: str, filename: str) -> Diagnostic:
    if isinstance(exc, yaml.reader.ReaderError):
        line, col = _position(text, exc.position)
        char = exc.character if isinstance(exc.character, str) else chr(exc.character)
        return Diagnostic(
            filename,
            line,
            col,
            f"invalid YAML: character {ord(char):#06x} is not allowed in a YAML file",
        )
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "syntax error"
        context = ""
        if exc.context and exc.problem and exc.context_mark is not None:
            context = f" ({exc.context} at line {exc.context_mark.line + 1})"
        if mark is not None:
            return Diagnostic(
                filename, mark.line + 1, mark.column + 1, f"invalid YAML: {problem}{context}"
            )
    return Diagnostic(filename, 1, 1, f"invalid YAML: {exc}")


def _compose(loader_class: type, text: str, filename: str) -> Node:
    loader: Any = None
    try:
        loader = loader_class(text)
        if not loader.check_node():
            raise SpecError(
                [
                    Diagnostic(
                        filename,
                        1,
                        1,
                        "the file is empty; it needs at least 'version: 1' and 'tokens:'",
                    )
                ]
            )
        root: Node = loader.get_node()  # a node: check_node() said there is one
        if loader.check_node():
            mark = loader.peek_event().start_mark
            raise SpecError(
                [
                    Diagnostic(
                        filename,
                        mark.line + 1,
                        mark.column + 1,
                        "a second YAML document: a spec file holds exactly one document",
                    )
                ]
            )
    except _TooDeepError as exc:
        raise SpecError(
            [
                Diagnostic(
                    filename,
                    exc.mark.line + 1,
                    exc.mark.column + 1,
                    f"nesting deeper than {MAX_DEPTH} levels",
                )
            ]
        ) from None
    finally:
        if loader is not None:
            getattr(loader, "dispose", lambda: None)()
    return root


def _compose_libyaml(text: str) -> Node | None:
    """The one document, composed by libyaml with its marks; None unless all is well.

    Anything unusual (a YAML error, no document or two, nesting past the bound) is
    left to the Python composer, whose messages and positions are the reference.
    """
    if _CSafeLoader is None:
        return None
    loader = _CLoader(text)
    try:
        if not loader.check_node():
            return None
        root = loader.get_node()
        if loader.check_node():
            return None
    except yaml.YAMLError:
        return None
    finally:
        loader.dispose()
    return None if root is None or _deeper_than(root, MAX_DEPTH) else root


def _deeper_than(root: Node, limit: int) -> bool:
    """True when a node sits deeper than ``limit`` where the Python composer would meet it.

    That composer counts every node it composes, an alias included, but does not
    descend into an alias (its target was composed where it was anchored): in
    document order, a collection seen before is an alias.
    """
    seen: set[int] = set()
    stack: list[tuple[Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, ScalarNode) or not node.value:
            continue
        if depth == limit:
            return True  # its children are one level too deep
        below = depth + 1
        if isinstance(node, MappingNode):
            for key, value in reversed(node.value):  # reversed: popped in document order
                if not isinstance(value, ScalarNode):
                    stack.append((value, below))
                if not isinstance(key, ScalarNode):
                    stack.append((key, below))
        else:
            stack.extend(
                (item, below) for item in reversed(node.value) if not isinstance(item, ScalarNode)
            )
    return False


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Composing a big file makes ~5 objects a node, none of them garbage; the collector
    would scan them over and over (0.3 s of 0.6 s for 10,000 tokens)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def parse(text: str, filename: str, errors: list[Diagnostic]) -> YNode:
    """Compose one YAML document into located nodes.

    Fatal problems (syntax, encoding, tabs) raise SpecError; problems that leave
    the tree usable (a duplicate key, a disallowed tag) are appended to ``errors``.
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    tabs = _tabs_in_indentation(text, filename)
    if tabs:
        raise SpecError(tabs)
    with _gc_paused():
        root = _compose_libyaml(text) if LIBYAML else None
        if root is None:
            # anything unusual: the Python loader composes it, or words the error (the reference)
            try:
                root = _compose(_Loader, text, filename)
            except yaml.YAMLError as exc:
                raise SpecError([_yaml_error(exc, text, filename)]) from None
        return _Builder(filename, errors).build(root)


class _Builder:
    def __init__(self, filename: str, errors: list[Diagnostic]) -> None:
        self.filename = filename
        self.errors = errors
        self.budget = _Budget()
        self.constructor = SafeConstructor()
        self.active: set[int] = set()

    def error(self, node: Node, message: str) -> None:
        mark = node.start_mark
        self.errors.append(Diagnostic(self.filename, mark.line + 1, mark.column + 1, message))

    def build(self, node: Node) -> YNode:
        mark = node.start_mark
        line, col = mark.line + 1, mark.column + 1
        if id(node) in self.budget.seen:
            # A second visit: an alias being expanded. Count what it costs.
            self.budget.alias_nodes += 1
            if self.budget.alias_nodes > MAX_ALIAS_NODES:
                raise SpecError(
                    [
                        Diagnostic(
                            self.filename,
                            line,
                            col,
                            f"alias expansion too large (more than {MAX_ALIAS_NODES} nodes)",
                        )
                    ]
                )
        else:
            self.budget.seen.add(id(node))
        if id(node) in self.active:
            raise SpecError(
                [Diagnostic(self.filename, line, col, "recursive alias: a node contains itself")]
            )
        if isinstance(node, ScalarNode):
            return self._scalar(node, line, col)
        self.active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                if node.tag != _T + "seq":
                    self._bad_tag(node)
                    return YNode("bad", None, line, col)
                return YNode("seq", [self.build(item) for item in node.value], line, col)
            assert isinstance(node, MappingNode)
            if node.tag != _T + "map":
                self._bad_tag(node)
                return YNode("bad", None, line, col)
            return YNode("map", self._mapping(node), line, col)
        finally:
            self.active.discard(id(node))

    def _bad_tag(self, node: Node) -> None:
        tag = node.tag.replace(_T, "!!")
        self.error(node, f"tag '{tag}' is not allowed: a spec uses plain YAML values only")

    def _scalar(self, node: ScalarNode, line: int, col: int) -> YNode:
        kind = _SCALAR_KINDS.get(node.tag)
        if kind is None:
            self._bad_tag(node)
            return YNode("bad", None, line, col, node.value)
        if kind in ("str", "timestamp"):
            return YNode(kind, node.value, line, col, node.value)
        try:
            value = {
                "int": self.constructor.construct_yaml_int,
                "float": self.constructor.construct_yaml_float,
                "bool": self.constructor.construct_yaml_bool,
                "null": self.constructor.construct_yaml_null,
            }[kind](node)
        except (ValueError, KeyError, ConstructorError, OverflowError):
            self.error(node, f"{node.value!r} is not a valid {kind}")
            return YNode("null", None, line, col, node.value)
        return YNode(kind, value, line, col, node.value)

    def _mapping(self, node: MappingNode) -> dict[str, YEntry]:
        entries: dict[str, YEntry] = {}
        merged: dict[str, YEntry] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _T + "merge":
                for source in self._merge_sources(value_node):
                    for name, entry in source.items():
                        merged.setdefault(name, entry)
                continue
            key = self.build(key_node)
            if key.kind != "str":
                self.error(key_node, f"a key must be a string, not {key.describe()}")
                continue
            value = self.build(value_node)
            first = entries.get(key.value)
            if first is not None:
                self.error(
                    key_node,
                    f"duplicate key '{key.value}' (first at line {first.key.line})",
                )
                continue
            entries[key.value] = YEntry(key, value)
        for name, entry in merged.items():
            entries.setdefault(name, entry)
        return entries

    def _merge_sources(self, node: Node) -> list[dict[str, YEntry]]:
        if isinstance(node, MappingNode):
            built = self.build(node)
            return [built.value] if built.kind == "map" else []
        if isinstance(node, SequenceNode):
            sources = []
            for item in node.value:
                if isinstance(item, MappingNode):
                    sources.append(self.build(item).value)
                else:
                    self.error(item, "a merge key '<<' takes a mapping or a list of mappings")
            return sources
        self.error(node, "a merge key '<<' takes a mapping or a list of mappings")
        return []
