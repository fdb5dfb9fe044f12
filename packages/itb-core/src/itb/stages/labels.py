"""labels: run every label set over the merged table; output ``timestamp`` + label columns."""

from __future__ import annotations

from typing import Any

import polars as pl

from itb.config.models import PipelineConfig
from itb.stages.base import Stage, StageContext, StageResult
from itb.stages.features import apply_sets


def label_horizon(config: PipelineConfig) -> int:
    """The longest look-ahead of any label set (rows); train keeps this gap before the holdout."""
    horizons = [int(s.config.get("horizon", 0)) for s in config.label_sets]
    return max(horizons, default=0)


class LabelsStage(Stage):
    name = "labels"
    deps = ("merge",)

    def outputs(self, config: PipelineConfig) -> list[str]:
        return ["labels.parquet"]

    def config_section(self, config: PipelineConfig) -> Any:
        return [s.model_dump(mode="json") for s in config.label_sets]

    def external_fingerprints(self, config: PipelineConfig) -> dict[str, str]:
        from itb.generators.user import user_fingerprints

        return user_fingerprints(config.label_sets)

    def run(self, ctx: StageContext) -> StageResult:
        merged = ctx.storage.read_parquet("merged.parquet")
        labels = apply_sets(merged, ctx.config.label_sets, "label", "label_sets")
        out = pl.concat([merged.select("timestamp"), labels], how="horizontal")
        shares = {c: round(float(labels[c].cast(pl.Float64).mean() or 0.0), 6) for c in labels.columns}  # type: ignore[arg-type]
        ctx.log.info("generated labels %s; positive share %s", labels.columns, shares)
        return StageResult(
            {"labels.parquet": ctx.storage.write_parquet("labels.parquet", out)},
            metrics={"positive_share": shares},
        )
