"""A local new-api-compatible token server for newcomers and tests (docs/sandbox.md).

Names are imported on first use, so that the command line's parser can read the
sandbox's options (:mod:`provisioner.sandbox.options`) without starting up the server.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "PROFILES": "provisioner.sandbox.profiles",
    "Profile": "provisioner.sandbox.profiles",
    "Fault": "provisioner.sandbox.faults",
    "FaultSpecError": "provisioner.sandbox.faults",
    "parse_fault": "provisioner.sandbox.faults",
    "Sandbox": "provisioner.sandbox.server",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'provisioner.sandbox' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
