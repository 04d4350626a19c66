"""The tree shows the core and the shell apart, and nothing imports in a circle.

Core (pure: data in, data out): ``spec/``, ``plan/``, ``listing/``, ``keys/``,
``render/`` and the modules of shared vocabulary. Shell: ``cli/``, ``newapi/``,
``keystore/``, ``sandbox/``, ``execute/``, ``github/``. Arrows point from the shell to the
core only. The sandbox, a second implementation of the server, imports nothing but the
standard library and the exit codes. Imports inside functions count too: a cycle hidden
in a function is still a cycle. ARCHITECTURE.md draws the rooms.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "provisioner"
CORE_PACKAGES = ("spec", "plan", "listing", "keys", "render")
CORE_MODULES = (
    "observed",
    "secret",
    "errors",
    "exitcodes",
    "humanize",
    "report",
    "lease",
    "__init__",
)
SHELL_PACKAGES = ("cli", "newapi", "keystore", "sandbox", "execute", "github")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports(path: Path) -> set[str]:
    """Every provisioner module ``path`` imports, at any depth of the file."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("provisioner"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if not node.module.startswith("provisioner"):
                continue
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if candidate in MODULES else node.module)
    return found


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}
GRAPH = {name: {m for m in imports(path) if m in MODULES} for name, path in MODULES.items()}


def layer(name: str) -> str:
    parts = name.split(".")
    if len(parts) == 1:
        return "core"
    if parts[1] in CORE_PACKAGES or (len(parts) == 2 and parts[1] in CORE_MODULES):
        return "core"
    if parts[1] in SHELL_PACKAGES or parts[1] == "__main__":
        return "shell"
    raise AssertionError(f"{name} is in neither the core nor the shell: place it")


def test_every_module_has_a_layer() -> None:
    for name in MODULES:
        layer(name)


def test_no_core_module_imports_the_shell() -> None:
    wrong = sorted(
        f"{name} imports {target}"
        for name, targets in GRAPH.items()
        if layer(name) == "core"
        for target in targets
        if layer(target) == "shell"
    )
    assert wrong == []


def test_no_import_cycles() -> None:
    # A package's __init__ importing its own submodules is how packages work, not a cycle.
    def edges(name: str) -> set[str]:
        return {t for t in GRAPH[name] if not name or not t.startswith(name + ".")}

    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        path.append(name)
        for target in sorted(edges(name)):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target)
        path.pop()
        state[name] = 2

    for name in sorted(MODULES):
        if name not in state:
            visit(name)
    assert cycles == []


def _all_imports(path: Path) -> set[str]:
    """Every module ``path`` imports (any package), at any depth of the file."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.update(
                f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES else node.module
                for a in node.names
            )
    return found


def test_the_sandbox_imports_only_the_standard_library_and_the_exit_codes() -> None:
    """An honest second implementation of the server: nothing of the client, the plan or
    the tool's errors (docs/sandbox.md), and no third-party package."""
    allowed = {"provisioner.exitcodes"}
    wrong = sorted(
        f"{name} imports {target}"
        for name, path in MODULES.items()
        if name.startswith("provisioner.sandbox")
        for target in _all_imports(path)
        if not target.startswith("provisioner.sandbox")
        and target not in allowed
        and target.split(".")[0] not in sys.stdlib_module_names
    )
    assert wrong == []


def test_the_sandbox_rule_sees_a_forbidden_import() -> None:
    """The check above reads the same trees: a sandbox module that imported the client
    would be named."""
    found = _all_imports(PACKAGE / "cli" / "commands" / "sandbox.py")
    assert "provisioner.errors" in found and "provisioner.sandbox.options" in found
