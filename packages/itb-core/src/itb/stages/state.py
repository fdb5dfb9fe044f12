"""Stage keys and the state of the last successful run of each stage (``state/<stage>.json``).

The state file is written after the outputs, so a stage killed half-way never looks up to date.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from importlib import resources
from typing import Any

from itb import __version__
from itb.config.models import PipelineConfig
from itb.stages.base import Stage
from itb.storage.store import Storage


@cache
def code_version() -> str:
    """itb's version plus a hash of its source, so that a code change reruns what it may affect."""
    digest = hashlib.sha256(__version__.encode())
    root = resources.files("itb")
    stack = [root]
    files = []
    while stack:
        folder = stack.pop()
        for entry in folder.iterdir():
            if entry.is_dir() and entry.name != "__pycache__":
                stack.append(entry)
            elif entry.name.endswith(".py"):
                files.append(entry)
    for entry in sorted(files, key=lambda e: str(e)):
        digest.update(entry.read_bytes())
    return f"{__version__}+{digest.hexdigest()[:12]}"


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


def stage_key(stage: Stage, config: PipelineConfig, storage: Storage) -> str:
    payload = {
        "stage": stage.name,
        "version": stage.version,
        "code": code_version(),
        "config": stage.config_section(config),
        "inputs": {k: v.get("fingerprint") for k, v in sorted(stage_inputs(stage, storage).items())},
        "external": stage.external_fingerprints(config),
    }
    return "sha256:" + hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def up_to_date(stage: Stage, config: PipelineConfig, storage: Storage) -> tuple[bool, str, str]:
    """``(is_up_to_date, key, reason)``: the key matches and every recorded output is still there."""
    key = stage_key(stage, config, storage)
    state = read_state(storage, stage.name)
    if state is None:
        return False, key, "never ran"
    if state.get("key") != key:
        return False, key, "inputs, config or code changed"
    for name, info in state.get("outputs", {}).items():
        if storage.size(name) != info.get("size"):
            return False, key, f"output {name} missing or changed"
    return True, key, "up to date"
