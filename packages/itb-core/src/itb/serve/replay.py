"""Replay: the serving loop driven by a simulated clock over stored klines, as fast as it can.

Each candle of ``[FROM, TO)`` is one tick: its close is "now"; the tick takes the candle (``fetch``),
steps the engine (``compute``), hands the row to the outputs and logs it
(:class:`~itb.serve.live_log.LiveLog`). The candles are the config's data sources merged exactly as
the merge stage merges them, so the replayed rows must equal the batch outputs (see
:mod:`itb.serve.audit`). A replay continues after the last logged candle: restarted, it neither
loses nor repeats one.

Before each tick the data root's models are polled (:class:`~itb.serve.model_watch.ModelWatch`):
retrained models are used from the next candle on, and ``model_key`` shows which scored a row.

Timings per row (ms, wall clock): ``fetch_ms`` taking the candle, ``compute_ms`` the engine step,
``latency_ms`` candle in hand to row persisted, ``close_lag_ms`` tick start (the simulated close) to
row persisted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from itb.compute.merge import SourceFrame, merge_sources
from itb.config.models import PipelineConfig
from itb.errors import DataError
from itb.serve.engine import SymbolEngine, serve_spec
from itb.serve.live_log import LiveLog
from itb.serve.model_watch import ModelWatch
from itb.serve.output_sets import ConfiguredOutputs
from itb.serve.ticks import RowSink, process_candles
from itb.storage.sources import read_source
from itb.storage.store import Storage
from itb.timefmt import iso_ms


@dataclass
class ReplayReport:
    """What one symbol's replay did, with its per-candle compute times."""

    symbol: str
    processed: int = 0
    #: Candles of the range logged before this replay (a restart continues after them).
    already_logged: int = 0
    first: int | None = None
    last: int | None = None
    seconds: float = 0.0
    compute_ms: list[float] = field(default_factory=list)
    #: Times retrained models were picked up between two candles.
    model_switches: int = 0
    signal_counts: dict[str, int] = field(default_factory=dict)

    def percentile(self, q: float) -> float | None:
        return float(np.percentile(self.compute_ms, q)) if self.compute_ms else None

    @property
    def candles_per_second(self) -> float | None:
        return self.processed / self.seconds if self.seconds > 0 else None


def read_candles(config: PipelineConfig) -> pl.DataFrame:
    """The config's sources merged as the merge stage does (``merge.start``, not ``merge.end``:
    a replay may run past the batch range)."""
    sources = []
    for source in config.data_sources:
        frame, _ = read_source(source, config)
        label = source.path or f"{source.market}/{source.symbol}"
        sources.append(SourceFrame(label, frame, source.column_prefix))
    start = config.merge.start
    start_ms = None if start is None else int(start.timestamp() * 1000)
    merged, _ = merge_sources(sources, config.freq, gaps=config.merge.gaps, start_ms=start_ms)
    return merged


def replay_symbol(
    config: PipelineConfig,
    storage: Storage,
    start_ms: int,
    end_ms: int,
    sinks: Sequence[RowSink] = (),
    outputs: ConfiguredOutputs | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> ReplayReport:
    """Replay ``config.symbol``'s candles opening in ``[start_ms, end_ms)`` into its live log.

    Each row goes to ``sinks`` and ``outputs`` (with a ``symbol`` key) before it is logged; the
    outputs' state is logged with it and restored from the last logged state first, so after a
    restart an output continues where it was (a candle whose row was not logged yet is processed,
    and delivered, again: at least once)."""
    outputs = outputs or ConfiguredOutputs()
    spec = serve_spec(config)
    watch = ModelWatch(config, storage, spec)
    serving = watch.load()
    candles = read_candles(config)
    stamp = pl.col("timestamp")
    if candles.filter((stamp >= start_ms) & (stamp < end_ms)).height == 0:
        first_ms, last_ms = int(candles["timestamp"][0]), int(candles["timestamp"][-1])
        raise DataError(
            f"{config.symbol}: no candles to replay in {iso_ms(start_ms)} .. {iso_ms(end_ms)}: the config's "
            f"data sources cover {iso_ms(first_ms)} .. {iso_ms(last_ms)}"
        )
    log = LiveLog(storage, config.symbol)
    report = ReplayReport(config.symbol)
    last = log.last_timestamp()
    state = log.state()
    if state is not None:
        outputs.restore(state.outputs)
    first = start_ms if last is None or last < start_ms else last + spec.freq_ms
    report.already_logged = candles.filter((stamp >= start_ms) & (stamp < min(first, end_ms))).height
    todo = candles.filter((stamp >= first) & (stamp < end_ms))
    engine = SymbolEngine(spec, serving.models, serving.key)
    history = candles.filter(stamp < first).tail(spec.candle_rows + spec.score_rows)
    if history.height:
        engine.warm_up(history)
    started = clock()
    for i in range(todo.height):  # one tick per candle: the live loop, not a loop over a frame's rows
        retrained = watch.poll(engine.model_key)
        if retrained is not None:  # at a candle boundary, never within a step
            engine.use_models(retrained.models, retrained.key)
            report.model_switches += 1
        tick = clock()
        candle = todo.slice(i, 1)
        in_hand = clock()
        row = process_candles(
            engine, log, outputs, sinks, candle, symbol=config.symbol, backfilled=False,
            tick=tick, in_hand=in_hand, closes=pl.Series([tick]), clock=clock,
        )  # fmt: skip
        report.compute_ms.append(float(row["compute_ms"][0]))
        for name, value in row.row(0, named=True).items():
            if isinstance(value, bool) and name != "backfilled":
                report.signal_counts[name] = report.signal_counts.get(name, 0) + value
    log.flush()
    report.seconds = clock() - started
    report.processed = todo.height
    if todo.height:
        report.first, report.last = int(todo["timestamp"][0]), int(todo["timestamp"][-1])
    return report
