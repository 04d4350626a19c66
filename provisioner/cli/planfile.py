"""The saved plan's file: ``plan --out PLAN`` writes it, ``apply PLAN`` reads it.

The shell's side of :mod:`provisioner.plan.saved` (which turns a plan into its
document and back), as terraform keeps ``plans/planfile`` next to the plan. Every
problem is a :class:`~provisioner.plan.saved.SavedPlanError` naming the file.
"""

from __future__ import annotations

from pathlib import Path

from provisioner.keystore.atomic import atomic_write
from provisioner.plan import saved
from provisioner.plan.saved import SavedPlan, SavedPlanError


def save(path: str | Path, text: str) -> None:
    """Write a saved plan's ``text`` (:func:`provisioner.plan.saved.dumps`) to ``path`` in one
    step: a crash leaves the old file or the new."""
    target = Path(path)
    check_target(target)
    try:
        atomic_write(target, text, private=False)
    except OSError as exc:
        raise SavedPlanError(
            f"--out {target}: cannot write the plan ({exc.strerror or exc})", exit_code=1
        ) from None


def check_target(target: Path) -> None:
    """A plan file can be written at ``target``, or a :class:`SavedPlanError` (64) says why."""
    if target.is_dir():
        raise SavedPlanError(
            f"--out {target}: is a directory; name a file, e.g. {target / 'plan.json'}"
        )
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        what = "is not a directory" if parent.exists() else "does not exist"
        raise SavedPlanError(
            f"--out {target}: the folder {parent} {what}; create it first or save elsewhere"
        )


def load(path: str | Path) -> SavedPlan:
    """Read a plan saved by :func:`save`; a :class:`SavedPlanError` (64) says what is wrong."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SavedPlanError(f"{path}: no such plan file") from None
    except IsADirectoryError:
        raise SavedPlanError(f"{path}: is a directory, not a saved plan") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SavedPlanError(f"{path}: not a saved plan ({exc})") from None
    return saved.loads(text, str(path))
