"""train: one model per label x algorithm (``gb`` LightGBM, ``lc`` logistic regression), saved with
metadata. Scores are later named ``<label>_<algorithm>``.

Determinism: fixed seed, ``deterministic=True``, row-wise histograms and an explicit thread count
(default one thread per stage process: on small machines more threads than free cores is many times
slower, not faster).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import polars as pl

from itb.config.models import PipelineConfig
from itb.errors import DataError
from itb.stages.base import Stage, StageContext, StageResult
from itb.stages.dataset import load_training_table
from itb.stages.models import GB_DEFAULTS, fit_model, lightgbm_params, model_files, model_name
from itb.storage.store import Storage, WriteResult

DEFAULT_PARAMS = GB_DEFAULTS  # kept for callers of the first version
FORCED = ("seed", "deterministic", "num_threads", "verbose", "force_row_wise")
__all__ = ["DEFAULT_PARAMS", "FORCED", "TrainStage", "lightgbm_params", "model_name", "training_rows"]


def training_rows(df: pl.DataFrame, features: list[str], label: str) -> pl.DataFrame:
    """Rows a model may learn from: a known label and every feature known (past indicator warm-up)."""
    return df.filter(pl.col(label).is_not_null() & pl.all_horizontal(pl.col(features).is_not_null()))


def label_values(rows: pl.DataFrame, label: str, regression: bool) -> np.ndarray:  # type: ignore[type-arg]
    series = rows[label]
    return series.cast(pl.Float64).to_numpy() if regression else series.cast(pl.Boolean).to_numpy()


class TrainStage(Stage):
    name = "train"
    deps = ("features", "labels")
    version = 3  # 3: gb defaults are stumps (GB_DEFAULTS), so models trained by 2 are stale

    def outputs(self, config: PipelineConfig) -> list[str]:
        return [
            path
            for label in config.train.labels
            for a in config.train.algorithms
            for path in model_files(model_name(label, a.name), a)
        ]

    def config_section(self, config: PipelineConfig) -> Any:
        section = config.train.model_dump(mode="json")
        section.pop("threads", None)  # threads change speed, not the model
        return section

    # With several models, each is one step (its own process or container, in parallel); the
    # finalize run only records the model files. One model trains in one run, as before.

    def steps(self, config: PipelineConfig, storage: Storage) -> list[str]:
        names = [model_name(lb, a.name) for lb in config.train.labels for a in config.train.algorithms]
        return names if len(names) > 1 else []

    def step_outputs(self, config: PipelineConfig, step: str) -> list[str]:
        return [f for f in self.outputs(config) if f.startswith(f"models/{step}.")]

    def run_step(self, ctx: StageContext, step: str) -> StageResult:
        return self._train(ctx, only=step)

    def run(self, ctx: StageContext) -> StageResult:
        if not self.steps(ctx.config, ctx.storage):
            return self._train(ctx, only=None)
        outputs = {}
        for name in self.outputs(ctx.config):
            size = ctx.storage.size(name)
            if size is None:
                raise DataError(f"train: {name} is missing; rerun the stage")
            outputs[name] = WriteResult(name, ctx.storage.fingerprint(name), size)
        return StageResult(outputs, metrics={"models": len(self.steps(ctx.config, ctx.storage))})

    def _train(self, ctx: StageContext, only: str | None) -> StageResult:
        config = ctx.config
        table = load_training_table(config, ctx.storage)
        train_rows = table.df[: table.train_end]
        threads = config.train.threads or ctx.threads
        outputs = {}
        metrics: dict[str, Any] = {}
        data_fingerprint = {n: ctx.storage.fingerprint(n) for n in ("features.parquet", "labels.parquet")}
        for label in config.train.labels:
            wanted = [a for a in config.train.algorithms if only in (None, model_name(label, a.name))]
            if not wanted:
                continue
            usable = training_rows(train_rows, table.features, label)
            if usable.height < 100:
                raise DataError(
                    f"train: features.parquet/labels.parquet: only {usable.height} usable rows for label "
                    f"{label!r} (rows 0..{table.train_end} of {table.df.height} end the label horizon before "
                    f"the holdout at row {table.holdout_start}; rows need every feature and the label): "
                    "widen the data range or lower train.holdout"
                )
            x = usable.select(table.features).to_numpy().astype(np.float64, copy=False)
            for algorithm in wanted:
                name = model_name(label, algorithm.name)
                y = label_values(usable, label, algorithm.regression)
                started = time.perf_counter()
                model = fit_model(
                    name, algorithm, table.features, x, y, seed=config.train.seed, threads=threads
                )
                seconds = round(time.perf_counter() - started, 3)
                ctx.log.info(
                    "trained %s (%s) on %d rows in %.2fs (%d threads)",
                    name, algorithm.algo, usable.height, seconds, threads,
                )  # fmt: skip
                outputs.update(
                    model.save(
                        ctx.storage,
                        {
                            "label": label,
                            "train_rows": usable.height,
                            "train_range_ms": [int(usable["timestamp"][0]), int(usable["timestamp"][-1])],
                            "target_mean": round(float(np.mean(y)), 6),
                            "data_fingerprint": data_fingerprint,
                        },
                    )
                )
                metrics[name] = {"train_rows": usable.height, "seconds": seconds, "algo": algorithm.algo}
        return StageResult(outputs, metrics=metrics)
