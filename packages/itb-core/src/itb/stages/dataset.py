"""The training table shared by train and predict: features joined with labels, and the split.

Rows ``[0, holdout_start)`` are for training, minus the last ``horizon`` rows before the holdout
(their labels look into the holdout); rows ``[holdout_start, N)`` are the held-out tail.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import polars as pl
from numpy.typing import NDArray

from itb.config.models import PipelineConfig
from itb.errors import DataError
from itb.stages.labels import label_horizon
from itb.storage.store import Storage

Matrix = NDArray[np.float64]
#: Fewer holdout rows than this make holdout metrics noise: the run warns.
MIN_HOLDOUT_ROWS = 1000


@dataclass
class TrainingTable:
    df: pl.DataFrame
    features: list[str]
    holdout_start: int
    train_end: int  # exclusive

    def feature_matrix(self, rows: slice | None = None, order: Literal["c", "fortran"] = "c") -> Matrix:
        """The features as a float64 matrix; ``order="fortran"`` (column-major) is the cheaper copy
        out of polars' columns when the consumer reads one column at a time."""
        frame = self.df.select(self.features)
        if rows is not None:
            frame = frame[rows]
        return frame.to_numpy(order=order).astype(np.float64, copy=False)


def load_training_table(config: PipelineConfig, storage: Storage) -> TrainingTable:
    features = storage.read_parquet("features.parquet")
    labels = storage.read_parquet("labels.parquet")
    if features.height != labels.height or not features["timestamp"].equals(labels["timestamp"]):
        raise DataError("features.parquet and labels.parquet cover different rows; rerun with --force")
    names = config.train.features or [c for c in features.columns if c != "timestamp"]
    missing = [c for c in names if c not in features.columns]
    if missing:
        raise DataError(f"train.features: columns {missing} are not in features.parquet")
    df = pl.concat([features.select(["timestamp", *names]), labels.drop("timestamp")], how="horizontal")
    n = df.height
    holdout_start = int(n * (1 - config.train.holdout))
    train_end = max(0, holdout_start - label_horizon(config))
    return TrainingTable(df, names, holdout_start, train_end)


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
