"""labels: run every label set over the merged table; output ``timestamp`` + label columns.

When only new merged rows arrived, the stage appends: the last ``horizon`` stored rows (whose future
was not known yet) and the new rows are recomputed (:mod:`itb.stages.incremental`).
"""

from __future__ import annotations

from typing import Any, ClassVar

import polars as pl

from itb import datasets
from itb.compute.labels import apply_label_sets, positive_shares
from itb.config.models import PipelineConfig
from itb.generators.lookback import lookback_of_sets
from itb.generators.user import user_fingerprints
from itb.stages.base import Stage, StageContext, StageResult
from itb.stages.incremental import basis_key, generated_table, log_record


class LabelsStage(Stage):
    name = "labels"
    deps = ("merge",)
    code_packages: ClassVar[tuple[str, ...]] = ("itb.generators",)

    def outputs(self, config: PipelineConfig) -> list[str]:
        return [datasets.LABELS]

    def config_section(self, config: PipelineConfig) -> Any:
        return [s.model_dump(mode="json") for s in config.label_sets]

    def external_fingerprints(self, config: PipelineConfig) -> dict[str, str]:
        return user_fingerprints(config.label_sets)

    def run(self, ctx: StageContext) -> StageResult:
        sets = ctx.config.label_sets

        def compute(merged: pl.DataFrame) -> pl.DataFrame:
            return pl.concat([merged.select("timestamp"), apply_label_sets(merged, sets)], how="horizontal")

        basis = basis_key(self, ctx.config)
        made = generated_table(
            self, ctx.config, ctx.storage, basis=basis, input_name=datasets.MERGED,
            output_name=datasets.LABELS, compute=compute, history=lookback_of_sets(sets, "label"),
            what="the label sets", ahead=ctx.config.label_horizon(),
        )  # fmt: skip
        log_record(ctx.log, self.name, made.record)
        written = made.write(ctx.storage, datasets.LABELS)
        out = made.tail if not made.appended else ctx.storage.read_parquet(datasets.LABELS)
        shares = positive_shares(out.drop("timestamp"))
        ctx.log.info("generated labels %s; positive share %s", out.columns[1:], shares)
        return StageResult(
            {datasets.LABELS: written},
            metrics={"positive_share": shares},
            incremental=made.record,
            state=made.state(basis, written),
        )
