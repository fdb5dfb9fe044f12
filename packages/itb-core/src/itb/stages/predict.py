"""predict: score every row with every model; metrics on the held-out tail (``metrics.json``).

Scores are named ``<label>_<algorithm>``; rows whose features are not all known yet (indicator
warm-up) get null scores. The ``holdout`` column marks rows no model was trained on (from the
models' training split, so the rows added since they were trained count too). The models
refuse a features table that differs from the one they were trained on
(:meth:`itb.models.modelset.ModelSet.check`).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import polars as pl

from itb import datasets
from itb.compute.predictions import holdout_metrics, predictions_frame
from itb.compute.training import TrainingTable, feature_names, holdout_warnings, stamp_at
from itb.config.models import PipelineConfig
from itb.errors import DataError
from itb.generators.history import History
from itb.models.modelset import ModelSet, feature_config_hash
from itb.models.trained import model_name
from itb.stages.base import Stage, StageContext, StageResult
from itb.stages.incremental import TableOutcome, basis_key, generated_table, log_record, read_rows_from
from itb.stages.state import stage_inputs
from itb.storage.store import Storage


class PredictStage(Stage):
    name = "predict"
    deps = ("features", "labels", "train", "promote")  # promote: after the gate (itb run --candidate)
    version = 2

    def outputs(self, config: PipelineConfig) -> list[str]:
        return [datasets.PREDICTIONS, datasets.METRICS]

    def config_section(self, config: PipelineConfig) -> Any:
        return {
            "holdout": config.train.holdout,
            "labels": config.train.labels,
            "algorithms": [a.model_dump(mode="json") for a in config.train.algorithms],
        }

    def run(self, ctx: StageContext) -> StageResult:
        config, storage = ctx.config, ctx.storage
        pairs = [(label, a) for label in config.train.labels for a in config.train.algorithms]
        models = ModelSet.load(storage, [model_name(label, a.name) for label, a in pairs])
        features = feature_names(config, table_schema(storage, datasets.FEATURES))
        models.check(features, feature_config_hash(config.feature_sets, features))
        labels = storage.read_parquet(datasets.LABELS)
        inputs = stage_inputs(self, storage)
        rows = (inputs.get(datasets.FEATURES) or {}).get("rows")
        if rows is not None and rows != labels.height:
            raise DataError("features.parquet and labels.parquet cover different rows; rerun with --force")
        start = holdout_start(models, labels["timestamp"], config.train.holdout)
        holdout_from = stamp_at(labels["timestamp"], start)
        # Scoring is row by row, so its result does not depend on the thread count (training's may):
        # use every core unless train.threads says otherwise; predict mostly runs alone.
        threads = config.train.threads or max(ctx.threads, os.cpu_count() or 1)

        def score(rows: pl.DataFrame) -> pl.DataFrame:
            """The predictions of these features rows (any stretch of the table)."""
            close = close_from(storage, rows["timestamp"][0] if rows.height else 0).head(rows.height)
            return predictions_frame(models, rows, close, holdout_from, threads)

        basis = basis_key(self, config)
        used = {n: str(i.get("fingerprint")) for n, i in inputs.items() if n.startswith("models/")}
        made = generated_table(
            self, config, storage, basis=basis, input_name=datasets.FEATURES,
            output_name=datasets.PREDICTIONS, compute=score, history=History(),
            what="the models", facts={"models": used, "holdout start": holdout_from},
        )  # fmt: skip
        log_record(ctx.log, self.name, made.record)
        written = made.write(storage, datasets.PREDICTIONS)
        held = rows_from(storage, datasets.PREDICTIONS, start, made)
        metrics = holdout_metrics(pairs, labels.slice(start), held)
        for name, figures in metrics.items():
            ctx.log.info("%s holdout: %s", name, figures)
        document = {"span": "holdout", "rows_from": start, "models": metrics}
        table = TrainingTable(labels, [], start, start)
        return StageResult(
            {datasets.PREDICTIONS: written, datasets.METRICS: storage.write_json(datasets.METRICS, document)},
            metrics={"holdout": metrics, "warnings": holdout_warnings(table, config.train.labels)},
            incremental=made.record,
            state=made.state(basis, written),
        )


def table_schema(storage: Storage, name: str) -> pl.DataFrame:
    """An empty frame with the columns of a stored table (a local file: only its footer is read)."""
    path = storage.scan_path(name)
    if path is not None:
        return pl.scan_parquet(path).head(0).collect()
    return storage.read_parquet(name).head(0)


def close_from(storage: Storage, first_ms: int) -> pl.Series:
    """The merged ``close`` from the row at ``first_ms`` on (a local file: later row groups only)."""
    path = storage.scan_path(datasets.MERGED)
    frame = pl.scan_parquet(path) if path is not None else storage.read_parquet(datasets.MERGED).lazy()
    return frame.filter(pl.col("timestamp") >= first_ms).select("close").collect()["close"]


def rows_from(storage: Storage, name: str, start: int, made: TableOutcome) -> pl.DataFrame:
    """Rows ``start ..`` of the table ``made`` was written to (a full recompute: from memory)."""
    if not made.appended:
        return made.tail.slice(start)
    return read_rows_from(storage, name, start)


def holdout_start(models: ModelSet, stamps: pl.Series, holdout: float) -> int:
    """The first row no model was trained on: from the models' ``holdout_from_ms`` (the first holdout
    row when they were trained, so rows added since, which no model saw, are holdout too), else (models
    from before it was recorded) the split of today's rows (``train.holdout``)."""
    froms = [model.meta.get("holdout_from_ms") for model in models.models]
    if not froms or any(value is None for value in froms):
        return int(stamps.len() * (1 - holdout))
    return int(np.searchsorted(stamps.to_numpy(), max(int(v) for v in froms if v is not None), side="left"))
