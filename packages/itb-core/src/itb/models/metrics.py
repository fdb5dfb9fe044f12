"""Model metrics in numpy (no scikit-learn needed at run time).

Classification: AUC, average precision, F1, precision, recall (at a score threshold); regression:
MAE and R². Figures are rounded so that manifests stay readable and byte-stable.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

Metrics = dict[str, float | int | None]


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


def average_precision(y: NDArray[np.bool_], score: NDArray[np.float64]) -> float | None:
    """Average precision: sum over thresholds of precision x recall increment (scikit-learn's definition,
    tied scores forming one threshold)."""
    positives = int(y.sum())
    if positives == 0:
        return None
    order = np.argsort(-score, kind="mergesort")
    sorted_scores, hits = score[order], y[order].astype(np.float64)
    # the last index of each run of equal scores is where a threshold takes effect
    last = np.flatnonzero(np.r_[sorted_scores[1:] != sorted_scores[:-1], True])
    tp = np.cumsum(hits)[last]
    predicted = last + 1.0
    precision = tp / predicted
    recall_step = np.diff(np.r_[0.0, tp]) / positives
    return float((precision * recall_step).sum())


def best_f1_threshold(y: NDArray[np.bool_], score: NDArray[np.float64]) -> tuple[float | None, float | None]:
    """``(best F1, its threshold)`` over every score threshold (``score >= threshold`` predicts
    positive); tied scores form one threshold. ``(None, None)`` without positives or rows.

    Where a model never reaches the usual 0.5 (rare positives), this says where it does separate.
    """
    positives = int(y.sum())
    if positives == 0 or score.size == 0:
        return None, None
    order = np.argsort(-score, kind="mergesort")
    sorted_scores = score[order]
    last = np.flatnonzero(np.r_[sorted_scores[1:] != sorted_scores[:-1], True])
    tp = np.cumsum(y[order])[last]
    f1 = 2.0 * tp / (last + 1.0 + positives)  # 2tp / (2tp + fp + fn), predicted = tp + fp
    best = int(np.argmax(f1))
    return float(f1[best]), float(sorted_scores[last[best]])


def classification_metrics(
    y: NDArray[np.bool_], score: NDArray[np.float64], threshold: float = 0.5
) -> Metrics:
    predicted = score >= threshold
    tp = int((predicted & y).sum())
    fp = int((predicted & ~y).sum())
    fn = int((~predicted & y).sum())
    auc = roc_auc(y, score)
    ap = average_precision(y, score)
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None
    best_f1, best_threshold = best_f1_threshold(y, score)
    return {
        "rows": int(y.size),
        "positive_share": _round(float(y.mean())) if y.size else None,
        "auc": _round(auc),
        "ap": _round(ap),
        "f1": _round(f1),
        "precision": _round(precision),
        "recall": _round(recall),
        "threshold": threshold,
        "best_f1": _round(best_f1),
        "best_f1_threshold": _round(best_threshold),
    }


def regression_metrics(y: NDArray[np.float64], prediction: NDArray[np.float64]) -> Metrics:
    if y.size == 0:
        return {"rows": 0, "mae": None, "r2": None}
    error = y - prediction
    total = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - float((error**2).sum()) / total if total > 0 else None
    return {"rows": int(y.size), "mae": _round(float(np.abs(error).mean())), "r2": _round(r2)}


def _round(value: float | None) -> float | None:
    return round(value, 6) if value is not None else None
