"""download: fetch klines from Binance into ``<data_root>/klines/<market>/<symbol>/<freq>/``.

Applicable only when a data source has no explicit ``path`` (bundled samples and user files need no
download). It always runs when applicable: it is incremental, so a run with nothing new is cheap.
The validation report (rows added, ranges, the exchange's own gaps) goes into the run manifest as the
stage's metrics; the partitions written are its outputs, with their fingerprints.
"""

from __future__ import annotations

from typing import Any

from itb.config.models import PipelineConfig
from itb.stages.base import Stage, StageContext, StageResult


class DownloadStage(Stage):
    name = "download"
    deps = ()
    always_run = True

    def applicable(self, config: PipelineConfig) -> bool:
        return any(source.path is None for source in config.data_sources)

    def outputs(self, config: PipelineConfig) -> list[str]:
        return []

    def config_section(self, config: PipelineConfig) -> Any:
        return [s.model_dump(mode="json") for s in config.data_sources if s.path is None]

    def run(self, ctx: StageContext) -> StageResult:
        from itb.download import download_all  # the Binance client is a slow import: only when used

        result = download_all(ctx.config, ctx.storage)
        return StageResult(outputs=dict(result.written), metrics={"download": result.as_dict()})
