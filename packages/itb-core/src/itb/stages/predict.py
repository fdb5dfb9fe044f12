"""predict: score every row with every model; metrics on the held-out tail (``metrics.json``).

Scores are named ``<label>_<algorithm>``; rows whose features are not all known yet (indicator
warm-up) get null scores. The ``holdout`` column marks rows no model was trained on. The models
refuse a features table that differs from the one they were trained on
(:meth:`itb.models.modelset.ModelSet.check`).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import polars as pl

from itb import datasets
from itb.compute.training import holdout_warnings
from itb.config.models import PipelineConfig
from itb.models.modelset import ModelSet, feature_config_hash
from itb.models.scoring import model_metrics
from itb.models.trained import model_name
from itb.stages.base import Stage, StageContext, StageResult
from itb.stages.tables import read_training_table


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
        config = ctx.config
        table = read_training_table(config, ctx.storage)
        merged = ctx.storage.read_parquet(datasets.MERGED, columns=["timestamp", "close"])
        pairs = [(label, a) for label in config.train.labels for a in config.train.algorithms]
        models = ModelSet.load(ctx.storage, [model_name(label, a.name) for label, a in pairs])
        models.check(table.features, feature_config_hash(config.feature_sets, table.features))
        # Scoring is row by row, so its result does not depend on the thread count (training's may):
        # use every core unless train.threads says otherwise; predict mostly runs alone.
        threads = config.train.threads or max(ctx.threads, os.cpu_count() or 1)
        scores = models.score(table.df, threads)
        known = (
            table.df.select(pl.all_horizontal(pl.col(table.features).is_not_null())).to_series().to_numpy()
        )
        holdout = np.arange(table.df.height) >= table.holdout_start
        columns: dict[str, Any] = {
            "timestamp": table.df["timestamp"],
            "close": merged["close"],
            "holdout": holdout,
        }
        metrics: dict[str, Any] = {}
        for label, algorithm in pairs:
            name = model_name(label, algorithm.name)
            columns[name] = pl.Series(name, scores[name]).fill_nan(None)
            metrics[name] = model_metrics(algorithm, table.df[label], scores[name], holdout & known)
            ctx.log.info("%s holdout: %s", name, metrics[name])
        out = pl.DataFrame(columns)
        document = {"span": "holdout", "rows_from": table.holdout_start, "models": metrics}
        return StageResult(
            {
                datasets.PREDICTIONS: ctx.storage.write_parquet(datasets.PREDICTIONS, out),
                datasets.METRICS: ctx.storage.write_json(datasets.METRICS, document),
            },
            metrics={"holdout": metrics, "warnings": holdout_warnings(table, config.train.labels)},
        )
