"""features: run every feature set over the merged table; output ``timestamp`` + feature columns.

When only new merged rows arrived, the stage appends: it computes the new rows from the declared
lookback rows before them (:mod:`itb.stages.incremental`), else it recomputes every row.
"""

from __future__ import annotations

from typing import Any, ClassVar

import polars as pl

from itb import datasets
from itb.compute.features import apply_feature_sets
from itb.config.models import PipelineConfig
from itb.generators.lookback import lookback_of_sets
from itb.generators.user import user_fingerprints
from itb.stages.base import Stage, StageContext, StageResult
from itb.stages.incremental import basis_key, generated_table, log_record


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
        sets = ctx.config.feature_sets

        def compute(merged: pl.DataFrame) -> pl.DataFrame:
            return pl.concat([merged.select("timestamp"), apply_feature_sets(merged, sets)], how="horizontal")

        basis = basis_key(self, ctx.config)
        made = generated_table(
            self, ctx.config, ctx.storage, basis=basis, input_name=datasets.MERGED,
            output_name=datasets.FEATURES, compute=compute,
            history=lookback_of_sets(sets, "feature"), what="the feature sets",
        )  # fmt: skip
        log_record(ctx.log, self.name, made.record)
        columns = made.tail.columns[1:]
        ctx.log.info("generated %d feature columns over %d rows", len(columns), made.rows)
        written = made.write(ctx.storage, datasets.FEATURES)
        return StageResult(
            {datasets.FEATURES: written},
            metrics={"columns": columns},
            incremental=made.record,
            state=made.state(basis, written),
        )
