"""The exception trees drawn in provisioner/errors.py and newapi/errors.py are the real ones.

Each drawn line names a class, its exit code and (by indentation) its parent; every
:class:`ProvisionerError` subclass in the package is drawn in one of them, and every
error a module defines is in its ``__all__``.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import pytest

import provisioner
from provisioner import errors
from provisioner.errors import ProvisionerError
from provisioner.newapi import errors as newapi_errors

_LINE = re.compile(r"^(?P<indent>[ │├└─]*)(?P<name>[A-Z]\w+) \((?P<code>\d+)\)")


def _classes() -> dict[str, type[ProvisionerError]]:
    found: dict[str, type[ProvisionerError]] = {}
    for info in pkgutil.walk_packages(provisioner.__path__, "provisioner."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, ProvisionerError)
                and value.__module__ == info.name
            ):
                found[name] = value
    return found


def _drawn(doc: str) -> list[tuple[str, int, str | None]]:
    """(class, exit code, parent) for each line of the drawing in ``doc``."""
    rows: list[tuple[str, int, str | None]] = []
    stack: list[tuple[int, str]] = []  # (depth, name) of the open ancestors
    for line in doc.splitlines():
        match = _LINE.match(line.strip("\n")[4:] if line.startswith("    ") else "")
        if not match:
            continue
        depth = len(match["indent"])
        while stack and stack[-1][0] >= depth:
            stack.pop()
        rows.append((match["name"], int(match["code"]), stack[-1][1] if stack else None))
        stack.append((depth, match["name"]))
    return rows


CLASSES = _classes()


@pytest.mark.parametrize("module", [errors, newapi_errors], ids=lambda m: m.__name__)
def test_the_drawing_is_the_tree(module: object) -> None:
    rows = _drawn(module.__doc__ or "")
    assert rows, "no tree drawn"
    for name, code, parent in rows:
        cls = CLASSES[name]
        assert int(cls.exit_code) == code, name
        if parent is not None:
            assert cls.__bases__[0] is CLASSES[parent], f"{name} is drawn under {parent}"


def test_every_error_of_the_package_is_drawn() -> None:
    drawings = (errors.__doc__ or "") + (newapi_errors.__doc__ or "")
    assert {name for name, _, _ in _drawn(drawings)} == set(CLASSES)


@pytest.mark.parametrize("module", [errors, newapi_errors], ids=lambda m: m.__name__)
def test_every_error_a_module_defines_is_exported(module: object) -> None:
    defined = {
        name
        for name, value in vars(module).items()
        if inspect.isclass(value) and value.__module__ == module.__name__  # type: ignore[attr-defined]
    }
    assert defined == set(module.__all__)  # type: ignore[attr-defined]
