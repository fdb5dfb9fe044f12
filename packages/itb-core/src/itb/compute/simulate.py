"""Simulation of a signals table: the backtest document, the equity table and the threshold grid.

The grid re-applies the threshold rule to the score column for every ``buy x sell`` pair
(``buy >= sell``); each pair is one vectorised backtest, run on a thread pool of ``threads``. That
costs milliseconds per pair, far below starting a process per pair, so the grid is not fanned out.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from numpy.typing import NDArray

from itb.backtest.vectorised import Backtest, run_backtest
from itb.config.models import PipelineConfig
from itb.errors import ConfigError
from itb.timefmt import iso_ms

YEAR_MS = 365.25 * 86_400_000


@dataclass(frozen=True)
class Simulation:
    """What the simulate stage writes: the span simulated, the backtest, its document and equity."""

    signals: pl.DataFrame  # the simulated rows (the held-out tail by default)
    result: Backtest
    document: dict[str, Any]  # simulation.json
    equity: pl.DataFrame  # per row: price, position, equity, drawdown


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
    """The buy and sell thresholds of the last threshold_rule signal set, if any."""
    for sset in reversed(config.signal_sets):
        if sset.generator == "threshold_rule":
            p = sset.config.get("parameters", {})
            return float(p["buy_signal_threshold"]), float(p["sell_signal_threshold"])
    return None


def default_score_column(config: PipelineConfig) -> str | None:
    """The score the report plots without a grid: the input of the last threshold rule."""
    for sset in reversed(config.signal_sets):
        columns = sset.config.get("columns")
        if sset.generator.startswith("threshold_rule") and columns:
            return str(columns if isinstance(columns, str) else columns[0])
    return None


def simulate(signals: pl.DataFrame, config: PipelineConfig, threads: int = 1) -> Simulation:
    """Backtest ``signals`` per ``config.simulate`` (and search its grid, if any)."""
    sim = config.simulate
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
    grid = search_grid(signals, config, prices, timestamps, bars_per_year, threads)
    span = [iso_ms(timestamps[0]), iso_ms(timestamps[-1])] if signals.height else None
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
            "drawdown": 1 - result.equity / np.maximum.accumulate(np.concatenate([[1.0], result.equity]))[1:]
            if signals.height
            else np.empty(0),
        }
    )
    return Simulation(signals, result, document, equity)


def search_grid(
    signals: pl.DataFrame,
    config: PipelineConfig,
    prices: NDArray[np.float64],
    timestamps: NDArray[np.int64],
    bars_per_year: float,
    threads: int,
) -> dict[str, Any] | None:
    """Every threshold pair of ``simulate.grid`` backtested; None without a grid."""
    sim, grid = config.simulate, config.simulate.grid
    if grid is None:
        return None
    column = grid_score_column(config)
    assert column is not None
    if column not in signals.columns:
        raise ConfigError(f"simulate.grid: score column {column!r} is not in the signals table")
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
