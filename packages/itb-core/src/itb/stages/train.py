"""train: one LightGBM binary classifier per label x algorithm, deterministic, saved with metadata.

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
from itb.stages.lgbm import import_lightgbm

DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_data_in_leaf": 200,
    "lambda_l2": 1.0,
    "num_boost_round": 200,
}
FORCED = ("seed", "deterministic", "num_threads", "verbose", "force_row_wise")


def model_name(label: str, algorithm: str) -> str:
    return f"{label}_{algorithm}"


def lightgbm_params(user: dict[str, Any], seed: int, threads: int) -> tuple[dict[str, Any], int]:
    params = {**DEFAULT_PARAMS, **user}
    rounds = int(params.pop("num_boost_round", params.pop("n_estimators", 200)))
    params.update(seed=seed, deterministic=True, num_threads=threads, verbose=-1, force_row_wise=True)
    return params, rounds


class TrainStage(Stage):
    name = "train"
    deps = ("features", "labels")

    def outputs(self, config: PipelineConfig) -> list[str]:
        names = [model_name(lb, a.name) for lb in config.train.labels for a in config.train.algorithms]
        return [f"models/{n}{ext}" for n in names for ext in (".txt", ".json")]

    def config_section(self, config: PipelineConfig) -> Any:
        section = config.train.model_dump(mode="json")
        section.pop("threads", None)  # threads change speed, not the model
        return section

    def run(self, ctx: StageContext) -> StageResult:
        lgb = import_lightgbm()

        config = ctx.config
        table = load_training_table(config, ctx.storage)
        train_rows = table.df[: table.train_end]
        threads = config.train.threads or ctx.threads
        outputs = {}
        metrics: dict[str, Any] = {}
        data_fingerprint = {n: ctx.storage.fingerprint(n) for n in ("features.parquet", "labels.parquet")}
        for label in config.train.labels:
            usable = train_rows.filter(
                pl.col(label).is_not_null() & pl.all_horizontal(pl.col(table.features).is_not_null())
            )
            if usable.height < 100:
                raise DataError(f"train: only {usable.height} usable rows for label {label!r}")
            x = usable.select(table.features).to_numpy().astype(np.float64)
            y = usable[label].cast(pl.Int8).to_numpy()
            for algorithm in config.train.algorithms:
                name = model_name(label, algorithm.name)
                params, rounds = lightgbm_params(algorithm.params, config.train.seed, threads)
                started = time.perf_counter()
                dataset = lgb.Dataset(x, y, feature_name=table.features, free_raw_data=True)
                booster = lgb.train(params, dataset, num_boost_round=rounds)
                seconds = round(time.perf_counter() - started, 3)
                ctx.log.info(
                    "trained %s on %d rows in %.2fs (%d threads)", name, usable.height, seconds, threads
                )
                outputs[f"models/{name}.txt"] = ctx.storage.write_text(
                    f"models/{name}.txt", booster.model_to_string()
                )
                meta = {
                    "name": name,
                    "algorithm": algorithm.model_dump(mode="json"),
                    "label": label,
                    "features": table.features,
                    "params": params,
                    "num_boost_round": rounds,
                    "train_rows": usable.height,
                    "train_range_ms": [int(usable["timestamp"][0]), int(usable["timestamp"][-1])],
                    "positive_share": round(float(y.mean()), 6),
                    "data_fingerprint": data_fingerprint,
                    "lightgbm_version": lgb.__version__,
                }
                outputs[f"models/{name}.json"] = ctx.storage.write_json(f"models/{name}.json", meta)
                metrics[name] = {"train_rows": usable.height, "seconds": seconds}
        return StageResult(outputs, metrics=metrics)
