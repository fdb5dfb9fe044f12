"""predict: score every row with every model; metrics on the held-out tail (``metrics.json``).

Scores are named ``<label>_<algorithm>``; rows whose features are not all known yet (indicator
warm-up) get null scores. The ``holdout`` column marks rows no model was trained on.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import polars as pl
from numpy.typing import NDArray

from itb.config.models import Algorithm, PipelineConfig
from itb.stages.base import Stage, StageContext, StageResult
from itb.stages.dataset import holdout_warnings, load_training_table
from itb.stages.metrics import Metrics, classification_metrics, regression_metrics
from itb.stages.models import TrainedModel, load_model, model_name


def model_metrics(
    algorithm: Algorithm, truth: pl.Series, scores: NDArray[np.float64], mask: NDArray[np.bool_]
) -> Metrics:
    """Classification or regression metrics of ``scores`` against ``truth`` on the rows in ``mask``."""
    mask = mask & truth.is_not_null().to_numpy() & ~np.isnan(scores)
    if algorithm.regression:
        return regression_metrics(truth.cast(pl.Float64).to_numpy()[mask], scores[mask])
    return classification_metrics(truth.cast(pl.Boolean).to_numpy()[mask].astype(bool), scores[mask])


CHUNK_ROWS = 200_000


def score_rows(
    model: TrainedModel, x: NDArray[np.float64], known: NDArray[np.bool_], threads: int
) -> NDArray[np.float64]:
    """Scores of the rows in ``known``, NaN elsewhere.

    Every row is scored and the unknown ones (indicator warm-up, a few hundred) are blanked after:
    selecting the known rows first would copy the matrix (both predictors take rows with NaN).
    Chunks of rows are views; they bound what a model copies per call (a scaler's output, LightGBM's
    contiguous input): 3 years of minutes would otherwise need ~0.2 GB more peak RSS per copy.
    """
    scores = np.full(x.shape[0], np.nan)
    if not known.any():
        return scores
    for start in range(0, x.shape[0], CHUNK_ROWS):
        rows = slice(start, start + CHUNK_ROWS)
        scores[rows] = model.predict(x[rows], threads)
    scores[~known] = np.nan
    return scores


class PredictStage(Stage):
    name = "predict"
    deps = ("features", "labels", "train")
    version = 2

    def outputs(self, config: PipelineConfig) -> list[str]:
        return ["predictions.parquet", "metrics.json"]

    def config_section(self, config: PipelineConfig) -> Any:
        return {
            "holdout": config.train.holdout,
            "labels": config.train.labels,
            "algorithms": [a.model_dump(mode="json") for a in config.train.algorithms],
        }

    def run(self, ctx: StageContext) -> StageResult:
        config = ctx.config
        table = load_training_table(config, ctx.storage)
        merged = ctx.storage.read_parquet("merged.parquet", columns=["timestamp", "close"])
        known = (
            table.df.select(pl.all_horizontal(pl.col(table.features).is_not_null())).to_series().to_numpy()
        )
        # column-major: the stump predictor reads one feature at a time, LightGBM takes either order
        x = table.feature_matrix(order="fortran")
        holdout = np.arange(table.df.height) >= table.holdout_start
        columns: dict[str, Any] = {
            "timestamp": table.df["timestamp"],
            "close": merged["close"],
            "holdout": holdout,
        }
        metrics: dict[str, Any] = {}
        # Scoring is row by row, so its result does not depend on the thread count (training's may):
        # use every core unless train.threads says otherwise; predict mostly runs alone.
        threads = config.train.threads or max(ctx.threads, os.cpu_count() or 1)
        for label in config.train.labels:
            for algorithm in config.train.algorithms:
                name = model_name(label, algorithm.name)
                model = load_model(ctx.storage, name)
                scores = score_rows(model, x, known, threads)
                columns[name] = pl.Series(name, scores).fill_nan(None)
                metrics[name] = model_metrics(algorithm, table.df[label], scores, holdout & known)
                ctx.log.info("%s holdout: %s", name, metrics[name])
        out = pl.DataFrame(columns)
        document = {"span": "holdout", "rows_from": table.holdout_start, "models": metrics}
        return StageResult(
            {
                "predictions.parquet": ctx.storage.write_parquet("predictions.parquet", out),
                "metrics.json": ctx.storage.write_json("metrics.json", document),
            },
            metrics={"holdout": metrics, "warnings": holdout_warnings(table, config.train.labels)},
        )
