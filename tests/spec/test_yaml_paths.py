"""The spec loader's two YAML paths: libyaml's composer (when PyYAML has it) and the
pure-Python one it falls back to give the same nodes, positions and messages.

The corpus (tests/spec/bad, tests/spec/good) runs through both; generated documents
with every YAML style the spec may use compare node by node, marks included.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from provisioner.spec import SpecError, load_spec, load_spec_text, yamltree

HERE = Path(__file__).parent
NOW = 1767225600  # 2026-01-01T00:00:00Z, as in test_corpus.py
BAD = sorted((HERE / "bad").glob("*.yaml"))
GOOD = sorted((HERE / "good").glob("*.yaml"))
EXAMPLE = HERE.parents[1] / "examples" / "tokens.yaml"

needs_libyaml = pytest.mark.skipif(
    yamltree._CSafeLoader is None, reason="PyYAML was built without libyaml"
)


@pytest.fixture(params=["libyaml", "python"])
def path_kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "libyaml" and yamltree._CSafeLoader is None:
        pytest.skip("PyYAML was built without libyaml")
    monkeypatch.setattr(yamltree, "LIBYAML", request.param == "libyaml")
    return str(request.param)


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_every_bad_file_gives_its_expected_messages_on_both_paths(
    path: Path, path_kind: str
) -> None:
    expected = path.with_suffix(".expected").read_text(encoding="utf-8").splitlines()
    with pytest.raises(SpecError) as caught:
        load_spec(path, now=NOW)
    assert [f"{d.line}:{d.col}: {d.message}" for d in caught.value.diagnostics] == expected


def _load_both(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    monkeypatch.setattr(yamltree, "LIBYAML", True)
    fast = load_spec(path, now=NOW)
    monkeypatch.setattr(yamltree, "LIBYAML", False)
    return fast, load_spec(path, now=NOW)


@needs_libyaml
@pytest.mark.parametrize("path", [*GOOD, EXAMPLE], ids=[p.stem for p in [*GOOD, EXAMPLE]])
def test_every_good_file_loads_the_same_on_both_paths(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast, python = _load_both(path, monkeypatch)
    assert fast == python  # every token's location and every warning's position included
    assert fast.warning_diagnostics == python.warning_diagnostics


@needs_libyaml
def test_the_libyaml_path_is_the_one_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object) -> Node:
        raise AssertionError("the Python composer ran on a file libyaml composes")

    monkeypatch.setattr(yamltree, "_compose", refuse)
    spec = load_spec(EXAMPLE, now=NOW)
    assert spec.tokens


# ---------------------------------------------------------------- node by node

_WORDS = [
    "a", "név", "名前", "😀x", "x y", "it's", 'q"q', "-1", "1.5", "true", "null", "~",
    "2026-01-01", "0x1F", "", " lead", "a:b", "a #b", "é😀é", "10 USD",
]  # fmt: skip


def _scalar(rnd: random.Random) -> str:
    word = rnd.choice(_WORDS)
    style = rnd.choice(["plain", "single", "double"])
    if style == "plain" and word and word.strip() == word and not set(word) & set(":#'\""):
        return word
    if style == "double":
        return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return "'" + word.replace("'", "''") + "'"


def _flow(rnd: random.Random, depth: int = 0) -> str:
    if depth > 3 or rnd.random() < 0.4:
        return _scalar(rnd)
    if rnd.random() < 0.5:
        return "[" + ", ".join(_flow(rnd, depth + 1) for _ in range(rnd.randint(0, 3))) + "]"
    items = ", ".join(f"k{i}: {_flow(rnd, depth + 1)}" for i in range(rnd.randint(0, 3)))
    return "{" + items + "}"


def _block(
    rnd: random.Random, indent: int, depth: int, lines: list[str], anchors: list[str]
) -> None:
    pad = " " * indent
    for i in range(rnd.randint(1, 4)):
        key = f"{pad}key{i}_{depth}" if rnd.random() < 0.8 else f'{pad}"k é{i}_{depth}"'
        anchor = ""
        if rnd.random() < 0.1:
            anchors.append(f"a{len(anchors)}")
            anchor = f" &{anchors[-1]}"
        roll = rnd.random()
        if roll < 0.35 or depth > 4:
            comment = "  # c😀" if rnd.random() < 0.2 else ""
            lines.append(f"{key}:{anchor} {_scalar(rnd) if rnd.random() < 0.9 else ''}{comment}")
        elif roll < 0.5:
            lines.append(f"{key}:{anchor} {_flow(rnd)}")
        elif roll < 0.6 and anchors:
            lines.append(f"{key}: *{rnd.choice(anchors)}")
        elif roll < 0.7:
            lines.append(f"{key}:{anchor} " + rnd.choice(["|", ">", "|-", ">+"]))
            lines += [f"{pad}  text 名 😀"] * rnd.randint(1, 3)
        elif roll < 0.85:
            lines.append(f"{key}:{anchor}")
            for _ in range(rnd.randint(1, 3)):
                if rnd.random() < 0.5:
                    lines.append(f"{pad}  - {_scalar(rnd)}")
                else:
                    lines += [f"{pad}  - x: {_scalar(rnd)}", f"{pad}    y: {_scalar(rnd)}"]
        else:
            lines.append(f"{key}:{anchor}")
            _block(rnd, indent + 2, depth + 1, lines, anchors)
        if rnd.random() < 0.1:
            lines.append("")
        if rnd.random() < 0.05:
            lines.append(f"{pad}# a comment")


def _document(rnd: random.Random) -> str:
    lines: list[str] = ["---"] if rnd.random() < 0.2 else []
    _block(rnd, 0, 0, lines, [])
    newline = "\r\n" if rnd.random() < 0.2 else "\n"
    return newline.join(lines) + rnd.choice(["\n", "", "\n...\n"])


def _flatten(node: Node, out: list[tuple[Any, ...]], seen: set[int]) -> None:
    mark = node.start_mark
    value = node.value if isinstance(node, ScalarNode) else None
    out.append((type(node).__name__, node.tag, value, mark.line, mark.column, id(node) in seen))
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, MappingNode):
        for key, item in node.value:
            _flatten(key, out, seen)
            _flatten(item, out, seen)
    elif isinstance(node, SequenceNode):
        for item in node.value:
            _flatten(item, out, seen)


@needs_libyaml
def test_generated_documents_compose_to_the_same_nodes_and_marks() -> None:
    rnd = random.Random(19)
    compared = 0
    for _ in range(400):
        text = _document(rnd)
        fast = yamltree._compose_libyaml(text)
        try:
            reference = yamltree._compose(yamltree._Loader, text, "f")
        except Exception:
            assert fast is None or "\t" in text
            continue
        assert fast is not None, text
        ours: list[tuple[Any, ...]] = []
        theirs: list[tuple[Any, ...]] = []
        _flatten(fast, ours, set())
        _flatten(reference, theirs, set())
        assert ours == theirs, text
        compared += 1
    assert compared > 300


def _nested(kind: str, depth: int) -> str:
    """A document whose deepest node sits at ``depth`` (the root mapping is 1)."""
    if kind == "flow":
        return "tokens: " + "[" * (depth - 2) + "x" + "]" * (depth - 2) + "\n"
    if kind == "block":
        lines = [" " * i + f"k{i}:" for i in range(depth - 2)]
        return "\n".join(lines) + "\n" + " " * (depth - 2) + "k: v\n"
    # an alias at the bound counts, what it points to is not walked again
    return "a: &x [[1]]\nb: " + "[" * (depth - 2) + "*x" + "]" * (depth - 2) + "\n"


@pytest.mark.parametrize("kind", ["flow", "block", "alias"])
@pytest.mark.parametrize("depth", [64, 65, 200, 5000])
def test_nesting_bound_is_the_same_on_both_paths(kind: str, depth: int, path_kind: str) -> None:
    text = _nested(kind, depth)
    if depth <= yamltree.MAX_DEPTH:
        yamltree.parse(text, "f.yaml", [])
        return
    with pytest.raises(SpecError) as caught:
        load_spec_text(text, "f.yaml", now=NOW)
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.message == f"nesting deeper than {yamltree.MAX_DEPTH} levels"
    line = 1 if kind == "flow" else (yamltree.MAX_DEPTH if kind == "block" else 2)
    assert diagnostic.line == line
