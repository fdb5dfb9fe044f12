"""The README's library example runs as written; plugin listing and CLI basics."""

from __future__ import annotations

import re

import pytest

from tests.conftest import REPO, itb


def test_readme_library_example_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    text = (REPO / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    assert blocks, "README has no python example"
    namespace: dict[str, object] = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    result = namespace["result"]
    assert result.ok  # type: ignore[attr-defined]
    assert namespace["slopes"].columns == ["close_LINEARREG_SLOPE_15"]  # type: ignore[attr-defined]


def test_plugins_lists_backends_with_versions() -> None:
    result = itb("plugins")
    assert result.returncode == 0, result.stderr
    for expected in ("local", "inprocess", "itb-local", "0.1.0"):
        assert expected in result.stdout


def test_unknown_backend_is_a_clear_error(tmp_path: object) -> None:
    result = itb("run", "configs/btcusdt-1m.jsonc", "--backend", "nope", "--dry-run")
    assert result.returncode == 2
    assert "unknown backend 'nope'" in result.stderr and "local" in result.stderr


def test_version_and_help() -> None:
    assert itb("--version").stdout.startswith("itb ")
    assert "run" in itb("--help").stdout
