"""Reading a JSON key sink the way an application does: the keys, not the origins
recorded beside them (docs/sinks.md#one-sink-one-server)."""

from __future__ import annotations

import json
from pathlib import Path

ORIGINS = "provisioner:origins"


def json_keys(path: Path) -> dict[str, str]:
    """The key members of a JSON sink (the origins member left out)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return {name: value for name, value in data.items() if name != ORIGINS}


def json_origins(path: Path) -> dict[str, str]:
    """The origin recorded for each key: ``URL user N``."""
    return dict(json.loads(Path(path).read_text(encoding="utf-8")).get(ORIGINS, {}))
