"""Library calls change nothing process-wide: the few places that do are named here, and they are
entry points (the ``itb stage run`` command, the fork server), never code a library caller runs.

Read from the source with :mod:`ast`, like the import-graph test, so a new occurrence anywhere in
itb, itb_local or itb_azure fails with its module.
"""

from __future__ import annotations

import ast
from collections.abc import Callable

from tests.source_tree import project_modules

Match = Callable[[ast.AST], bool]


def _occurrences(match: Match) -> dict[str, list[int]]:
    """Module -> line numbers of the nodes ``match`` accepts."""
    found: dict[str, list[int]] = {}
    for module, path in project_modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if match(node):
                found.setdefault(module, []).append(getattr(node, "lineno", 0))
    return found


def _is_sys_modules_store(node: ast.AST) -> bool:
    return isinstance(node, ast.Assign) and any(
        isinstance(t, ast.Subscript) and ast.unparse(t.value) == "sys.modules" for t in node.targets
    )


def _calls(name: str) -> Match:
    def match(node: ast.AST) -> bool:
        func = node.func if isinstance(node, ast.Call) else None
        return (isinstance(func, ast.Name) and func.id == name) or (
            isinstance(func, ast.Attribute) and func.attr == name
        )

    return match


def test_sys_modules_is_rewritten_only_by_the_fork_server() -> None:
    assert set(_occurrences(_is_sys_modules_store)) == {"itb_local.zygote"}


def test_malloc_is_tuned_only_on_the_stage_command_path() -> None:
    assert set(_occurrences(_calls("mallopt"))) == {"itb.cli.process"}
    assert set(_occurrences(_calls("tune_malloc"))) == {"itb.cli.main"}


def test_no_test_hooks_in_production_code() -> None:
    sources = {m: p.read_text(encoding="utf-8") for m, p in project_modules().items()}
    assert [m for m, text in sources.items() if "ITB_FAULT" in text or "ITB_TEST_" in text] == []


def test_the_checks_see_a_planted_occurrence() -> None:
    tree = ast.parse("import sys\nsys.modules['x'] = None\nlibc.mallopt(1, 2)\nx = {}\nx['a'] = 1\n")
    assert len([n for n in ast.walk(tree) if _is_sys_modules_store(n)]) == 1
    assert len([n for n in ast.walk(tree) if _calls("mallopt")(n)]) == 1
