"""predict: score every row with every model; metrics on the held-out tail.

Scores are named ``<label>_<algorithm>``; rows whose features are not all known yet (indicator
warm-up) get null scores. The ``holdout`` column marks rows no model was trained on.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from itb.config.models import PipelineConfig
from itb.stages.base import Stage, StageContext, StageResult
from itb.stages.dataset import load_training_table
from itb.stages.lgbm import import_lightgbm
from itb.stages.metrics import classification_metrics
from itb.stages.train import model_name


class PredictStage(Stage):
    name = "predict"
    deps = ("features", "labels", "train")

    def outputs(self, config: PipelineConfig) -> list[str]:
        return ["predictions.parquet"]

    def config_section(self, config: PipelineConfig) -> Any:
        return {
            "holdout": config.train.holdout,
            "labels": config.train.labels,
            "algorithms": [a.name for a in config.train.algorithms],
        }

    def run(self, ctx: StageContext) -> StageResult:
        lgb = import_lightgbm()

        config = ctx.config
        table = load_training_table(config, ctx.storage)
        merged = ctx.storage.read_parquet("merged.parquet", columns=["timestamp", "close"])
        complete = table.df.select(pl.all_horizontal(pl.col(table.features).is_not_null())).to_series()
        x = table.feature_matrix()
        index = np.arange(table.df.height)
        holdout = index >= table.holdout_start
        columns: dict[str, Any] = {
            "timestamp": table.df["timestamp"],
            "close": merged["close"],
            "holdout": holdout,
        }
        metrics: dict[str, Any] = {}
        threads = config.train.threads or ctx.threads
        known = complete.to_numpy()
        for label in config.train.labels:
            for algorithm in config.train.algorithms:
                name = model_name(label, algorithm.name)
                booster = lgb.Booster(model_str=ctx.storage.read_bytes(f"models/{name}.txt").decode())
                scores = np.full(x.shape[0], np.nan)
                scores[known] = booster.predict(x[known], num_threads=threads)
                columns[name] = pl.Series(name, scores).fill_nan(None)
                truth = table.df[label]
                mask = holdout & known & truth.is_not_null().to_numpy()
                metrics[name] = classification_metrics(truth.to_numpy()[mask].astype(bool), scores[mask])
                ctx.log.info("%s holdout: %s", name, metrics[name])
        out = pl.DataFrame(columns)
        return StageResult(
            {"predictions.parquet": ctx.storage.write_parquet("predictions.parquet", out)},
            metrics={"holdout": metrics},
        )
