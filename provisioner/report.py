"""What an apply did: one result per operation, as data (rendered by provisioner.render.report)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class OpResult:
    kind: str  # create | rotate | rename | update | enable | deliver | disable | delete
    name: str
    token_id: int | None = None
    status: str = "not-run"  # ok | failed | skipped | not-run
    error: str = ""
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "id": self.token_id,
            "status": self.status,
            "error": self.error,
            "detail": self.detail,
        }


@dataclass
class Report:
    results: list[OpResult] = field(default_factory=list)
    interrupted: bool = False
    keys_delivered: int = 0
    keys_pending: list[str] = field(default_factory=list)  # new tokens whose keys were not fetched
    keys_undelivered: list[str] = field(default_factory=list)  # created, key not delivered yet
    keys_forgotten: list[str] = field(default_factory=list)  # key names removed from the sink
    # (former, new) key names: a delivered key left its former name (renamed_from, key_name)
    keys_moved: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what else a person should know
    # what the server turned out unable to hold, learned while applying (exit 4)
    refused: list[str] = field(default_factory=list)
    sink: str = ""
    sink_readable: bool = False  # the sink can be read back, so a rerun notices missing keys

    @property
    def failed(self) -> list[OpResult]:
        """Operations that failed, and those skipped because of a failure (not sent)."""
        return [r for r in self.results if r.status in ("failed", "skipped")]

    @property
    def ok(self) -> bool:
        return not self.failed and not self.interrupted

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for result in self.results:
            out[result.status] = out.get(result.status, 0) + 1
        return out
