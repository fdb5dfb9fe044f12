"""signals: apply the signal sets in order to the predictions (each may use the previous ones)."""

from __future__ import annotations

from typing import Any, ClassVar

import polars as pl

from itb import datasets
from itb.compute.signals import apply_signal_sets, signal_counts
from itb.config.models import PipelineConfig
from itb.generators.lookback import lookback_of_sets
from itb.stages.base import Stage, StageContext, StageResult
from itb.stages.incremental import TableOutcome, basis_key, generated_table, log_record


def predictions_name(config: PipelineConfig) -> str:
    """Walk-forward predictions when ``rolling`` is configured (every row out of sample), else predict's."""
    return datasets.PREDICTIONS_ROLLING if config.rolling is not None else datasets.PREDICTIONS


class SignalsStage(Stage):
    name = "signals"
    deps = ("predict", "predict_rolling")
    code_packages: ClassVar[tuple[str, ...]] = ("itb.generators",)

    def outputs(self, config: PipelineConfig) -> list[str]:
        return [datasets.SIGNALS]

    def config_section(self, config: PipelineConfig) -> Any:
        sets = [s.model_dump(mode="json") for s in config.signal_sets]
        return sets if config.rolling is None else {"signal_sets": sets, "source": predictions_name(config)}

    def external_fingerprints(self, config: PipelineConfig) -> dict[str, str]:
        from itb.generators.user import user_fingerprints

        return user_fingerprints(config.signal_sets)

    def run(self, ctx: StageContext) -> StageResult:
        sets = ctx.config.signal_sets
        basis = basis_key(self, ctx.config)
        made = generated_table(
            self, ctx.config, ctx.storage, basis=basis, input_name=predictions_name(ctx.config),
            output_name=datasets.SIGNALS, compute=lambda rows: apply_signal_sets(rows, sets),
            history=lookback_of_sets(sets, "signal"), what="the signal sets",
        )  # fmt: skip
        log_record(ctx.log, self.name, made.record)
        written = made.write(ctx.storage, datasets.SIGNALS)
        counts = signal_counts(made.tail) if not made.appended else stored_signal_counts(ctx, made)
        ctx.log.info("signal counts: %s", counts)
        return StageResult(
            {datasets.SIGNALS: written},
            metrics={"signal_counts": counts},
            incremental=made.record,
            state=made.state(basis, written),
        )


def stored_signal_counts(ctx: StageContext, made: TableOutcome) -> dict[str, int]:
    """:func:`signal_counts` of the whole appended table, reading only its boolean columns."""
    columns = [c for c, dtype in made.tail.schema.items() if dtype == pl.Boolean]
    return signal_counts(ctx.storage.read_parquet(datasets.SIGNALS, columns=columns))
