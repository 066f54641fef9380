"""The tree's shape: no import cycle inside audiollm/, and every config under configs/ loads and validates."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "audiollm"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Each audiollm module -> the audiollm modules it imports anywhere in its body (lazy imports included: a
    function-level import still runs, and a cycle through it still couples the two files)."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = package.split(".")
                if node.level:
                    base = base[: len(base) - node.level + 1]
                source = ".".join([*base, node.module] if node.module else base) if node.level else node.module or ""
                submodules = {f"{source}.{alias.name}" for alias in node.names} & modules.keys()
                # ``from pkg import submodule`` reads the submodule, not what pkg/__init__ defines.
                targets.update(submodules if len(submodules) == len(node.names) else {source, *submodules})
        graph[name] = {t for target in targets for t in with_parents(target, name) if t in modules and t != name}
    return graph


def with_parents(target: str, importer: str) -> list[str]:
    """``target`` and the packages above it that Python initialises first (those not already above ``importer``)."""
    parts = target.split(".")
    return [p for p in (".".join(parts[:i]) for i in range(1, len(parts) + 1))
            if not (importer == p or importer.startswith(p + "."))]


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as the list of modules around it (first repeated at the end), or None."""
    done: set[str] = set()

    def visit(node: str, trail: list[str]) -> list[str] | None:
        if node in trail:
            return trail[trail.index(node):] + [node]
        if node in done:
            return None
        for target in sorted(graph[node]):
            if cycle := visit(target, [*trail, node]):
                return cycle
        done.add(node)
        return None

    for start in sorted(graph):
        if cycle := visit(start, []):
            return cycle
    return None


def test_no_import_cycle_in_the_library():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])
