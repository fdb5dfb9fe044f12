"""Honest stage keys: a stage's key covers the code it runs (its import closure and its generator
packages), not the CLI or the runner; remote sources are fingerprinted from their metadata and a user
function by its whole module."""

from __future__ import annotations

import ast
import hashlib
import shutil
import sys
import textwrap
from collections import Counter
from pathlib import Path

import fsspec
import pytest
from itb.stages.base import Stage
from itb.stages.features import FeaturesStage
from itb.stages.labels import LabelsStage
from itb.stages.merge import MergeStage
from itb.stages.simulate import SimulateStage
from itb.stages.state import ITB_ROOT, code_version, import_statements, stage_modules
from itb.stages.train import TrainStage
from itb.storage.sources import metadata_fingerprint, source_fingerprint

STAGES: list[type[Stage]] = [MergeStage, FeaturesStage, LabelsStage, TrainStage, SimulateStage]


def copy_of_itb(tmp_path: Path, name: str) -> Path:
    """A copy of the ``itb`` package sources to edit (the stage keys are computed over a root)."""
    root = tmp_path / name / "itb"
    shutil.copytree(ITB_ROOT, root, ignore=shutil.ignore_patterns("__pycache__", "*.parquet"))
    return root


def keys(root: Path) -> dict[str, str]:
    return {stage.name: code_version(stage, root) for stage in STAGES}


def touch(path: Path, line: str = "# touched\n") -> None:
    path.write_text(path.read_text() + line)


def test_the_cli_and_runner_are_no_stage_code(tmp_path: Path) -> None:
    original = keys(copy_of_itb(tmp_path, "original"))
    edited = copy_of_itb(tmp_path, "cli")
    touch(edited / "cli" / "main.py")
    touch(edited / "runs" / "runner.py")
    (edited / "README.md").write_text("docs change\n")
    assert keys(edited) == original
    for stage in STAGES:
        assert not {m for m in stage_modules(stage) if m.startswith(("itb.cli", "itb.runs"))}, stage.name


def test_a_generator_change_reruns_the_stages_that_run_generators(tmp_path: Path) -> None:
    original = keys(copy_of_itb(tmp_path, "original"))
    edited = copy_of_itb(tmp_path, "generator")
    touch(edited / "generators" / "talib_features.py")
    changed = keys(edited)
    assert changed["features"] != original["features"] and changed["labels"] != original["labels"]
    assert changed["merge"] == original["merge"] and changed["train"] == original["train"]


def test_a_module_in_the_import_closure_changes_only_its_stages(tmp_path: Path) -> None:
    original = keys(copy_of_itb(tmp_path, "original"))
    edited = copy_of_itb(tmp_path, "merge")
    touch(edited / "compute" / "merge.py")
    changed = keys(edited)
    assert {name for name in original if changed[name] != original[name]} == {"merge"}
    edited = copy_of_itb(tmp_path, "fills")
    touch(edited / "backtest" / "fills.py")  # imported by backtest.vectorised, imported by simulate
    changed = keys(edited)
    assert {name for name in original if changed[name] != original[name]} == {"simulate"}


def test_remote_sources_are_fingerprinted_from_metadata() -> None:
    fs = fsspec.filesystem("memory")
    fs.pipe("/keys-test/k.parquet", b"first")
    url = "memory://keys-test/k.parquet"
    first = source_fingerprint(url)
    assert first.startswith("meta:") and source_fingerprint(url) == first
    fs.pipe("/keys-test/k.parquet", b"second version")
    assert source_fingerprint(url) != first
    fs.rm("/keys-test", recursive=True)


def test_metadata_fingerprint_prefers_content_hashes() -> None:
    blob = {
        "size": 10,
        "last_modified": "2024-01-01",
        "etag": "0x1",
        "content_settings": {"content_md5": bytearray(b"\x01\x02")},
    }
    rewritten = {**blob, "last_modified": "2025-01-01", "etag": "0x2"}  # the same bytes keep their MD5
    assert metadata_fingerprint(blob) == metadata_fingerprint(rewritten)
    changed = {**blob, "content_settings": {"content_md5": bytearray(b"\x01\x03")}}
    assert metadata_fingerprint(changed) != metadata_fingerprint(blob)
    assert metadata_fingerprint({"size": 10, "ETag": '"abc"'}) != metadata_fingerprint(
        {"size": 10, "ETag": '"abd"'}
    )
    assert metadata_fingerprint({"size": 10, "mtime": 1.0}) != metadata_fingerprint(
        {"size": 10, "mtime": 2.0}
    )
    assert metadata_fingerprint({"size": 10}) is None  # nothing to tell versions apart: hash the bytes


def test_a_user_function_is_fingerprinted_by_its_whole_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from itb.generators.user import source_fingerprint as user_fingerprint

    module = tmp_path / "h2_userfeat.py"
    module.write_text(
        textwrap.dedent(
            """
            SCALE = 2.0

            def helper(x):
                return x * SCALE

            def feature(df, config):
                return helper(df)
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "h2_userfeat", raising=False)
    first = user_fingerprint("h2_userfeat:feature")
    assert first == "sha256:" + hashlib.sha256(module.read_text().encode()).hexdigest()
    module.write_text(module.read_text().replace("SCALE = 2.0", "SCALE = 3.0"))  # the function is unchanged
    assert user_fingerprint("h2_userfeat:feature") != first


def _runtime_imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement of a parsed module outside ``if TYPE_CHECKING:`` bodies (full walk)."""
    found: list[ast.Import | ast.ImportFrom] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
        else:
            stack.extend(ast.iter_child_nodes(node))
    return found


def test_import_scan_finds_what_a_full_parse_finds() -> None:
    """Oracle: ``ast`` over the whole parsed module (imports that run: not under ``if TYPE_CHECKING:``),
    for every module of itb. The scan may find more (an import written in a docstring), never less,
    and nothing from a ``TYPE_CHECKING`` block."""
    files = sorted(ITB_ROOT.rglob("*.py"))
    assert len(files) > 50
    type_only = 0
    for path in files:
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source)
        full = Counter(ast.unparse(n) for n in _runtime_imports(tree))
        every = Counter(ast.unparse(n) for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom))
        type_only += sum((every - full).values())
        scanned = Counter(ast.unparse(n) for n in import_statements(source))
        assert not full - scanned, path
        strings = " ".join(
            n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
        )
        assert all(extra in strings for extra in scanned - full), path
    assert type_only > 0  # the oracle did see TYPE_CHECKING imports, and the scan left them out
