"""labels: run every label set over the merged table; output ``timestamp`` + label columns."""

from __future__ import annotations

from typing import Any, ClassVar

import polars as pl

from itb import datasets
from itb.compute.labels import apply_label_sets, positive_shares
from itb.config.models import PipelineConfig
from itb.stages.base import Stage, StageContext, StageResult


class LabelsStage(Stage):
    name = "labels"
    deps = ("merge",)
    code_packages: ClassVar[tuple[str, ...]] = ("itb.generators",)

    def outputs(self, config: PipelineConfig) -> list[str]:
        return [datasets.LABELS]

    def config_section(self, config: PipelineConfig) -> Any:
        return [s.model_dump(mode="json") for s in config.label_sets]

    def external_fingerprints(self, config: PipelineConfig) -> dict[str, str]:
        from itb.generators.user import user_fingerprints

        return user_fingerprints(config.label_sets)

    def run(self, ctx: StageContext) -> StageResult:
        merged = ctx.storage.read_parquet(datasets.MERGED)
        labels = apply_label_sets(merged, ctx.config.label_sets)
        out = pl.concat([merged.select("timestamp"), labels], how="horizontal")
        shares = positive_shares(labels)
        ctx.log.info("generated labels %s; positive share %s", labels.columns, shares)
        return StageResult(
            {datasets.LABELS: ctx.storage.write_parquet(datasets.LABELS, out)},
            metrics={"positive_share": shares},
        )
