"""features: run every feature set over the merged table; output ``timestamp`` + feature columns."""

from __future__ import annotations

from typing import Any

import polars as pl

from itb.config.models import PipelineConfig
from itb.errors import DataError
from itb.generators.registry import get_generator
from itb.stages.base import Stage, StageContext, StageResult


def apply_sets(df: pl.DataFrame, sets: list[Any], kind: str, where: str) -> pl.DataFrame:
    """Run generator sets over ``df``; returns only their new columns. Shared by features and labels."""
    new: list[pl.DataFrame] = []
    for i, gset in enumerate(sets):
        generator = get_generator(kind, gset.generator)  # type: ignore[arg-type]
        out = generator.fn(df, generator.validate(gset.config), gset.column_prefix, gset.feature_prefix)
        if out.height != df.height:
            raise DataError(f"{where}[{i}] ({gset.generator}): {out.height} rows, expected {df.height}")
        new.append(out)
    return pl.concat(new, how="horizontal") if new else pl.DataFrame()


class FeaturesStage(Stage):
    name = "features"
    deps = ("merge",)

    def outputs(self, config: PipelineConfig) -> list[str]:
        return ["features.parquet"]

    def config_section(self, config: PipelineConfig) -> Any:
        return [s.model_dump(mode="json") for s in config.feature_sets]

    def external_fingerprints(self, config: PipelineConfig) -> dict[str, str]:
        from itb.generators.user import source_fingerprint

        return {
            s.generator: source_fingerprint(s.generator) for s in config.feature_sets if ":" in s.generator
        }

    def run(self, ctx: StageContext) -> StageResult:
        merged = ctx.storage.read_parquet("merged.parquet")
        features = apply_sets(merged, ctx.config.feature_sets, "feature", "feature_sets")
        out = pl.concat([merged.select("timestamp"), features], how="horizontal")
        ctx.log.info("generated %d feature columns over %d rows", features.width, out.height)
        return StageResult(
            {"features.parquet": ctx.storage.write_parquet("features.parquet", out)},
            metrics={"columns": features.columns},
        )
