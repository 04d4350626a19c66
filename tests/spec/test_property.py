"""Generated and mutated YAML: the loader accepts it or returns located errors, never raises."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provisioner.spec import Spec, SpecError, load_spec_text

HERE = Path(__file__).parent
SEEDS = [p.read_bytes() for p in sorted((HERE / "good").glob("*.yaml"))] + [
    (HERE.parents[1] / "examples" / "tokens.yaml").read_bytes()
]
NOW = 1767225600


def _check(data: str | bytes) -> None:
    try:
        spec = load_spec_text(data, "fuzz.yaml", now=NOW)
    except SpecError as exc:
        assert exc.diagnostics
        for diagnostic in exc.diagnostics:
            assert diagnostic.line >= 1 and diagnostic.col >= 1, diagnostic
            assert diagnostic.file == "fuzz.yaml"
            assert diagnostic.message
    else:
        assert isinstance(spec, Spec)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    lines = draw(st.sampled_from(SEEDS)).split(b"\n")
    for _ in range(draw(st.integers(1, 4))):
        if not lines:
            lines = [b""]
        index = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["delete", "duplicate", "swap", "unicode", "bytes", "indent"]))
        line = lines[index]
        if op == "delete":
            del lines[index]
        elif op == "duplicate":
            lines.insert(index, line)
        elif op == "swap" and len(line) > 1:
            i = draw(st.integers(0, len(line) - 2))
            lines[index] = line[:i] + line[i + 1 : i + 2] + line[i : i + 1] + line[i + 2 :]
        elif op == "unicode":
            text = draw(st.text(min_size=1, max_size=8))
            i = draw(st.integers(0, len(line)))
            lines[index] = line[:i] + text.encode("utf-8", "surrogatepass") + line[i:]
        elif op == "bytes":
            i = draw(st.integers(0, len(line)))
            lines[index] = line[:i] + draw(st.binary(min_size=1, max_size=4)) + line[i:]
        elif op == "indent":
            lines[index] = draw(st.sampled_from([b" ", b"\t", b"  - ", b"- "])) + line
    return b"\n".join(lines)


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.text(max_size=12),
    st.sampled_from(["never", "7d", "10 USD", "$5", "unlimited", "auto", "2027-01-01", "*a"]),
)
_keys = st.sampled_from(
    [
        "version",
        "tokens",
        "name",
        "quota",
        "expires",
        "count",
        "group",
        "auto_groups",
        "status",
        "rotate",
        "every",
        "overlap",
        "key_name",
        "defaults",
        "<<",
        "models",
        "x",
    ]
)
_values = st.recursive(
    _scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_keys, children, max_size=4),
    max_leaves=12,
)


def _to_yaml(value: object, indent: int = 0) -> str:
    pad = " " * indent
    if isinstance(value, dict):
        if not value:
            return "{}"
        return "\n" + "\n".join(f"{pad}{k}: {_to_yaml(v, indent + 2)}" for k, v in value.items())
    if isinstance(value, list):
        if not value:
            return "[]"
        return "\n" + "\n".join(f"{pad}- {_to_yaml(v, indent + 2).lstrip()}" for v in value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_corpus_never_raises(data: bytes) -> None:
    _check(data)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_keys, _values, max_size=5), st.booleans())
def test_generated_yaml_never_raises(document: dict, as_text: bool) -> None:
    text = "version: 1\n" + _to_yaml(document).lstrip("\n")
    _check(text if as_text else text.encode("utf-8", "surrogatepass"))


@settings(max_examples=50, deadline=None)
@given(st.text(max_size=200))
def test_random_text_never_raises(text: str) -> None:
    _check(text)
