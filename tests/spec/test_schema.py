"""The published schema: generated from the model, and agreeing with the loader."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from provisioner.spec.schema import SCHEMA_PATH, render_schema

HERE = Path(__file__).parent
GOOD = [*sorted((HERE / "good").glob("*.yaml")), HERE.parents[1] / "examples" / "tokens.yaml"]
# Bad specs whose fault is a shape the schema can express (the rest need the loader:
# byte lengths, duplicates after count, dates in the past, CIDR host bits, ...).
SCHEMA_CAN_SAY = [
    "unknown_key_typo",
    "unknown_key_top",
    "unknown_key_no_hint",
    "unknown_key_case",
    "unknown_key_rotate",
    "not_a_mapping",
    "scalar_document",
    "version_missing",
    "version_2",
    "version_string",
    "tokens_missing",
    "tokens_not_list",
    "token_not_mapping",
    "name_missing",
    "name_empty",
    "name_whitespace",
    "name_number",
    "name_control_char",
    "name_old_suffix",
    "name_too_long",
    "count_zero",
    "count_too_big",
    "count_string",
    "duration_bad_unit",
    "duration_zero",
    "duration_uppercase",
    "expiry_number",
    "quota_negative",
    "quota_float",
    "quota_too_big",
    "quota_garbage",
    "quota_eur",
    "status_bad",
    "status_bool",
    "protected_string",
    "models_comma",
    "models_not_list",
    "models_empty_string",
    "ip_duplicate",
    "auto_groups_too_many",
    "auto_groups_duplicate",
    "group_null",
    "rotate_missing_every",
    "server_max_tokens_zero",
    "key_name_invalid",
    "defaults_name",
    "orphans_bad",
    "match_not_list",
    "safety_negative",
    "sink_bad",
    "sink_no_path",
    "server_url_bad",
    "many_errors",
    "x_key_in_token",
]


def _as_json(value: Any) -> Any:
    """What check-jsonschema sees: YAML dates become ISO strings."""
    if isinstance(value, dict):
        return {str(k): _as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_json(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_committed_schema_is_generated() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == render_schema(), (
        "schema/tokens.schema.json is stale: run python -m provisioner.spec.schema --write"
    )


def test_schema_header() -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith("tokens.schema.json")

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "object":
                assert node.get("additionalProperties") is False, node
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(schema)
    token = schema["$defs"]["Token"]["properties"]
    assert token["count"]["minimum"] == 1 and token["count"]["maximum"] == 100
    assert token["key_name"]["pattern"] == "^[A-Za-z_][A-Za-z0-9_]*$"
    for name, prop in token.items():
        assert prop.get("description") and prop.get("title"), name


@pytest.mark.parametrize("path", GOOD, ids=[p.stem for p in GOOD])
def test_schema_accepts_good(validator: jsonschema.Draft202012Validator, path: Path) -> None:
    document = _as_json(yaml.safe_load(path.read_bytes()))
    errors = [e.message for e in validator.iter_errors(document)]
    assert errors == []


@pytest.mark.parametrize("name", SCHEMA_CAN_SAY)
def test_schema_rejects_bad(validator: jsonschema.Draft202012Validator, name: str) -> None:
    document = _as_json(yaml.safe_load((HERE / "bad" / f"{name}.yaml").read_bytes()))
    assert list(validator.iter_errors(document)), f"the schema accepts bad/{name}.yaml"
