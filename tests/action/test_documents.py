"""The action reads the plan documents the CLI writes (github/documents.py) back into the
objects they came from: every action kind, the conflicts and the notices."""

from __future__ import annotations

import json

import pytest

from provisioner.github.documents import DocumentError, read
from provisioner.render.plan import Header, plan_json
from tests.plan.test_saved import every_kind


def test_a_plan_document_reads_back_whole() -> None:
    plan = every_kind()
    header = Header(file="tokens.yaml", url="https://api.example.com", version="v1", user="#7")
    document = json.loads(json.dumps(plan_json(plan, header, [])))
    parsed = read(document)
    assert parsed.plan.conflicts == plan.conflicts and parsed.plan.notices == plan.notices
    assert [a.kind for a in parsed.plan.actions] == [a.kind for a in plan.ordered()]
    assert (parsed.plan.owned, parsed.plan.unmanaged) == (plan.owned, plan.unmanaged)
    assert parsed.header.url == header.url and parsed.report is None


def test_a_damaged_notice_is_a_document_error() -> None:
    document = plan_json(every_kind(), Header("tokens.yaml", "https://api.example.com"), [])
    del document["notices"][0]["kind"]
    with pytest.raises(DocumentError, match="not a plan document"):
        read(document)
