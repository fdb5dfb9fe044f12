"""signals: apply the signal sets in order to the predictions (each may use the previous ones)."""

from __future__ import annotations

from typing import Any

import polars as pl

from itb.config.models import PipelineConfig
from itb.generators.registry import get_generator
from itb.stages.base import Stage, StageContext, StageResult


def apply_signal_sets(df: pl.DataFrame, config: PipelineConfig) -> pl.DataFrame:
    for sset in config.signal_sets:
        generator = get_generator("signal", sset.generator)
        df = df.with_columns(generator.fn(df, generator.validate(sset.config), "", ""))
    return df


def predictions_name(config: PipelineConfig) -> str:
    """Walk-forward predictions when ``rolling`` is configured (every row out of sample), else predict's."""
    return "predictions_rolling.parquet" if config.rolling is not None else "predictions.parquet"


class SignalsStage(Stage):
    name = "signals"
    deps = ("predict", "predict_rolling")

    def outputs(self, config: PipelineConfig) -> list[str]:
        return ["signals.parquet"]

    def config_section(self, config: PipelineConfig) -> Any:
        sets = [s.model_dump(mode="json") for s in config.signal_sets]
        return sets if config.rolling is None else {"signal_sets": sets, "source": predictions_name(config)}

    def external_fingerprints(self, config: PipelineConfig) -> dict[str, str]:
        from itb.generators.user import user_fingerprints

        return user_fingerprints(config.signal_sets)

    def run(self, ctx: StageContext) -> StageResult:
        predictions = ctx.storage.read_parquet(predictions_name(ctx.config))
        out = apply_signal_sets(predictions, ctx.config)
        counts = {c: int(out[c].sum()) for c in out.columns if out[c].dtype == pl.Boolean and c != "holdout"}
        ctx.log.info("signal counts: %s", counts)
        return StageResult(
            {"signals.parquet": ctx.storage.write_parquet("signals.parquet", out)},
            metrics={"signal_counts": counts},
        )
