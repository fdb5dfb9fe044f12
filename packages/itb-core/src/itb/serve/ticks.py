"""One tick's work, shared by replay and live mode: new candles in, rows delivered and logged.

:func:`process_candles` steps the engine over the new candles (consecutive, right after the last
one), hands each row to the sinks and outputs (with a ``symbol`` key), then appends the rows with
their timings to the live log (which writes the state after them). The timings are on one clock
(seconds, e.g. :func:`time.perf_counter`): ``fetch_ms`` tick start to candles in hand, ``compute_ms``
the engine step (shared equally by the candles of one step), ``latency_ms`` candles in hand to rows
persisted, ``close_lag_ms`` each candle's close to its row persisted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import polars as pl

from itb.serve.engine import SymbolEngine
from itb.serve.live_log import LiveLog
from itb.serve.output_sets import ConfiguredOutputs


class RowSink(Protocol):
    """Where each processed row goes besides the log (an :class:`itb.outputs.Output` fits)."""

    def send(self, row: Mapping[str, Any]) -> None: ...


def process_candles(
    engine: SymbolEngine,
    log: LiveLog,
    outputs: ConfiguredOutputs,
    sinks: Sequence[RowSink],
    candles: pl.DataFrame,
    *,
    symbol: str,
    backfilled: bool | pl.Series,
    tick: float,
    in_hand: float,
    closes: pl.Series,
    clock: Callable[[], float],
) -> pl.DataFrame:
    """Process ``candles`` and return their logged rows (with ``model_key``, ``backfilled`` and the
    timings; ``latency_ms``/``close_lag_ms`` final, as the log holds them after :meth:`LiveLog.amend_last`).

    ``tick`` and ``in_hand`` are clock values (the tick's start, the candles in hand); ``closes``
    holds each candle's close on the same clock (it may lie before ``tick``: a backfilled candle)."""
    rows = engine.step(candles)
    computed = clock()
    step_ms = (computed - in_hand) * 1000
    if isinstance(backfilled, bool):
        backfilled = pl.repeat(backfilled, rows.height, eager=True)
    rows = rows.with_columns(
        model_key=pl.lit(engine.model_key),
        backfilled=backfilled.cast(pl.Boolean).alias("backfilled"),
        fetch_ms=pl.lit((in_hand - tick) * 1000),
        compute_ms=pl.lit(step_ms / rows.height),
        latency_ms=pl.lit(step_ms),
        close_lag_ms=((computed - closes) * 1000).cast(pl.Float64).alias("close_lag_ms"),
    )
    # The paper trader fills at the next open; trader_binance's dry run fills limits on high/low.
    prices = candles.select(pl.col("open", "high", "low").cast(pl.Float64)).iter_rows(named=True)
    for row, candle in zip(rows.iter_rows(named=True), prices, strict=True):  # outputs act per candle
        delivered = {"symbol": symbol, **candle, **row}
        for sink in (*sinks, *(out for _, out in outputs.outputs)):
            sink.send(delivered)
    outputs.end_batch()  # e.g. one summary for the backfilled candles' notifications
    log.append(rows, engine.model_key, outputs.snapshots())
    persisted = clock()
    latency_ms, close_lag_ms = (persisted - in_hand) * 1000, ((persisted - closes) * 1000).cast(pl.Float64)
    log.amend_last({"latency_ms": latency_ms, "close_lag_ms": close_lag_ms.to_list()})
    return rows.with_columns(latency_ms=pl.lit(latency_ms), close_lag_ms=close_lag_ms.alias("close_lag_ms"))
