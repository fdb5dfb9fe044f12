"""``itb promote CONFIG [--run RUN_ID]``: the promote stage's gate outside a run, for a candidate an
earlier ``itb run --candidate`` trained (say one whose promote stage failed, or after changing the
rule). Holds the data root's run lock like a run does, and records the decision in the candidate
run's manifest (``promotion``)."""

from __future__ import annotations

from itb.config.models import PipelineConfig
from itb.errors import ConfigError
from itb.promotion.gate import promote_candidate
from itb.promotion.notify import notify_decision
from itb.promotion.records import PromotionDecision
from itb.promotion.slot import CANDIDATES_FOLDER, candidate_runs
from itb.runs.lock import RunLock
from itb.runs.manifest import read_manifest, write_manifest
from itb.runs.runner import resolve_data_root
from itb.storage.store import Storage
from itb.storage.url import check_data_root


def promote_command(
    config: PipelineConfig, data_root: str | None, run_id: str | None, break_lock: bool = False
) -> PromotionDecision:
    if config.symbols:
        raise ConfigError(
            "itb promote: a multi-symbol config has one data root per symbol; pass --data-root "
            "<data_root>/<SYMBOL> with a config for that symbol, or let `itb run --candidate` promote"
        )
    root = resolve_data_root(config, data_root)
    check_data_root(root)
    config = config.model_copy(update={"data_root": root})
    storage = Storage(root)
    if run_id is None:
        runs = candidate_runs(storage)
        if not runs:
            where = storage.url(CANDIDATES_FOLDER)
            raise ConfigError(f"no candidate under {where}: run `itb run CONFIG --candidate` first")
        run_id = runs[-1]
    lock = RunLock.acquire(
        storage, run_id, break_lock=break_lock, stale_after_s=config.backend.lock_stale_after_s
    )
    with lock:
        decision = promote_candidate(config, storage, run_id)
        try:
            manifest = read_manifest(storage, run_id)
        except FileNotFoundError:
            manifest = None
        if manifest is not None:
            manifest.promotion = decision
            write_manifest(storage, manifest)
    notify_decision(config, storage, decision)
    return decision
