"""The training table shared by train, predict and the walk-forward steps: features joined with
labels, and the split.

Rows ``[0, holdout_start)`` are for training, minus the last ``horizon`` rows before the holdout
(their labels look into the holdout); rows ``[holdout_start, N)`` are the held-out tail. With
``train.length`` only the last ``length`` rows of that range train (``[train_start, train_end)``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import polars as pl
from numpy.typing import NDArray

from itb.config.models import Algorithm, PipelineConfig
from itb.errors import DataError
from itb.models.trained import TrainedModel, fit_model, model_name

Matrix = NDArray[np.float64]


@dataclass
class TrainingTable:
    df: pl.DataFrame
    features: list[str]
    holdout_start: int
    train_end: int  # exclusive
    train_start: int = 0

    @property
    def holdout_from_ms(self) -> int | None:
        """The timestamp of the first holdout row (None: the holdout is empty)."""
        return stamp_at(self.df["timestamp"], self.holdout_start)

    def feature_matrix(self, rows: slice | None = None, order: Literal["c", "fortran"] = "c") -> Matrix:
        """The features as a float64 matrix; ``order="fortran"`` (column-major) is the cheaper copy
        out of polars' columns when the consumer reads one column at a time."""
        frame = self.df.select(self.features)
        if rows is not None:
            frame = frame[rows]
        return frame.to_numpy(order=order).astype(np.float64, copy=False)


def stamp_at(stamps: pl.Series, row: int) -> int | None:
    """The timestamp of row ``row``, or None past the last row."""
    return int(stamps[row]) if row < stamps.len() else None


def feature_names(config: PipelineConfig, features: pl.DataFrame) -> list[str]:
    """The model inputs: ``train.features``, or every column of the features table but ``timestamp``."""
    return config.train.features or [c for c in features.columns if c != "timestamp"]


def training_table(config: PipelineConfig, features: pl.DataFrame, labels: pl.DataFrame) -> TrainingTable:
    """Join the features and labels tables (same rows) and split them per ``train.holdout``."""
    if features.height != labels.height or not features["timestamp"].equals(labels["timestamp"]):
        raise DataError("features.parquet and labels.parquet cover different rows; rerun with --force")
    names = feature_names(config, features)
    missing = [c for c in names if c not in features.columns]
    if missing:
        raise DataError(f"train.features: columns {missing} are not in features.parquet")
    df = pl.concat([features.select(["timestamp", *names]), labels.drop("timestamp")], how="horizontal")
    n = df.height
    holdout_start = int(n * (1 - config.train.holdout))
    train_end = max(0, holdout_start - config.label_horizon())
    train_start = max(0, train_end - config.train.length) if config.train.length else 0
    return TrainingTable(df, names, holdout_start, train_end, train_start)


#: Fewer holdout rows than this make holdout metrics noise: the run warns.
MIN_HOLDOUT_ROWS = 1000


def holdout_warnings(table: TrainingTable, labels: list[str]) -> list[dict[str, Any]]:
    """Run warnings (``{kind, count, message, first_rows}``) about a holdout too small to judge a
    model by, or whose labels are all null (then its metrics are empty)."""
    rows = table.df.height - table.holdout_start
    first = [table.holdout_start]
    warnings: list[dict[str, Any]] = []
    if rows < MIN_HOLDOUT_ROWS:
        message = (
            f"the holdout has only {rows} rows (< {MIN_HOLDOUT_ROWS}): its metrics are noise; "
            "widen the data range or raise train.holdout"
        )
        warnings.append({"kind": "small_holdout", "count": rows, "first_rows": first, "message": message})
    tail = table.df.slice(table.holdout_start)
    for label in labels:
        if label in tail.columns and tail[label].null_count() == tail.height:
            message = f"label {label} is null on every holdout row: no holdout metrics for it"
            warnings.append(
                {"kind": "holdout_labels_null", "count": tail.height, "first_rows": first, "message": message}
            )
    return warnings


def training_rows(df: pl.DataFrame, features: list[str], label: str) -> pl.DataFrame:
    """Rows a model may learn from: a known label and every feature known (past indicator warm-up)."""
    return df.filter(pl.col(label).is_not_null() & pl.all_horizontal(pl.col(features).is_not_null()))


def label_values(rows: pl.DataFrame, label: str, regression: bool) -> NDArray[Any]:
    """The target of one label: floats to regress, booleans to classify."""
    series = rows[label]
    return series.cast(pl.Float64).to_numpy() if regression else series.cast(pl.Boolean).to_numpy()


#: Fewer usable rows than this for a label is an error, not a model.
MIN_TRAIN_ROWS = 100


@dataclass(frozen=True)
class FittedModel:
    """A model fitted on the training rows, with what its metadata records about them."""

    model: TrainedModel
    label: str
    rows: int
    range_ms: tuple[int, int]  # first and last training row
    target_mean: float
    seconds: float


def fit_label_models(
    table: TrainingTable,
    label: str,
    algorithms: Sequence[Algorithm],
    *,
    seed: int,
    threads: int,
) -> list[FittedModel]:
    """Fit one model per algorithm for ``label`` on the training rows of ``table`` (before the holdout
    and the label horizon; rows with an unknown label or feature are skipped)."""
    rows = training_rows(table.df[table.train_start : table.train_end], table.features, label)
    if rows.height < MIN_TRAIN_ROWS:
        raise DataError(
            f"train: features.parquet/labels.parquet: only {rows.height} usable rows for label "
            f"{label!r} (rows {table.train_start}..{table.train_end} of {table.df.height} end the label "
            f"horizon before the holdout at row {table.holdout_start}; rows need every feature and the "
            "label): widen the data range or lower train.holdout"
        )
    matrix = rows.select(table.features).to_numpy().astype(np.float64, copy=False)
    return [
        fit_algorithm(rows, matrix, table.features, label, algorithm, seed=seed, threads=threads)
        for algorithm in algorithms
    ]


def fit_algorithm(
    rows: pl.DataFrame,
    matrix: Matrix,
    features: list[str],
    label: str,
    algorithm: Algorithm,
    *,
    seed: int,
    threads: int,
) -> FittedModel:
    """Fit ``algorithm`` on the last ``algorithm.length`` of the usable ``rows`` (all of them when
    unset), as the reference project's ``params.length``; ``matrix`` is ``rows``' features. Shared by
    train and the walk-forward steps, so both cut the same rows."""
    tail = rows.height - min(rows.height, algorithm.length or rows.height)
    usable, x = rows.slice(tail), matrix[tail:]
    span = (int(usable["timestamp"][0]), int(usable["timestamp"][-1]))
    y = label_values(usable, label, algorithm.regression)
    started = time.perf_counter()
    model = fit_model(
        model_name(label, algorithm.name), algorithm, features, x, y, seed=seed, threads=threads
    )
    seconds = round(time.perf_counter() - started, 3)
    return FittedModel(model, label, usable.height, span, round(float(np.mean(y)), 6), seconds)
