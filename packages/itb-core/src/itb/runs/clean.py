"""``itb runs clean RUN_ID``: delete what a run left on its backend (a killed runner's container groups).

The backend is the run's own (its manifest names it), else ``--backend``, else the config's; its
options come from the config. What is deleted is printed; a run that neither has a manifest under
the data root nor left anything is unknown: exit 2, so a typo does not pass for a clean run.
"""

from __future__ import annotations

from itb.config import load_config
from itb.errors import ConfigError
from itb.plugins.manager import create_backend
from itb.runs.manifest import RunManifest, read_manifest
from itb.runs.runner import resolve_data_root
from itb.storage.store import Storage


def _manifest(data_root: str | None, run_id: str) -> RunManifest | None:
    if data_root is None:
        return None
    try:
        return read_manifest(Storage(data_root), run_id)
    except FileNotFoundError:
        return None


def clean_run(run_id: str, config_path: str | None, data_root: str | None, backend: str | None) -> int:
    """Delete ``run_id``'s leftovers on its backend and print each; the exit code."""
    config = load_config(config_path) if config_path else None
    root = data_root or (resolve_data_root(config, None) if config is not None else None)
    manifest = _manifest(root, run_id)
    name = backend or (manifest.backend if manifest is not None else None)
    name = name or (config.backend.name if config is not None else None)
    if name is None:
        raise ConfigError("itb runs clean: say which backend ran it (--backend) or pass its --config")
    options = config.backend.options.get(name) if config is not None else None
    engine, _ = create_backend(name, options)
    try:
        deleted = engine.clean_run(run_id)
    finally:
        engine.close()
    for item in deleted:
        print(f"deleted {item} ({name})")
    if deleted:
        print(f"run {run_id}: deleted {len(deleted)} leftover(s) on the {name} backend")
        return 0
    if manifest is None:
        where = f" under {root}" if root else ""
        raise ConfigError(
            f"unknown run {run_id!r}: no manifest{where} and nothing of it on the {name} backend"
        )
    print(f"run {run_id}: nothing left on the {name} backend")
    return 0
