"""Classification metrics in numpy (no scikit-learn needed at run time)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def roc_auc(y: NDArray[np.bool_], score: NDArray[np.float64]) -> float | None:
    """Area under the ROC curve via the rank-sum statistic, ties averaged."""
    positives = int(y.sum())
    negatives = y.size - positives
    if positives == 0 or negatives == 0:
        return None
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(score.size, dtype=np.float64)
    sorted_scores = score[order]
    # average ranks over ties
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    average = first + (counts - 1) / 2.0 + 1.0
    ranks[order] = np.repeat(average, counts)
    return float((ranks[y].sum() - positives * (positives + 1) / 2.0) / (positives * negatives))


def classification_metrics(
    y: NDArray[np.bool_], score: NDArray[np.float64], threshold: float = 0.5
) -> dict[str, float | int | None]:
    predicted = score >= threshold
    tp = int((predicted & y).sum())
    fp = int((predicted & ~y).sum())
    fn = int((~predicted & y).sum())
    auc = roc_auc(y, score)
    return {
        "rows": int(y.size),
        "positive_share": round(float(y.mean()), 6) if y.size else None,
        "auc": round(auc, 6) if auc is not None else None,
        "precision": round(tp / (tp + fp), 6) if tp + fp else None,
        "recall": round(tp / (tp + fn), 6) if tp + fn else None,
        "threshold": threshold,
    }
