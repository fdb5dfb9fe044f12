"""simulate: backtest the signals (on the held-out tail by default), optionally search a threshold grid.

Outputs: ``simulation.json`` (summary, per-month table, trade ledger, grid top-N table),
``simulation_equity.parquet`` (per row: price, position, equity, drawdown) and, unless
``simulate.report`` is off, ``report.html`` (see :mod:`itb.report.html`). The computation is
:func:`itb.compute.simulate.simulate`.
"""

from __future__ import annotations

from typing import Any

from itb import datasets
from itb.compute.simulate import default_score_column, grid_score_column, simulate, threshold_of
from itb.config.models import PipelineConfig
from itb.report.html import render_report
from itb.stages.base import Stage, StageContext, StageResult


class SimulateStage(Stage):
    name = "simulate"
    deps = ("signals",)
    version = 2

    def outputs(self, config: PipelineConfig) -> list[str]:
        names = [datasets.SIMULATION, datasets.SIMULATION_EQUITY]
        return [*names, datasets.REPORT] if config.simulate.report else names

    def config_section(self, config: PipelineConfig) -> Any:
        return {"simulate": config.simulate.model_dump(mode="json"), "freq": config.freq}

    def run(self, ctx: StageContext) -> StageResult:
        config, sim = ctx.config, ctx.config.simulate
        outcome = simulate(ctx.storage.read_parquet(datasets.SIGNALS), config, ctx.threads)
        outputs = {
            datasets.SIMULATION: ctx.storage.write_json(datasets.SIMULATION, outcome.document),
            datasets.SIMULATION_EQUITY: ctx.storage.write_parquet(datasets.SIMULATION_EQUITY, outcome.equity),
        }
        if sim.report:
            score = grid_score_column(config) if sim.grid else default_score_column(config)
            html = render_report(
                title=f"{config.symbol} {config.freq} — backtest ({sim.span}, {sim.direction})",
                signals=outcome.signals,
                result=outcome.result,
                document=outcome.document,
                score_column=score if score in outcome.signals.columns else None,
                thresholds=threshold_of(config),
                price_column=sim.price_column,
            )
            outputs[datasets.REPORT] = ctx.storage.write_text(datasets.REPORT, html)
        summary = dict(outcome.result.summary)
        grid = outcome.document.get("grid")
        if grid is not None and grid["top"]:
            summary["grid_best"] = grid["top"][0]
        ctx.log.info("backtest: %s", summary)
        return StageResult(outputs, metrics=summary)
