"""The promotion step: judge a candidate slot against the live models and switch when the rule holds.

I/O at the edges: read today's training table and both model sets, compute both sets' figures
(:mod:`itb.promotion.evaluate`), apply the rule (:mod:`itb.promotion.rule`), switch
(:mod:`itb.promotion.switch`). The caller holds the data root's run lock (the promote stage runs
inside ``itb run``; ``itb promote`` takes the lock itself).
"""

from __future__ import annotations

from itb import datasets
from itb.config.models import PipelineConfig
from itb.errors import DataError
from itb.models.modelset import FeatureMismatch, ModelSet
from itb.promotion.evaluate import holdout_of, set_figures
from itb.promotion.records import PromotionDecision
from itb.promotion.rule import failed_conditions
from itb.promotion.slot import model_set_files, model_set_names, prune_slots, slot_prefix, slot_storage
from itb.promotion.switch import roll_back, switch_models
from itb.runs.ids import utc_now
from itb.stages.tables import read_training_table
from itb.storage.store import Storage


def promote_candidate(
    config: PipelineConfig, storage: Storage, run_id: str, threads: int = 1
) -> PromotionDecision:
    """Decide on the candidate of run ``run_id`` and, when it passes, make it the live model set;
    then delete the candidate slots and replaced sets past ``promotion.keep_slots``."""
    decision = _decide(config, storage, run_id, threads)
    decision.pruned = prune_slots(storage, config.promotion.keep_slots, run_id)
    return decision


def _decide(config: PipelineConfig, storage: Storage, run_id: str, threads: int) -> PromotionDecision:
    rolled = roll_back(storage)  # a killed switch first returns to the old set
    files = model_set_files(config)
    candidate = slot_storage(storage, run_id)
    absent = [f for f in files if not candidate.exists(f)]
    if absent:
        raise DataError(
            f"promote: the candidate slot {slot_prefix(run_id)} has no {absent[0]}: train it with "
            "`itb run CONFIG --candidate` first"
        )
    table = read_training_table(config, storage)
    close = storage.read_parquet(datasets.MERGED, columns=["close"])["close"]
    names = model_set_names(config)
    decision = PromotionDecision(
        candidate_run=run_id,
        promoted=False,
        rule=config.promotion.model_dump(exclude={"candidate", "keep_slots"}),
        holdout=holdout_of(table),
        decided_at=utc_now(),
    )
    if rolled is not None:
        decision.reasons.append(f"rolled back the unfinished switch of run {rolled.run_id} first")
    try:
        decision.candidate = set_figures(config, table, close, ModelSet.load(candidate, names), threads)
    except FeatureMismatch as exc:
        decision.reasons.append(f"the candidate does not fit today's features: {exc}")
        return decision
    if not all(storage.exists(f) for f in files):
        decision.reasons.append("no live models yet: the candidate becomes the first")
    else:
        try:
            decision.current = set_figures(config, table, close, ModelSet.load(storage, names), threads)
        except FeatureMismatch as exc:  # today's features are not the live models': they are stale
            decision.reasons.append(f"the live models do not fit today's features ({exc}): replaced")
    if decision.current is not None:
        failed = failed_conditions(config.promotion, decision.current, decision.candidate)
        decision.reasons += failed or ["every rule holds"]
        if failed:
            return decision
    switch_models(storage, candidate, files, run_id)
    decision.promoted = True
    return decision
