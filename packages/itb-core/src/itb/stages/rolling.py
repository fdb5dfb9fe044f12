"""predict_rolling: walk-forward prediction, every step its own stage run (see ``Stage.steps``).

Step ``k`` predicts rows ``[start + k*step_rows, start + (k+1)*step_rows)`` with models trained on
the ``train_rows`` rows that end ``horizon`` rows before its first predicted row: the labels of the
last training row look ``horizon`` rows ahead, so no training label ever sees a predicted row. Each
step writes ``rolling/step-NNNN.parquet``; the finalize run concatenates them in order into
``predictions_rolling.parquet`` (only predicted rows, all out of sample, so ``holdout`` is true) and
reports metrics over every predicted row in the manifest and ``metrics_rolling.json``.

Steps are pure functions of (data, config, step), so running them in parallel processes gives the
same bytes as :func:`predict_rolling_sequential`, the in-process reference the tests compare with.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from typing import Any

import numpy as np
import polars as pl

from itb import datasets
from itb.compute.training import TrainingTable, label_horizon, label_values, training_rows
from itb.config.models import PipelineConfig, RollingConfig, parse_freq
from itb.errors import ConfigError, DataError
from itb.models.scoring import model_metrics, score_rows
from itb.models.trained import fit_model, model_name
from itb.stages.base import Stage, StageContext, StageResult
from itb.stages.state import read_state
from itb.stages.tables import read_training_table
from itb.storage.store import Storage

STEP_PREFIX = "step-"
MIN_TRAIN_ROWS = 100


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


def step_output(step: str) -> str:
    return datasets.rolling_step(step)


def make_plan(config: PipelineConfig, timestamps: pl.Series) -> RollingPlan:
    """The walk-forward plan over the rows of features.parquet (``timestamps``)."""
    rolling = config.rolling
    if rolling is None:
        raise ConfigError("predict_rolling needs a 'rolling' section")
    rows = timestamps.len()
    horizon = label_horizon(config)
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


def predict_step(
    table: TrainingTable, plan: RollingPlan, k: int, config: PipelineConfig, threads: int
) -> pl.DataFrame:
    """Train on step ``k``'s window and score its rows: ``timestamp`` + one column per model."""
    train_from, train_to, predict_from, predict_to = plan.window(k)
    window = table.df[train_from:train_to]
    target = table.df[predict_from:predict_to]
    x_target = target.select(table.features).to_numpy().astype(np.float64, copy=False)
    known = ~np.isnan(x_target).any(axis=1)
    columns: dict[str, Any] = {"timestamp": target["timestamp"]}
    for label in config.train.labels:
        usable = training_rows(window, table.features, label)
        if usable.height < MIN_TRAIN_ROWS:
            raise DataError(
                f"predict_rolling step {k}: only {usable.height} usable training rows for {label!r} "
                f"(rows {train_from}..{train_to - 1})"
            )
        x = usable.select(table.features).to_numpy().astype(np.float64, copy=False)
        for algorithm in config.train.algorithms:
            name = model_name(label, algorithm.name)
            y = label_values(usable, label, algorithm.regression)
            model = fit_model(name, algorithm, table.features, x, y, seed=config.train.seed, threads=threads)
            scores = score_rows(model, x_target, known, threads)
            columns[name] = pl.Series(name, scores).fill_nan(None)
    return pl.DataFrame(columns)


def predict_rolling_sequential(config: PipelineConfig, storage: Storage, threads: int = 1) -> pl.DataFrame:
    """Every step in one process, in order: the reference the fanned-out stage must equal."""
    table = read_training_table(config, storage)
    plan = make_plan(config, table.df["timestamp"])
    parts = [predict_step(table, plan, k, config, threads) for k in range(plan.count)]
    return _assemble(pl.concat(parts), storage)


def _assemble(scores: pl.DataFrame, storage: Storage) -> pl.DataFrame:
    merged = storage.read_parquet(datasets.MERGED, columns=["timestamp", "close"])
    out = scores.join(merged, on="timestamp", how="left", maintain_order="left")
    names = [c for c in scores.columns if c != "timestamp"]
    return out.select("timestamp", "close", pl.lit(True).alias("holdout"), *names)


class PredictRollingStage(Stage):
    name = "predict_rolling"
    deps = ("features", "labels")
    version = 2  # 2: gb defaults are stumps (GB_DEFAULTS)

    def applicable(self, config: PipelineConfig) -> bool:
        return config.rolling is not None

    def outputs(self, config: PipelineConfig) -> list[str]:
        return [datasets.PREDICTIONS_ROLLING, datasets.METRICS_ROLLING]

    def config_section(self, config: PipelineConfig) -> Any:
        train = config.train.model_dump(mode="json")
        train.pop("threads", None)
        train.pop("holdout", None)
        rolling = config.rolling.model_dump(mode="json") if config.rolling else None
        return {"train": train, "rolling": rolling, "horizon": label_horizon(config)}

    def steps(self, config: PipelineConfig, storage: Storage) -> list[str]:
        return self._plan(config, storage).step_ids()

    def step_outputs(self, config: PipelineConfig, step: str) -> list[str]:
        return [step_output(step)]

    def _plan(self, config: PipelineConfig, storage: Storage) -> RollingPlan:
        if read_state(storage, "features") is None:
            raise DataError("features.parquet is not made yet")
        timestamps = storage.read_parquet(datasets.FEATURES, columns=["timestamp"])["timestamp"]
        return make_plan(config, timestamps)

    def run_step(self, ctx: StageContext, step: str) -> StageResult:
        table = read_training_table(ctx.config, ctx.storage)
        plan = make_plan(ctx.config, table.df["timestamp"])
        k = step_index(step)
        threads = ctx.config.train.threads or ctx.threads
        part = predict_step(table, plan, k, ctx.config, threads)
        train_from, train_to, predict_from, predict_to = plan.window(k)
        ctx.log.info(
            "step %d/%d: trained on rows %d..%d, predicted rows %d..%d",
            k + 1, plan.count, train_from, train_to - 1, predict_from, predict_to - 1,
        )  # fmt: skip
        written = ctx.storage.write_parquet(step_output(step), part)
        window = {"train_rows": [train_from, train_to], "predict_rows": [predict_from, predict_to]}
        return StageResult({step_output(step): written}, metrics=window)

    def run(self, ctx: StageContext) -> StageResult:
        config = ctx.config
        plan = self._plan(config, ctx.storage)
        parts = []
        for step in plan.step_ids():
            try:
                parts.append(ctx.storage.read_parquet(step_output(step)))
            except FileNotFoundError:
                raise DataError(f"predict_rolling: {step_output(step)} is missing; rerun the stage") from None
        out = _assemble(pl.concat(parts), ctx.storage)
        if out.height != plan.rows - plan.start:
            raise DataError(
                f"predict_rolling: steps hold {out.height} rows, expected {plan.rows - plan.start}"
            )
        labels = ctx.storage.read_parquet(datasets.LABELS)[plan.start :]
        metrics: dict[str, Any] = {}
        everywhere = np.ones(out.height, dtype=bool)
        for label in config.train.labels:
            for algorithm in config.train.algorithms:
                name = model_name(label, algorithm.name)
                scores = out[name].cast(pl.Float64).fill_null(np.nan).to_numpy()
                metrics[name] = model_metrics(algorithm, labels[label], scores, everywhere)
        document = {
            "span": "rolling",
            "steps": plan.count,
            "rows_from": plan.start,
            "train_rows": plan.train_rows,
            "step_rows": plan.step_rows,
            "horizon": plan.horizon,
            "models": metrics,
        }
        ctx.log.info("joined %d steps, %d predicted rows", plan.count, out.height)
        return StageResult(
            {
                datasets.PREDICTIONS_ROLLING: ctx.storage.write_parquet(datasets.PREDICTIONS_ROLLING, out),
                datasets.METRICS_ROLLING: ctx.storage.write_json(datasets.METRICS_ROLLING, document),
            },
            metrics={"rolling": metrics, "steps": plan.count, "rows_from": plan.start},
        )
