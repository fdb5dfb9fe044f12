"""train: one model per label x algorithm (``gb`` LightGBM, ``lc`` logistic regression), saved with
metadata. Scores are later named ``<label>_<algorithm>``.

candidate: the same training into the run's candidate slot (``models/candidates/<run_id>/``, see
:mod:`itb.promotion.slot`) instead of the live models, when ``promotion.candidate`` is set
(``itb run --candidate``); the promote stage then decides whether it replaces them. In that mode
``train`` itself does not run, so a nightly run never writes live models past the gate.

Determinism: fixed seed, ``deterministic=True``, row-wise histograms and an explicit thread count
(default one thread per stage process: on small machines more threads than free cores is many times
slower, not faster).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from itb import datasets
from itb.compute.append import ChainEntry
from itb.compute.training import fit_label_models
from itb.config.models import PipelineConfig, span_ms
from itb.errors import DataError
from itb.models.modelset import HASH_KEY, feature_config_hash
from itb.models.trained import model_name
from itb.promotion.slot import model_set_files, model_set_names, slot_prefix, slot_storage
from itb.promotion.switch import forget_switch
from itb.stages.base import Stage, StageContext, StageResult
from itb.stages.incremental import basis_key, last_timestamp, not_grown_by_appends
from itb.stages.state import stage_inputs
from itb.stages.tables import read_training_table
from itb.storage.store import Storage, WriteResult
from itb.timefmt import iso_ms

#: What train's state records of the data the live models were trained on (``state/train.json``
#: ``trained``), for ``train.retrain_every``.
TRAINED_KEY = "trained"


class TrainedOn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: The stage key without its inputs (stage version, code, config section).
    basis: str
    #: ``(rows, fingerprint)`` of features and labels then.
    inputs: dict[str, ChainEntry]
    #: The timestamp of the last row then.
    data_end_ms: int


class TrainStage(Stage):
    name = "train"
    deps = ("features", "labels")
    version = 3  # 3: gb defaults are stumps (GB_DEFAULTS), so models trained by 2 are stale

    def applicable(self, config: PipelineConfig) -> bool:
        return not config.promotion.candidate

    def outputs(self, config: PipelineConfig) -> list[str]:
        return model_set_files(config)

    def config_section(self, config: PipelineConfig) -> Any:
        section = config.train.model_dump(mode="json")
        section.pop("threads", None)  # threads change speed, not the model
        section.pop("retrain_every", None)  # when to retrain, not what
        return section

    # With several models, each is one step (its own process or container, in parallel); the
    # finalize run only records the model files. One model trains in one run, as before.

    def steps(self, config: PipelineConfig, storage: Storage) -> list[str]:
        names = model_set_names(config)
        return names if len(names) > 1 else []

    def step_outputs(self, config: PipelineConfig, step: str) -> list[str]:
        return [
            f for f in self.outputs(config) if f in (datasets.model_text(step), datasets.model_meta(step))
        ]

    def run_step(self, ctx: StageContext, step: str) -> StageResult:
        return self._train(ctx, only=step, target=ctx.storage)

    def run(self, ctx: StageContext) -> StageResult:
        if not self.steps(ctx.config, ctx.storage):
            trained = self._train(ctx, only=None, target=ctx.storage)
            forget_switch(ctx.storage)  # the live set is new as a whole: a killed promotion is moot
            trained.state = self._trained_on(ctx)
            return trained
        forget_switch(ctx.storage)
        outputs = {}
        for name in self.outputs(ctx.config):
            size = ctx.storage.size(name)
            if size is None:
                raise DataError(f"train: {name} is missing; rerun the stage")
            outputs[name] = WriteResult(name, ctx.storage.fingerprint(name), size)
        metrics = {"models": len(self.steps(ctx.config, ctx.storage))}
        return StageResult(outputs, metrics=metrics, state=self._trained_on(ctx))

    def _trained_on(self, ctx: StageContext) -> dict[str, Any]:
        """The state entry that lets ``train.retrain_every`` keep these models (:meth:`still_current`)."""
        inputs = stage_inputs(self, ctx.storage)
        entries: dict[str, ChainEntry] = {
            name: (int(inputs[name].get("rows") or 0), str(inputs[name].get("fingerprint")))
            for name in (datasets.FEATURES, datasets.LABELS)
            if name in inputs
        }
        end = last_timestamp(ctx.storage, datasets.FEATURES)
        if end is None:
            return {}
        record = TrainedOn(basis=basis_key(self, ctx.config), inputs=entries, data_end_ms=end)
        return {TRAINED_KEY: record.model_dump(mode="json")}

    def still_current(self, config: PipelineConfig, storage: Storage, state: dict[str, Any]) -> str | None:
        """With ``train.retrain_every``: the models stay while the same config and code would train
        them, features and labels only grew at their end since, and by less than that span."""
        every = config.train.retrain_every
        if every is None:
            return None
        try:
            trained = TrainedOn.model_validate(state.get(TRAINED_KEY))
        except ValueError:
            return None
        if trained.basis != basis_key(self, config):
            return None
        if any(not_grown_by_appends(self, storage, n, e) for n, e in trained.inputs.items()):
            return None
        end = last_timestamp(storage, datasets.FEATURES)
        due = trained.data_end_ms + span_ms(every)
        if end is None or end >= due:
            return None
        return (
            f"models kept: trained on data to {iso_ms(trained.data_end_ms)}, the data now ends "
            f"{iso_ms(end)}; train.retrain_every {every} retrains at {iso_ms(due)}"
        )

    def _train(self, ctx: StageContext, only: str | None, target: Storage) -> StageResult:
        """Fit the models (only ``only`` when set) on ``ctx.storage``'s tables and save them under
        ``target`` (the data root, or a candidate slot laid out like one)."""
        config = ctx.config
        table = read_training_table(config, ctx.storage)
        threads = config.train.threads or ctx.threads
        outputs = {}
        metrics: dict[str, Any] = {}
        recorded = stage_inputs(self, ctx.storage)  # the versions the stage keys name (not re-hashed)
        data_fingerprint = {
            n: (recorded.get(n) or {}).get("fingerprint") or ctx.storage.fingerprint(n)
            for n in (datasets.FEATURES, datasets.LABELS)
        }
        config_hash = feature_config_hash(config.feature_sets, table.features)
        for label in config.train.labels:
            wanted = [a for a in config.train.algorithms if only in (None, model_name(label, a.name))]
            if not wanted:
                continue
            for fitted in fit_label_models(table, label, wanted, seed=config.train.seed, threads=threads):
                model = fitted.model
                ctx.log.info(
                    "trained %s (%s) on %d rows in %.2fs (%d threads)",
                    model.name, model.algorithm.algo, fitted.rows, fitted.seconds, threads,
                )  # fmt: skip
                meta = {
                    "label": label,
                    "train_rows": fitted.rows,
                    "train_range_ms": list(fitted.range_ms),
                    "target_mean": fitted.target_mean,
                    # rows from here on are no model's training rows (predict's holdout)
                    "holdout_from_ms": table.holdout_from_ms,
                    "data_fingerprint": data_fingerprint,
                    HASH_KEY: config_hash,
                }
                outputs.update(model.save(target, meta))
                metrics[model.name] = {
                    "train_rows": fitted.rows, "seconds": fitted.seconds, "algo": model.algorithm.algo,
                }  # fmt: skip
        return StageResult(outputs, metrics=metrics)


class CandidateStage(TrainStage):
    """train into this run's candidate slot; applicable only with ``promotion.candidate``."""

    name = "candidate"
    version = 1

    def applicable(self, config: PipelineConfig) -> bool:
        return config.promotion.candidate

    def outputs(self, config: PipelineConfig) -> list[str]:
        """None known in advance: the slot is named by the run id (the stage result lists the files)."""
        return []

    def config_section(self, config: PipelineConfig) -> Any:
        return {"train": super().config_section(config), "slot": "candidate"}

    def steps(self, config: PipelineConfig, storage: Storage) -> list[str]:
        return []  # one run: the slot is named by the run id, which a step's outputs cannot know

    def still_current(self, config: PipelineConfig, storage: Storage, state: dict[str, Any]) -> str | None:
        return None  # a candidate run trains a candidate: retrain_every is for the live models

    def run(self, ctx: StageContext) -> StageResult:
        prefix = slot_prefix(ctx.run_id)
        trained = self._train(ctx, only=None, target=slot_storage(ctx.storage, ctx.run_id))
        trained.outputs = {
            f"{prefix}/{name}": WriteResult(f"{prefix}/{name}", w.fingerprint, w.size, w.rows)
            for name, w in trained.outputs.items()
        }
        trained.metrics["slot"] = prefix
        return trained
