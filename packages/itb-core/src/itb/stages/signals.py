"""signals: apply the signal sets in order to the predictions (each may use the previous ones)."""

from __future__ import annotations

from typing import Any, ClassVar

from itb import datasets
from itb.compute.signals import apply_signal_sets, signal_counts
from itb.config.models import PipelineConfig
from itb.stages.base import Stage, StageContext, StageResult


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
        predictions = ctx.storage.read_parquet(predictions_name(ctx.config))
        out = apply_signal_sets(predictions, ctx.config.signal_sets)
        counts = signal_counts(out)
        ctx.log.info("signal counts: %s", counts)
        return StageResult(
            {datasets.SIGNALS: ctx.storage.write_parquet(datasets.SIGNALS, out)},
            metrics={"signal_counts": counts},
        )
