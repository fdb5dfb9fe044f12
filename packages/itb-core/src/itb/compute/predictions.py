"""The predictions table and its holdout metrics: shared by the predict stage and the promotion
gate, so that a candidate is judged by exactly the numbers predict would write for it."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import polars as pl

from itb.config.models import Algorithm
from itb.models.metrics import Metrics
from itb.models.modelset import ModelSet
from itb.models.scoring import model_metrics
from itb.models.trained import model_name


def predictions_frame(
    models: ModelSet, rows: pl.DataFrame, close: pl.Series, holdout_from: int | None, threads: int = 1
) -> pl.DataFrame:
    """``timestamp``, ``close``, ``holdout`` (rows from ``holdout_from`` on, by timestamp) and one score
    column per model, null where a feature is not known yet, for these features rows (any stretch)."""
    scores = models.score(rows, threads)
    holdout = pl.lit(False) if holdout_from is None else pl.col("timestamp") >= holdout_from
    frame = pl.DataFrame({"timestamp": rows["timestamp"], "close": close}).with_columns(holdout=holdout)
    return frame.with_columns(pl.Series(name, scores[name]).fill_nan(None) for name in models.names)


def holdout_metrics(
    pairs: Iterable[tuple[str, Algorithm]], truth: pl.DataFrame, predictions: pl.DataFrame
) -> dict[str, Metrics]:
    """Per model ``<label>_<algorithm>``: its metrics on these rows (``truth`` holds the labels of the
    same rows as ``predictions``); rows without a score or a label do not count."""
    metrics: dict[str, Metrics] = {}
    for label, algorithm in pairs:
        name = model_name(label, algorithm.name)
        scores = predictions[name].fill_null(np.nan).to_numpy()
        metrics[name] = model_metrics(algorithm, truth[label], scores, np.ones(len(scores), dtype=bool))
    return metrics
