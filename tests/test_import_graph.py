"""No import cycles among itb's modules, counting every import (function-level ones too).

An import inside a function only hides a cycle: the modules still depend on each other, and which
one loads first decides whether the program works. This test reads the source of itb, itb_local
and itb_azure with :mod:`ast`, so it sees every ``import`` wherever it sits, and fails with one
cycle spelled out module by module. Only imports under ``if TYPE_CHECKING:`` are left out: they
never run. Plugins are found by name (entry points, ``INTERNAL_PLUGINS``), not imported: that is
the plugin boundary, where the dependency points from the plugin to the core.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.source_tree import project_modules


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _is_type_checking(node: ast.AST) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement in ``tree`` (any depth), except in ``if TYPE_CHECKING:`` bodies."""
    found: list[ast.Import | ast.ImportFrom] = []
    pending: list[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        elif _is_type_checking(node):
            pending.extend(node.orelse)  # type: ignore[attr-defined]
            continue
        pending.extend(ast.iter_child_nodes(node))
    return found


def imported_names(module: str, path: Path) -> set[str]:
    """Every dotted name ``module`` imports anywhere in its source, relative imports resolved.

    ``from pkg import name`` yields both ``pkg`` and ``pkg.name`` (the latter counts when ``name``
    is a submodule); importing ``a.b.c`` also imports its parents ``a`` and ``a.b``.
    """
    package = module if _is_package(path) else module.rpartition(".")[0]
    found: set[str] = set()
    for node in _import_nodes(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join([*base_parts, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    with_parents = set(found)
    for name in found:
        parts = name.split(".")
        with_parents.update(".".join(parts[:i]) for i in range(1, len(parts)))
    return with_parents


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets = {name for name in imported_names(module, path) if name in modules}
        # A module's own package is loaded before it (Python does that, not this module's code).
        graph[module] = {t for t in targets if t != module and not module.startswith(t + ".")}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a list of modules (first == last), or None: iterative depth-first search."""
    state: dict[str, int] = {}  # 1 on the current path, 2 finished
    for start in sorted(graph):
        if state.get(start):
            continue
        path: list[str] = [start]
        stack = [iter(sorted(graph[start]))]
        state[start] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
                continue
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph[nxt])))
    return None


def test_the_graph_sees_function_level_and_relative_imports(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    mod = pkg / "mod.py"
    mod.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    import pkg.types_only\n"
        "def f():\n    from . import sub\n    import pkg.other.deep\n    from .x import y\n"
    )
    names = imported_names("pkg.mod", mod)
    assert {"pkg.sub", "pkg.other.deep", "pkg.other", "pkg.x", "pkg.x.y"} <= names
    assert "pkg.types_only" not in names


def test_find_cycle_reports_the_loop() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles_among_project_modules() -> None:
    graph = import_graph()
    assert "itb.runs.execute" in graph and "itb_local.plugin" in graph  # the walk found the packages
    cycle = find_cycle(graph)
    if cycle:
        pytest.fail("import cycle: " + " -> ".join(cycle))
