"""simulate: backtest the signals (on the held-out tail by default), optionally search a threshold grid.

Outputs: ``simulation.json`` (summary, per-month table, trade ledger, grid top-N table),
``simulation_equity.parquet`` (per row: price, position, equity, drawdown) and, unless
``simulate.report`` is off, ``report.html``: a self-contained page (inline SVG, no scripts) with the
price and trades, the score and thresholds, the equity curve against buy-and-hold and the grid.

The grid re-applies the threshold rule to the score column for every ``buy x sell`` pair
(``buy >= sell``); each pair is one vectorised backtest, run on a thread pool of the stage's threads.
That costs milliseconds per pair, far below starting a process per pair, so the grid is not fanned out.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import numpy as np
import polars as pl

from itb.config.models import PipelineConfig
from itb.errors import ConfigError
from itb.stages.backtest import Backtest, run_backtest
from itb.stages.base import Stage, StageContext, StageResult
from itb.stages.report import render_report

YEAR_MS = 365.25 * 86_400_000


def grid_score_column(config: PipelineConfig) -> str | None:
    """The column the grid thresholds apply to: explicit, or the input of the last threshold_rule."""
    grid = config.simulate.grid
    if grid is None:
        return None
    if grid.score_column:
        return grid.score_column
    for sset in reversed(config.signal_sets):
        if sset.generator == "threshold_rule":
            return str(sset.config.get("columns", "trade_score"))
    raise ConfigError("simulate.grid: no threshold_rule signal set; set simulate.grid.score_column")


def threshold_of(config: PipelineConfig) -> tuple[float, float] | None:
    for sset in reversed(config.signal_sets):
        if sset.generator == "threshold_rule":
            p = sset.config.get("parameters", {})
            return float(p["buy_signal_threshold"]), float(p["sell_signal_threshold"])
    return None


class SimulateStage(Stage):
    name = "simulate"
    deps = ("signals",)
    version = 2

    def outputs(self, config: PipelineConfig) -> list[str]:
        names = ["simulation.json", "simulation_equity.parquet"]
        return [*names, "report.html"] if config.simulate.report else names

    def config_section(self, config: PipelineConfig) -> Any:
        return {"simulate": config.simulate.model_dump(mode="json"), "freq": config.freq}

    def run(self, ctx: StageContext) -> StageResult:
        config, sim = ctx.config, ctx.config.simulate
        signals = ctx.storage.read_parquet("signals.parquet")
        if sim.span == "holdout":
            signals = signals.filter(pl.col("holdout"))
        bars_per_year = YEAR_MS / config.freq_ms
        prices = signals[sim.price_column].cast(pl.Float64).to_numpy()
        timestamps = signals["timestamp"].to_numpy()
        result = run_backtest(
            prices,
            signals[sim.buy_column].fill_null(False).to_numpy().astype(bool),
            signals[sim.sell_column].fill_null(False).to_numpy().astype(bool),
            timestamps,
            fee=sim.fee,
            slippage=sim.slippage,
            direction=sim.direction,
            bars_per_year=bars_per_year,
        )
        grid = self._grid(signals, config, prices, timestamps, bars_per_year, ctx.threads)
        span = [_iso(timestamps[0]), _iso(timestamps[-1])] if signals.height else None
        document: dict[str, Any] = {
            "span": sim.span,
            "range": span,
            "rows": signals.height,
            "fee": sim.fee,
            "slippage": sim.slippage,
            "direction": sim.direction,
            **result.as_dict(),
        }
        if grid is not None:
            document["grid"] = grid
        equity = pl.DataFrame(
            {
                "timestamp": signals["timestamp"],
                "close": prices,
                "position": result.position,
                "equity": result.equity,
                "drawdown": 1
                - result.equity / np.maximum.accumulate(np.concatenate([[1.0], result.equity]))[1:]
                if signals.height
                else np.empty(0),
            }
        )
        outputs = {
            "simulation.json": ctx.storage.write_json("simulation.json", document),
            "simulation_equity.parquet": ctx.storage.write_parquet("simulation_equity.parquet", equity),
        }
        if sim.report:
            score = grid_score_column(config) if sim.grid else _default_score(config, signals)
            html = render_report(
                title=f"{config.symbol} {config.freq} — backtest ({sim.span}, {sim.direction})",
                signals=signals,
                result=result,
                document=document,
                score_column=score if score in signals.columns else None,
                thresholds=threshold_of(config),
                price_column=sim.price_column,
            )
            outputs["report.html"] = ctx.storage.write_text("report.html", html)
        summary = dict(result.summary)
        if grid is not None and grid["top"]:
            summary["grid_best"] = grid["top"][0]
        ctx.log.info("backtest: %s", summary)
        return StageResult(outputs, metrics=summary)

    def _grid(
        self,
        signals: pl.DataFrame,
        config: PipelineConfig,
        prices: np.ndarray,  # type: ignore[type-arg]
        timestamps: np.ndarray,  # type: ignore[type-arg]
        bars_per_year: float,
        threads: int,
    ) -> dict[str, Any] | None:
        sim, grid = config.simulate, config.simulate.grid
        if grid is None:
            return None
        column = grid_score_column(config)
        assert column is not None
        if column not in signals.columns:
            raise ConfigError(f"simulate.grid: score column {column!r} is not in signals.parquet")
        score = signals[column].cast(pl.Float64).fill_null(np.nan).to_numpy()
        pairs = [(b, s) for b in grid.buy_thresholds for s in grid.sell_thresholds if b >= s]

        def evaluate(pair: tuple[float, float]) -> dict[str, Any]:
            b, s = pair
            with np.errstate(invalid="ignore"):
                outcome: Backtest = run_backtest(
                    prices, score >= b, score <= s, timestamps, fee=sim.fee, slippage=sim.slippage,
                    direction=sim.direction, bars_per_year=bars_per_year, with_ledger=False,
                )  # fmt: skip
            return {"buy_threshold": b, "sell_threshold": s, **outcome.summary}

        with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
            rows = list(pool.map(evaluate, pairs))

        def key(row: dict[str, Any]) -> tuple[bool, float]:
            value = row.get(grid.sort_by)
            return (value is not None, float(value) if value is not None else 0.0)

        ranked = sorted(rows, key=key, reverse=True)
        return {
            "score_column": column,
            "sort_by": grid.sort_by,
            "evaluated": len(rows),
            "skipped_pairs": len(grid.buy_thresholds) * len(grid.sell_thresholds) - len(rows),
            "top": ranked[: grid.top],
            "all": rows,
        }


def _default_score(config: PipelineConfig, signals: pl.DataFrame) -> str | None:
    for sset in reversed(config.signal_sets):
        columns = sset.config.get("columns")
        if sset.generator.startswith("threshold_rule") and columns:
            return str(columns if isinstance(columns, str) else columns[0])
    return None


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(int(ms) / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
