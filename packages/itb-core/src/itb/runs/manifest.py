"""The run manifest: ``<data_root>/runs/<run_id>/manifest.json``, rewritten atomically as a run goes.

It records what ran, on which backend and code, with which inputs and outputs (fingerprints, rows),
how long each stage took and why one failed. It never holds secret values: the config is stored
with secret references only (the config model rejects anything else).
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from itb.config.models import PipelineConfig
from itb.storage.store import Storage

TRACKED_PACKAGES = ("itb-core", "itb-local", "itb-azure", "polars", "pyarrow", "numpy", "lightgbm",
                    "pydantic", "fsspec")  # fmt: skip


def list_runs(storage: Storage) -> list[dict[str, Any]]:
    """Every run's manifest under a data root, oldest first (by creation time, which is finer
    than the second-resolution timestamp in run ids)."""
    names = {p.split("/")[1] for p in storage.list("runs") if p.endswith("/manifest.json")}
    manifests = [storage.read_json(f"runs/{name}/manifest.json") for name in names]
    return sorted(manifests, key=lambda m: (m.get("created_at") or "", m.get("run_id") or ""))


def config_hash(config: PipelineConfig) -> str:
    text = json.dumps(config.model_dump(mode="json"), sort_keys=True)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def package_versions() -> dict[str, str]:
    versions = {"python": sys.version.split()[0]}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            continue
    return versions


def new_manifest(
    run_id: str, config: PipelineConfig, backend: str, data_root: str, source: str | None, created_at: str
) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "status": "running",
        "created_at": created_at,
        "finished_at": None,
        "config_source": source,
        "config_hash": config_hash(config),
        "backend": backend,
        "data_root": data_root,
        "machine": {"platform": platform.platform(), "processor": platform.machine()},
        "versions": package_versions(),
        "stages": {},
    }
