"""Every nox session works under a plain `pipx install nox` (virtualenv, no uv backend)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TREE = ast.parse((ROOT / "noxfile.py").read_text())


def _constant(name: str) -> object:
    for node in TREE.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ):
            return ast.literal_eval(node.value)
    raise AssertionError(f"noxfile.py has no {name}")


def _default_backend() -> object:
    for node in TREE.body:
        if (
            isinstance(node, ast.Assign)
            and isinstance(target := node.targets[0], ast.Attribute)
            and target.attr == "default_venv_backend"
        ):
            value = node.value
            return _constant(value.id) if isinstance(value, ast.Name) else ast.literal_eval(value)
    raise AssertionError("noxfile.py sets no nox.options.default_venv_backend")


def _sessions() -> dict[str, object]:
    """Session name -> its venv_backend (None: the default)."""
    found: dict[str, object] = {}
    for node in TREE.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        for decorator in node.decorator_list:
            call = decorator if isinstance(decorator, ast.Call) else None
            target = call.func if call else decorator
            if isinstance(target, ast.Attribute) and target.attr == "session":
                kwargs = {k.arg: ast.literal_eval(k.value) for k in (call.keywords if call else [])}
                found[node.name] = kwargs.get("venv_backend")
    return found


def test_sessions_fall_back_to_virtualenv_when_uv_is_missing() -> None:
    assert _default_backend() == "uv|virtualenv"
    sessions = _sessions()
    assert {"tests", "lint", "typecheck", "slow"} <= set(sessions)
    for name, backend in sessions.items():
        assert backend is None or backend == "none" or str(backend).endswith("|virtualenv"), name


def test_sync_installs_the_pinned_uv_when_none_is_on_path() -> None:
    source = ast.get_source_segment((ROOT / "noxfile.py").read_text(), _function("_sync")) or ""
    assert 'shutil.which("uv")' in source and "session.install(UV)" in source
    assert _constant("UV") == "uv==" + _makefile_uv_version()


def _function(name: str) -> ast.FunctionDef:
    return next(n for n in TREE.body if isinstance(n, ast.FunctionDef) and n.name == name)


def _makefile_uv_version() -> str:
    for line in (ROOT / "Makefile").read_text().splitlines():
        if line.startswith("UV_VERSION ?="):
            return line.split("?=", 1)[1].strip()
    raise AssertionError("Makefile has no UV_VERSION")
