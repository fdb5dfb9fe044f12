"""Walk-forward prediction: the plan of steps over the rows, and one step's train-and-score.

Step ``k`` predicts rows ``[start + k*step_rows, start + (k+1)*step_rows)`` with models trained on
the ``train_rows`` rows that end ``horizon`` rows before its first predicted row: the labels of the
last training row look ``horizon`` rows ahead, so no training label ever sees a predicted row.

Steps are pure functions of (table, plan, config, step), so running them in parallel processes
gives the same bytes as running them in order in one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from typing import Any

import numpy as np
import polars as pl

from itb.compute.training import MIN_TRAIN_ROWS, FittedModel, TrainingTable, fit_algorithm, training_rows
from itb.config.models import PipelineConfig, RollingConfig, parse_freq
from itb.errors import ConfigError, DataError
from itb.models.scoring import score_rows

STEP_PREFIX = "step-"


@dataclass(frozen=True)
class RollingPlan:
    rows: int
    train_rows: int
    horizon: int
    start: int
    step_rows: int

    @property
    def count(self) -> int:
        return -(-(self.rows - self.start) // self.step_rows)

    def step_ids(self) -> list[str]:
        return [step_id(k) for k in range(self.count)]

    def window(self, k: int) -> tuple[int, int, int, int]:
        """``(train_from, train_to, predict_from, predict_to)`` of step ``k``, ends exclusive."""
        predict_from = self.start + k * self.step_rows
        predict_to = min(self.rows, predict_from + self.step_rows)
        train_to = predict_from - self.horizon
        return max(0, train_to - self.train_rows), train_to, predict_from, predict_to


def step_id(k: int) -> str:
    return f"{STEP_PREFIX}{k:04d}"


def step_index(step: str) -> int:
    return int(step.removeprefix(STEP_PREFIX))


def make_plan(config: PipelineConfig, timestamps: pl.Series) -> RollingPlan:
    """The walk-forward plan over the rows of features.parquet (``timestamps``)."""
    rolling = config.rolling
    if rolling is None:
        raise ConfigError("predict_rolling needs a 'rolling' section")
    rows = timestamps.len()
    horizon = config.label_horizon()
    train_rows = rolling.train_rows or _span_rows(rolling, config)
    start = _start_row(rolling, timestamps, train_rows + horizon)
    if start - horizon < MIN_TRAIN_ROWS:
        raise ConfigError(
            f"rolling.start: row {start} leaves {max(0, start - horizon)} training rows before the label "
            f"horizon ({horizon}); start at row {MIN_TRAIN_ROWS + horizon} or later"
        )
    if start >= rows:
        raise DataError(f"rolling.start: row {start} is past the last row ({rows - 1}); nothing to predict")
    return RollingPlan(rows, train_rows, horizon, start, rolling.step_rows)


def _span_rows(rolling: RollingConfig, config: PipelineConfig) -> int:
    assert rolling.train_span is not None
    return int(parse_freq(rolling.train_span) / parse_freq(config.freq))


def _start_row(rolling: RollingConfig, timestamps: pl.Series, default: int) -> int:
    if rolling.start is None:
        return default
    if isinstance(rolling.start, int):
        return rolling.start
    moment = rolling.start if rolling.start.tzinfo else rolling.start.replace(tzinfo=UTC)
    return int(timestamps.search_sorted(int(moment.timestamp() * 1000), side="left"))


def fit_step_models(
    table: TrainingTable, plan: RollingPlan, k: int, config: PipelineConfig, threads: int
) -> list[FittedModel]:
    """The models of step ``k``: one per label and algorithm, trained on the usable rows of the
    step's window (each algorithm on its last ``length`` of them, as in train)."""
    train_from, train_to, _, _ = plan.window(k)
    window = table.df[train_from:train_to]
    fitted = []
    for label in config.train.labels:
        usable = training_rows(window, table.features, label)
        if usable.height < MIN_TRAIN_ROWS:
            raise DataError(
                f"predict_rolling step {k}: only {usable.height} usable training rows for {label!r} "
                f"(rows {train_from}..{train_to - 1})"
            )
        x = usable.select(table.features).to_numpy().astype(np.float64, copy=False)
        fitted += [
            fit_algorithm(
                usable, x, table.features, label, algorithm, seed=config.train.seed, threads=threads
            )
            for algorithm in config.train.algorithms
        ]
    return fitted


def predict_step(
    table: TrainingTable, plan: RollingPlan, k: int, config: PipelineConfig, threads: int
) -> pl.DataFrame:
    """Train on step ``k``'s window and score its rows: ``timestamp`` + one column per model."""
    _, _, predict_from, predict_to = plan.window(k)
    target = table.df[predict_from:predict_to]
    x_target = target.select(table.features).to_numpy().astype(np.float64, copy=False)
    known = ~np.isnan(x_target).any(axis=1)
    columns: dict[str, Any] = {"timestamp": target["timestamp"]}
    for fitted in fit_step_models(table, plan, k, config, threads):
        scores = score_rows(fitted.model, x_target, known, threads)
        columns[fitted.model.name] = pl.Series(fitted.model.name, scores).fill_nan(None)
    return pl.DataFrame(columns)


def assemble(scores: pl.DataFrame, merged: pl.DataFrame) -> pl.DataFrame:
    """The steps' scores (in row order) with the price from ``merged`` and ``holdout`` set: every
    predicted row is out of sample."""
    out = scores.join(merged.select("timestamp", "close"), on="timestamp", how="left", maintain_order="left")
    names = [c for c in scores.columns if c != "timestamp"]
    return out.select("timestamp", "close", pl.lit(True).alias("holdout"), *names)
