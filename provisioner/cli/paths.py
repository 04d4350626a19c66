"""Paths a spec file names are relative to the spec's folder, not the working folder.

CI runs ``provisioner apply -f infra/tokens.yaml`` from the repository's root, a
person runs ``provisioner apply`` from ``infra/``: ``keys.to: dotenv:keys.env`` in
the file means ``infra/keys.env`` both times, as a path in a docker-compose file
or a Terraform module means a place next to it. The embedded sandbox's state
(``--sandbox``) lives next to the spec too, so the keys its sinks recorded keep
their origin whichever folder the command runs from. Paths given as flags
(``--keys-to``, ``--out``) are the command line's: relative to the working folder.

Earlier versions made both relative to the working folder. A file found only there (and
not next to the spec) is still used, with a warning to move it: no key is lost
(docs/sinks.md#relative-paths).
"""

from __future__ import annotations

import glob
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from provisioner.spec.desired import Spec
from provisioner.spec.loader import STDIN, STDIN_NAME

SANDBOX_STATE = Path(".provisioner") / "sandbox.db"
_FILE_SINKS = ("dotenv", "json")
_HOST = "{host}"


def spec_folder(spec_file: str | None) -> Path | None:
    """The folder of the spec file; None for stdin, no file, or the working folder itself."""
    if not spec_file or spec_file in (STDIN, STDIN_NAME):
        return None
    folder = Path(spec_file).parent
    return None if folder == Path(".") else folder


def _exists(path: Path) -> bool:
    """A file at ``path``; ``{host}`` stands for any server's host."""
    text = str(path)
    if _HOST in text:
        return bool(glob.glob(glob.escape(text).replace(glob.escape(_HOST), "*")))
    return path.exists()


def resolve_sink(spec: Spec, spec_file: str, warn: Callable[[str], None]) -> Spec:
    """``spec`` with a relative ``dotenv:``/``json:`` path in ``keys.to`` made relative to the
    spec's folder (as the working folder sees it); an old file found only in the working
    folder is kept, with a warning."""
    folder = spec_folder(spec_file)
    if folder is None or not spec.keys_to:
        return spec
    kind, sep, target = spec.keys_to.partition(":")
    if not sep or kind not in _FILE_SINKS:
        return spec
    written = Path(target.strip())
    if written.expanduser().is_absolute() or str(written).startswith("~"):
        return spec
    beside = folder / written
    if not _exists(beside) and _exists(written):
        warn(
            f"keys.to {spec.keys_to} in {spec_file}: {written} was found in the working "
            f"folder, where earlier versions put the file's paths; they are relative to the "
            f"file's folder now ({beside}). Move it there (mv {written} {beside}); until "
            "then the file in the working folder is used"
        )
        return spec
    return replace(spec, keys_to=f"{kind}:{beside}")


def sandbox_state(spec_file: str | None, warn: Callable[[str], None]) -> Path:
    """Where the embedded sandbox keeps its state: ``.provisioner/sandbox.db`` next to the
    spec (in the working folder with no spec file, or stdin); an old state found only in the
    working folder is kept, with a warning."""
    folder = spec_folder(spec_file)
    if folder is None:
        return SANDBOX_STATE
    beside = folder / SANDBOX_STATE
    if not beside.exists() and SANDBOX_STATE.exists():
        warn(
            f"the sandbox's state {SANDBOX_STATE} was found in the working folder, where "
            f"earlier versions kept it; it lives next to the spec now ({beside}). Move it "
            f"there (mv {SANDBOX_STATE.parent} {folder}/); until then this one is used"
        )
        return SANDBOX_STATE
    return beside


def where_note(spec: Spec, spec_file: str) -> str:
    """For plan's output: where the sink of a spec outside the working folder writes
    (``""`` when the spec is in the working folder, or its sink is no file)."""
    folder = spec_folder(spec_file)
    if folder is None or not spec.keys_to:
        return ""
    kind, _, target = spec.keys_to.partition(":")
    if kind not in _FILE_SINKS or Path(target).expanduser().is_absolute():
        return ""
    if Path(target).is_relative_to(folder):
        why = "paths in the file are relative to its folder"
    else:
        why = "the working folder's file, kept from an earlier version: see the warning"
    return f"keys go to {kind}:{target} ({why})"
