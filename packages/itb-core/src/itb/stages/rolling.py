"""predict_rolling: walk-forward prediction, every step its own stage run (see ``Stage.steps``).

The plan and the steps are :mod:`itb.compute.walk_forward`. Each step writes
``rolling/step-NNNN.parquet``; the finalize run concatenates them in order into
``predictions_rolling.parquet`` (only predicted rows, all out of sample, so ``holdout`` is true) and
reports metrics over every predicted row in the manifest and ``metrics_rolling.json``.

Steps are pure functions of (data, config, step), so running them in parallel processes gives the
same bytes as :func:`predict_rolling_sequential`, the in-process reference the tests compare with.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from itb import datasets
from itb.compute.walk_forward import RollingPlan, assemble, make_plan, predict_step, step_index
from itb.config.models import PipelineConfig
from itb.errors import DataError
from itb.models.scoring import model_metrics
from itb.models.trained import model_name
from itb.stages.base import Stage, StageContext, StageResult
from itb.stages.state import read_state
from itb.stages.tables import read_training_table
from itb.storage.store import Storage


def step_output(step: str) -> str:
    return datasets.rolling_step(step)


def predict_rolling_sequential(config: PipelineConfig, storage: Storage, threads: int = 1) -> pl.DataFrame:
    """Every step in one process, in order: the reference the fanned-out stage must equal."""
    table = read_training_table(config, storage)
    plan = make_plan(config, table.df["timestamp"])
    parts = [predict_step(table, plan, k, config, threads) for k in range(plan.count)]
    return _assemble(pl.concat(parts), storage)


def _assemble(scores: pl.DataFrame, storage: Storage) -> pl.DataFrame:
    return assemble(scores, storage.read_parquet(datasets.MERGED, columns=["timestamp", "close"]))


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
        return {"train": train, "rolling": rolling, "horizon": config.label_horizon()}

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
