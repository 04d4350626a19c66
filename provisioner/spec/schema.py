"""Generate ``schema/tokens.schema.json`` from the file model.

python -m provisioner.spec.schema > schema/tokens.schema.json
python -m provisioner.spec.schema --write      # same, in place
python -m provisioner.spec.schema --check      # exit 1 when the file is stale
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from provisioner.spec.fileformat import SpecFile

SCHEMA_ID = "https://github.com/provisioner/provisioner/schema/tokens.schema.json"
DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schema" / "tokens.schema.json"
# The same file inside the package, so that an installed wheel carries it.
PACKAGED_SCHEMA_PATH = Path(__file__).resolve().parents[1] / "data" / "tokens.schema.json"


def _clean(node: Any) -> Any:
    """Drop pydantic's ``default: null`` noise and the ``null`` branch of optional fields:
    a key that is present must have a real value (an absent key is the default)."""
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "default" and value is None:
                continue
            out[key] = _clean(value)
        any_of = out.get("anyOf")
        if isinstance(any_of, list):
            rest = [branch for branch in any_of if branch != {"type": "null"}]
            if len(rest) != len(any_of):
                if len(rest) == 1:
                    del out["anyOf"]
                    out = {**rest[0], **out}
                else:
                    out["anyOf"] = rest
        return out
    if isinstance(node, list):
        return [_clean(item) for item in node]
    return node


def _close(node: Any) -> None:
    """additionalProperties: false on every object (pydantic sets it per model; be sure)."""
    if isinstance(node, dict):
        if node.get("type") == "object":
            node.setdefault("additionalProperties", False)
        for value in node.values():
            _close(value)
    elif isinstance(node, list):
        for item in node:
            _close(item)


def _named_as_in_the_file(body: dict[str, Any]) -> dict[str, Any]:
    """``$defs`` named by the file's words (``Token``, ``Safety``), not by the classes that
    model them (``TokenEntry``, ``SafetyBlock``: spec/fileformat.py)."""
    defs = body.get("$defs", {})
    names = {name: name.removesuffix("Block").removesuffix("Entry") for name in defs}
    if len(set(names.values())) != len(names):
        raise AssertionError(f"two blocks share a name: {sorted(names.values())}")

    def rename(node: Any) -> Any:
        if isinstance(node, dict):
            out = {key: rename(value) for key, value in node.items()}
            ref = out.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                out["$ref"] = "#/$defs/" + names[ref.removeprefix("#/$defs/")]
            return out
        if isinstance(node, list):
            return [rename(item) for item in node]
        return node

    renamed = rename(body)
    if defs:
        renamed["$defs"] = {names[name]: node for name, node in renamed["$defs"].items()}
    return dict(renamed)


def build_schema() -> dict[str, Any]:
    body = _named_as_in_the_file(_clean(SpecFile.model_json_schema(mode="validation")))
    _close(body)
    return {"$schema": DIALECT, "$id": SCHEMA_ID, **body}


def render_schema() -> str:
    return json.dumps(build_schema(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    text = render_schema()
    if "--write" in args:
        for path in (SCHEMA_PATH, PACKAGED_SCHEMA_PATH):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}", file=sys.stderr)
        return 0
    if "--check" in args:
        for path in (SCHEMA_PATH, PACKAGED_SCHEMA_PATH):
            current = path.read_text(encoding="utf-8") if path.exists() else ""
            if current != text:
                print(
                    f"{path} is stale: run python -m provisioner.spec.schema --write",
                    file=sys.stderr,
                )
                return 1
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
