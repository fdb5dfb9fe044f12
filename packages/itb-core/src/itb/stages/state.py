"""Stage keys and the state of the last successful run of each stage (``state/<stage>.json``).

A key covers the code the stage runs: the ``itb`` modules its module imports, directly or through
others (found statically, without importing anything), plus its ``code_packages``. Editing the CLI,
the runner, the download client or the README therefore reruns nothing; editing a generator reruns
features, labels and signals, and the rest only if their inputs change.

The state file is written after the outputs, so a stage killed half-way never looks up to date.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import itb
from itb.config.models import PipelineConfig
from itb.stages.base import Stage
from itb.storage.store import Storage

#: The folder of the ``itb`` package whose modules stage keys hash.
ITB_ROOT = Path(itb.__file__).parent


def module_file(name: str, root: Path = ITB_ROOT) -> Path | None:
    """The source file of module ``itb.<...>`` under ``root`` (a package's ``__init__.py``), or None."""
    parts = name.split(".")
    if parts[0] != "itb":
        return None
    base = root.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


#: A line that starts an import statement, with its parenthesised or backslash-continued rest.
_IMPORT_LINE = re.compile(
    r"^[ \t]*(?:from[ \t]+[\w.]+[ \t]+import[ \t]*(?:\([^)]*\)|(?:[^\n]*\\\n)*[^\n]*)"
    r"|import[ \t]+(?:[^\n]*\\\n)*[^\n]*)",
    re.MULTILINE,
)


def import_statements(source: str) -> Iterator[ast.Import | ast.ImportFrom]:
    """The import statements of a module's source that run, at any depth (top level, in functions;
    not in an ``if TYPE_CHECKING:`` block, which never runs).

    Every import statement starts a line, so the lines that may start one are found first and only
    they are parsed by ``ast``: parsing whole modules costs ~5 ms each, and a stage process computes
    its key at start-up. A docstring line that happens to read like an import can only add a module
    to the closure (a key that changes a little more often), never drop one; a line that is not a
    statement fails to parse and is skipped. (Not seen: an import after ``;`` or ``:`` on one line.)
    """
    for match in _IMPORT_LINE.finditer(_without_type_checking_blocks(source)):
        try:
            tree = ast.parse(match.group(0).strip())
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.Import | ast.ImportFrom):
                yield node


#: ``if TYPE_CHECKING:`` / ``if typing.TYPE_CHECKING:`` on a line of its own.
_TYPE_CHECKING_IF = re.compile(r"^([ \t]*)if[ \t]+(?:typing\.)?TYPE_CHECKING[ \t]*:[ \t]*(?:#.*)?$")


def _without_type_checking_blocks(source: str) -> str:
    """``source`` with the bodies of ``if TYPE_CHECKING:`` blocks blanked (imports for type checkers
    only: a change there cannot change what a stage computes). An ``else:`` of such a block stays."""
    lines = source.splitlines()
    kept: list[str] = []
    block_indent: int | None = None
    for line in lines:
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if block_indent is not None:
            if not stripped or indent > block_indent:
                kept.append("")
                continue
            block_indent = None
        found = _TYPE_CHECKING_IF.match(line)
        if found:
            block_indent = len(found.group(1))
            kept.append("")
            continue
        kept.append(line)
    return "\n".join(kept)


@cache
def _imports(name: str, root: Path) -> frozenset[str]:
    """The ``itb`` modules that the source of module ``name`` imports where it runs (not under ``if
    TYPE_CHECKING:``): ``from itb.a import b``
    yields ``itb.a.b`` when ``b`` is a module, else ``itb.a``.

    ``itb`` itself (``itb/__init__.py``) is never followed: it only re-exports lazily, and following
    its lazy imports would make every stage depend on the runner. Its version is hashed instead.
    """
    path = module_file(name, root)
    if path is None:
        return frozenset()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in import_statements(path.read_text(encoding="utf-8")):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
            continue
        if node.level:
            base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            module = f"{base}.{node.module}" if node.module else base
        else:
            module = node.module or ""
        for alias in node.names:
            submodule = f"{module}.{alias.name}"
            found.add(submodule if module_file(submodule, root) is not None else module)
    return frozenset(m for m in found if m.startswith("itb.") and module_file(m, root) is not None)


@cache
def module_closure(name: str, root: Path = ITB_ROOT) -> frozenset[str]:
    """``name`` and every ``itb`` module it imports, directly or through others (static, via ``ast``).

    Importing ``itb.a.b`` runs ``itb/a/__init__.py`` too, but a package's ``__init__`` holds no logic
    a stage runs (``itb.stages`` imports no stage), so only modules named by an import are followed.
    """
    seen: set[str] = set()
    stack = [name]
    while stack:
        current = stack.pop()
        if current in seen or module_file(current, root) is None:
            continue
        seen.add(current)
        stack.extend(_imports(current, root) - seen)
    return frozenset(seen)


def package_modules(package: str, root: Path = ITB_ROOT) -> set[str]:
    """Every module of an ``itb`` package (its files, recursively)."""
    folder = root.joinpath(*package.split(".")[1:])
    return {
        ".".join(["itb", *path.relative_to(root).with_suffix("").parts]).removesuffix(".__init__")
        for path in folder.rglob("*.py")
        if "__pycache__" not in path.parts
    }


def code_fingerprint(modules: Iterable[str], root: Path = ITB_ROOT) -> str:
    """itb's version plus a hash of the given modules' sources (names and bytes, in name order)."""
    digest = hashlib.sha256(itb.__version__.encode())
    for name in sorted(set(modules)):
        path = module_file(name, root)
        if path is not None:
            digest.update(f"\0{name}\0".encode())
            digest.update(path.read_bytes())
    return f"{itb.__version__}+{digest.hexdigest()[:12]}"


def stage_modules(stage: type[Stage], root: Path = ITB_ROOT) -> set[str]:
    """The modules a stage runs: its own module's import closure plus its ``code_packages`` whole
    (generators are found by name at run time, so no import names them)."""
    modules = set(module_closure(stage.__module__, root))
    for package in stage.code_packages:
        for module in package_modules(package, root):
            modules |= module_closure(module, root)
    return modules


@cache
def code_version(stage: type[Stage], root: Path = ITB_ROOT) -> str:
    """What a stage's key records of its code: a change to a module the stage runs reruns it, a change
    to the CLI, the runner or the download client (for any other stage) does not."""
    return code_fingerprint(stage_modules(stage, root), root)


def state_name(stage: str) -> str:
    return f"state/{stage}.json"


def read_state(storage: Storage, stage: str) -> dict[str, Any] | None:
    try:
        value = storage.read_json(state_name(stage))
    except (FileNotFoundError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def stage_inputs(stage: Stage, storage: Storage) -> dict[str, dict[str, Any]]:
    """The outputs of the stages this one depends on, as recorded in their state."""
    inputs: dict[str, dict[str, Any]] = {}
    for dep in stage.deps:
        state = read_state(storage, dep) or {}
        inputs.update(state.get("outputs", {}))
    return inputs


def key_of(stage: Stage, config: PipelineConfig, **more: Any) -> str:
    """The hash of what a stage's result depends on: its version, code and config section, plus
    ``more`` (:func:`stage_key`: its inputs and external fingerprints)."""
    payload = {
        "stage": stage.name,
        "version": stage.version,
        "code": code_version(type(stage)),
        "config": stage.config_section(config),
        **more,
    }
    return "sha256:" + hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def stage_key(stage: Stage, config: PipelineConfig, storage: Storage) -> str:
    inputs = {k: v.get("fingerprint") for k, v in sorted(stage_inputs(stage, storage).items())}
    return key_of(stage, config, inputs=inputs, external=stage.external_fingerprints(config))


def up_to_date(stage: Stage, config: PipelineConfig, storage: Storage) -> tuple[bool, str, str]:
    """``(is_up_to_date, key, reason)``: the key matches and every recorded output is still there."""
    key = stage_key(stage, config, storage)
    state = read_state(storage, stage.name)
    if state is None:
        return False, key, "never ran"
    reason = "up to date"
    if state.get("key") != key:
        kept = stage.still_current(config, storage, state)
        if kept is None:
            return False, key, "inputs, config or code changed"
        reason = kept
    for name, info in state.get("outputs", {}).items():
        if storage.size(name) != info.get("size"):
            return False, key, f"output {name} missing or changed"
    return True, key, reason
