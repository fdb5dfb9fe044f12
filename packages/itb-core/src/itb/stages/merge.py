"""merge: all sources onto one continuous time raster at ``freq`` (see :mod:`itb.compute.merge`).

The stage reads the sources, merges them, and records the :class:`~itb.compute.merge.MergeReport`
(metrics ``report``) and what in it deserves a look (metrics ``warnings``). It fails when a source
misses more than ``merge.max_filled_share`` of the rows: a model over mostly invented candles
learns nothing real.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from itb import datasets
from itb.compute.merge import SourceFrame, check_filled_share, merge_sources, merge_warnings
from itb.config.models import PipelineConfig
from itb.stages.base import Stage, StageContext, StageResult
from itb.storage.sources import read_source, resolve_source, source_fingerprint


def _ms(value: datetime | None) -> int | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1000)


class MergeStage(Stage):
    name = "merge"
    deps = ("download",)

    def outputs(self, config: PipelineConfig) -> list[str]:
        return [datasets.MERGED]

    def config_section(self, config: PipelineConfig) -> Any:
        return {
            "freq": config.freq,
            "sources": [s.model_dump(mode="json") for s in config.data_sources],
            "merge": config.merge.model_dump(mode="json"),
        }

    def external_fingerprints(self, config: PipelineConfig) -> dict[str, str]:
        return {
            url: source_fingerprint(url)
            for source in config.data_sources
            for url in resolve_source(source, config)
        }

    def run(self, ctx: StageContext) -> StageResult:
        config = ctx.config
        sources: list[SourceFrame] = []
        external: dict[str, dict[str, Any]] = {}
        for source in config.data_sources:
            df, fingerprint = read_source(source, config)
            label = source.path or f"{source.market}/{source.symbol}"
            external[label] = {"fingerprint": fingerprint, "rows": df.height}
            sources.append(SourceFrame(label, df, source.column_prefix))
        merged, report = merge_sources(
            sources,
            config.freq,
            gaps=config.merge.gaps,
            start_ms=_ms(config.merge.start),
            end_ms=_ms(config.merge.end),
        )
        warnings = merge_warnings(report)
        for warning in warnings:
            ctx.log.warning("%s", warning.message)
        check_filled_share(report, config.merge.max_filled_share)
        ctx.log.info("merged %d rows from %d source(s)", merged.height, len(sources))
        written = ctx.storage.write_parquet(datasets.MERGED, merged)
        metrics = {
            "report": report.model_dump(mode="json"),
            "warnings": [w.model_dump(mode="json") for w in warnings],
        }
        return StageResult({datasets.MERGED: written}, metrics=metrics, external_inputs=external)
