"""features: run every feature set over the merged table; output ``timestamp`` + feature columns."""

from __future__ import annotations

from typing import Any, ClassVar

import polars as pl

from itb import datasets
from itb.compute.features import apply_feature_sets
from itb.config.models import PipelineConfig
from itb.generators.user import user_fingerprints
from itb.stages.base import Stage, StageContext, StageResult


class FeaturesStage(Stage):
    name = "features"
    deps = ("merge",)
    code_packages: ClassVar[tuple[str, ...]] = ("itb.generators",)

    def outputs(self, config: PipelineConfig) -> list[str]:
        return [datasets.FEATURES]

    def config_section(self, config: PipelineConfig) -> Any:
        return [s.model_dump(mode="json") for s in config.feature_sets]

    def external_fingerprints(self, config: PipelineConfig) -> dict[str, str]:
        return user_fingerprints(config.feature_sets)

    def run(self, ctx: StageContext) -> StageResult:
        merged = ctx.storage.read_parquet(datasets.MERGED)
        features = apply_feature_sets(merged, ctx.config.feature_sets)
        out = pl.concat([merged.select("timestamp"), features], how="horizontal")
        ctx.log.info("generated %d feature columns over %d rows", features.width, out.height)
        return StageResult(
            {datasets.FEATURES: ctx.storage.write_parquet(datasets.FEATURES, out)},
            metrics={"columns": features.columns},
        )
