"""simulate: backtest the signals (on the held-out tail by default) and write ``simulation.json``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import polars as pl

from itb.config.models import PipelineConfig
from itb.stages.backtest import backtest
from itb.stages.base import Stage, StageContext, StageResult


class SimulateStage(Stage):
    name = "simulate"
    deps = ("signals",)

    def outputs(self, config: PipelineConfig) -> list[str]:
        return ["simulation.json"]

    def config_section(self, config: PipelineConfig) -> Any:
        return config.simulate.model_dump(mode="json")

    def run(self, ctx: StageContext) -> StageResult:
        sim = ctx.config.simulate
        signals = ctx.storage.read_parquet("signals.parquet")
        if sim.span == "holdout":
            signals = signals.filter(pl.col("holdout"))
        result = backtest(
            signals, price=sim.price_column, buy=sim.buy_column, sell=sim.sell_column, fee=sim.fee
        )
        summary = {k: v for k, v in result.items() if k != "ledger"}
        span = [_iso(signals["timestamp"][0]), _iso(signals["timestamp"][-1])] if signals.height else None
        document = {"span": sim.span, "range": span, "rows": signals.height, "fee": sim.fee, **result}
        ctx.log.info("backtest: %s", summary)
        return StageResult(
            {"simulation.json": ctx.storage.write_json("simulation.json", document)}, metrics=summary
        )


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
