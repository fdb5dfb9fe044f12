"""Scoring rows with a trained model, and the metrics of scores against the truth."""

from __future__ import annotations

import numpy as np
import polars as pl
from numpy.typing import NDArray

from itb.config.models import Algorithm
from itb.models.metrics import Metrics, classification_metrics, regression_metrics
from itb.models.trained import TrainedModel

#: Rows per ``predict`` call: bounds what a model copies per call (a scaler's output, LightGBM's
#: contiguous input); 3 years of minutes would otherwise need ~0.2 GB more peak RSS per copy.
CHUNK_ROWS = 200_000


def score_rows(
    model: TrainedModel, x: NDArray[np.float64], known: NDArray[np.bool_], threads: int
) -> NDArray[np.float64]:
    """Scores of the rows in ``known``, NaN elsewhere.

    Every row is scored and the unknown ones (indicator warm-up, a few hundred) are blanked after:
    selecting the known rows first would copy the matrix (both predictors take rows with NaN).
    Chunks of rows are views.
    """
    scores = np.full(x.shape[0], np.nan)
    if not known.any():
        return scores
    for start in range(0, x.shape[0], CHUNK_ROWS):
        rows = slice(start, start + CHUNK_ROWS)
        scores[rows] = model.predict(x[rows], threads)
    scores[~known] = np.nan
    return scores


def model_metrics(
    algorithm: Algorithm, truth: pl.Series, scores: NDArray[np.float64], mask: NDArray[np.bool_]
) -> Metrics:
    """Classification or regression metrics of ``scores`` against ``truth`` on the rows in ``mask``."""
    mask = mask & truth.is_not_null().to_numpy() & ~np.isnan(scores)
    if algorithm.regression:
        return regression_metrics(truth.cast(pl.Float64).to_numpy()[mask], scores[mask])
    return classification_metrics(truth.cast(pl.Boolean).to_numpy()[mask].astype(bool), scores[mask])
