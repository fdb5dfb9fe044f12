"""Live mode: ``itb serve CONFIG`` without ``--replay`` runs until SIGTERM/SIGINT, one tick per candle.

A tick starts ``close_delay_s`` after a candle closes by the exchange's clock (``/api/v3/time``),
asks the exchange for every closed candle after the last one processed (paged; the forming candle is
never asked for: the request ends at the newest closed open time), and hands them to the same
engine, outputs and live log as replay (:func:`itb.serve.ticks.process_candles`). Ticks run one after
the other on one event loop; network calls never block it and each has a timeout. With several
symbols a tick fetches all of them concurrently (:meth:`LiveSymbol.fetch`: one round trip, through
one client and one request-weight budget per market), then processes them one after the other
(:meth:`LiveSymbol.process`); a failed fetch fails the tick before any symbol is processed.

No candle is lost: the last processed candle per symbol is the live log's
(:meth:`itb.serve.live_log.LiveLog.last_timestamp`). At start the engine is warmed with the candles
up to it and every candle closed since is processed in order, marked ``backfilled``; the same happens
after an exchange outage. A failed exchange call (:class:`~itb.serve.exchange.ExchangeError`) never
ends the service: it is logged, and the tick is tried again after a bounded backoff (or the
Retry-After of a 429/418), catching up what was missed. A closed candle the exchange does not serve
yet (late) is neither made up nor taken while forming: the tick processes what every source served
and asks again after ``late_retry_s``. A tick longer than a candle is logged with its timings.

``ITB_SERVE_CLOCK_SPEED`` (tests only) says how many exchange seconds pass per real second: against
the fake exchange's fast clock a 1m candle closes every second; the waits until a close are divided
by it, the close delay and timeouts are not.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import polars as pl

from itb.compute.merge import SourceFrame, merge_sources
from itb.config.models import PipelineConfig
from itb.download.endpoints import Endpoints, Market, binance_interval, resolve_endpoints
from itb.errors import ConfigError
from itb.serve.engine import SymbolEngine, serve_spec
from itb.serve.exchange import ExchangeError, ExchangeFeed, Kline
from itb.serve.health import start_health
from itb.serve.live_log import LiveLog
from itb.serve.log_format import EVENTS_LOGGER, event, log_candles
from itb.serve.metrics import ServeMetrics
from itb.serve.model_watch import ModelWatch
from itb.serve.output_sets import ConfiguredOutputs
from itb.serve.ticks import RowSink, process_candles
from itb.storage.store import Storage
from itb.timefmt import iso_ms
from itb.trade.http import trade_routes_for
from itb.trade.trader import BinanceTrader

log = logging.getLogger("itb.serve")
events_log = logging.getLogger(EVENTS_LOGGER)

#: Test-only: exchange seconds per real second (the fake exchange's fast clock).
ENV_CLOCK_SPEED = "ITB_SERVE_CLOCK_SPEED"


@dataclass(frozen=True)
class LiveSettings:
    #: Seconds after a candle's close before its tick asks for it.
    close_delay_s: float = 1.0
    #: Timeout of every exchange call (s).
    timeout_s: float = 5.0
    #: First retry delay after a failed tick (s), doubled per failure up to ``backoff_max_s``.
    backoff_s: float = 1.0
    backoff_max_s: float = 30.0
    #: Exchange seconds per real second (1 outside tests; see :data:`ENV_CLOCK_SPEED`).
    clock_speed: float = 1.0
    #: Real seconds before asking again for a closed candle the exchange did not serve yet (late).
    late_retry_s: float = 0.5

    @classmethod
    def from_env(cls, close_delay_s: float, environ: dict[str, str] | None = None) -> LiveSettings:
        env = os.environ if environ is None else environ
        text = env.get(ENV_CLOCK_SPEED, "1")
        try:
            speed = float(text)
        except ValueError:
            speed = 0.0
        if not speed > 0:
            raise ConfigError(f"{ENV_CLOCK_SPEED}: {text!r} is not a positive number")
        if close_delay_s < 0:
            raise ConfigError(f"--close-delay-s: {close_delay_s:g} must not be negative")
        return cls(close_delay_s=close_delay_s, clock_speed=speed)


@dataclass
class TickOutcome:
    """What one symbol's catch-up processed."""

    symbol: str
    processed: int = 0
    backfilled: int = 0
    fetch_ms: float = 0.0
    compute_ms: float = 0.0
    close_lag_ms: float | None = None
    last: int | None = None
    #: The newest closed candle was not served yet (late): ask again soon, not at the next close.
    late: bool = False
    #: The rows processed, as logged (timings final): for the metrics and the candle events.
    rows: pl.DataFrame | None = None


@dataclass(frozen=True)
class Fetched:
    """One symbol's exchange answers for a tick, before anything was processed."""

    #: Open time of the newest closed candle; the last processed one (or where to start).
    newest: int
    anchor: int
    #: Whether the engine's windows were warm (else the frames include their history).
    warm: bool
    #: One frame per data source; empty when nothing closed since the last processed candle.
    frames: tuple[pl.DataFrame, ...]
    fetch_s: float


@dataclass
class LiveStatus:
    """The service's health, read by ``/healthz`` and ``/readyz``: monotonic clock times."""

    freq_ms: int
    clock_speed: float = 1.0
    started: float = field(default_factory=time.monotonic)
    last_ok: float | None = None
    last_error: str | None = None
    warm: bool = False
    ticks: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def healthy(self, now: float | None = None) -> tuple[bool, str]:
        """Healthy while the last good tick is younger than two candles (real seconds)."""
        now = time.monotonic() if now is None else now
        limit = 2 * self.freq_ms / 1000 / self.clock_speed
        since = self.started if self.last_ok is None else self.last_ok
        age = now - since
        if age <= limit:
            return True, f"last good tick {age:.1f} s ago"
        what = "no good tick yet" if self.last_ok is None else f"last good tick {age:.1f} s ago"
        cause = f"; last error: {self.last_error}" if self.last_error else ""
        return False, f"{what} (limit {limit:g} s, two candles){cause}"


class LiveSymbol:
    """One symbol's engine, live log and outputs, fed from the exchange."""

    def __init__(self, config: PipelineConfig, sinks: Sequence[RowSink], outputs: ConfiguredOutputs) -> None:
        self.config = config
        self.symbol = config.symbol
        self.storage = Storage(config.data_root)
        self.spec = serve_spec(config)
        self.watch = ModelWatch(config, self.storage, self.spec)
        serving = self.watch.load()
        self.engine = SymbolEngine(self.spec, serving.models, serving.key)
        self.log = LiveLog(self.storage, config.symbol)
        self.sinks, self.outputs = sinks, outputs
        state = self.log.state()
        if state is not None:
            outputs.restore(state.outputs)
        self.sources: list[tuple[Kline, str, str]] = []  # (series, label, column prefix)
        for source in config.data_sources:
            interval, interval_ms = binance_interval(config.freq)
            series = Kline(source.market, source.symbol.upper(), interval, interval_ms)
            self.sources.append((series, f"{source.market}/{source.symbol}", source.column_prefix))
        #: Each source's last candle as fetched: the start of the next merge (fills a gap after it).
        self._tails: dict[str, pl.DataFrame] = {}

    @property
    def markets(self) -> set[Market]:
        return {series.market for series, _, _ in self.sources}

    async def catch_up(
        self,
        feeds: dict[Market, ExchangeFeed],
        now_ms: int,
        now_clock: float,
        speed: float,
        clock: Callable[[], float],
    ) -> TickOutcome:
        """Process every candle closed by ``now_ms`` (exchange time, read at ``now_clock``) after the
        last processed one; raises :class:`ExchangeError` having processed nothing."""
        return self.process(await self.fetch(feeds, now_ms, clock), now_ms, now_clock, speed, clock)

    async def fetch(
        self, feeds: dict[Market, ExchangeFeed], now_ms: int, clock: Callable[[], float]
    ) -> Fetched:
        """Ask the exchange for what :meth:`process` needs at ``now_ms``: the candles closed after the
        last processed one (and the warm-up history on the first tick). Changes nothing but the
        models (switched here, between candles); raises :class:`ExchangeError`."""
        freq = self.spec.freq_ms
        newest = (now_ms // freq) * freq - freq  # open time of the newest closed candle
        anchor = self.engine.last_timestamp
        warm = anchor is not None
        if anchor is None:
            logged = self.log.last_timestamp()
            anchor = logged if logged is not None else newest - freq
            start = anchor - (self.spec.candle_rows + self.spec.score_rows) * freq + freq
        else:
            start = anchor + freq
        if newest <= anchor:
            return Fetched(newest, anchor, warm, (), 0.0)
        retrained = self.watch.poll(self.engine.model_key)
        if retrained is not None:  # at a candle boundary, never within a step
            log.info("%s: new models %s from the next candle on", self.symbol, retrained.key)
            self.engine.use_models(retrained.models, retrained.key)
        started = clock()
        fetched = [await feeds[s.market].closed_klines(s, start, newest) for s, _, _ in self.sources]
        return Fetched(newest, anchor, warm, tuple(fetched), clock() - started)

    def process(
        self, fetched: Fetched, now_ms: int, now_clock: float, speed: float, clock: Callable[[], float]
    ) -> TickOutcome:
        """Merge, step, deliver and log what :meth:`fetch` got. ``fetch_ms`` is the fetch's own time
        and ``latency_ms`` starts here: waiting behind other symbols' processing shows in
        ``close_lag_ms`` only."""
        outcome = TickOutcome(self.symbol)
        if not fetched.frames:
            return outcome
        freq, newest, anchor = self.spec.freq_ms, fetched.newest, fetched.anchor
        in_hand = clock()
        tick = in_hand - fetched.fetch_s
        frames = []
        served = newest  # the newest candle every source served (a late one is not made up by the merge)
        for (_, label, prefix), frame in zip(self.sources, fetched.frames, strict=True):
            tail = self._tails.get(label)
            window = frame if tail is None else pl.concat([tail, frame]).unique("timestamp", keep="last")
            if window.is_empty():
                return outcome  # nothing closed yet from this source: the next tick asks again
            frames.append(SourceFrame(label, window.sort("timestamp"), prefix))
            served = min(served, int(window["timestamp"].max()))  # type: ignore[arg-type]
        outcome.late = served < newest
        merged, _ = merge_sources(frames, self.config.freq, gaps=self.config.merge.gaps)
        if not fetched.warm:
            history = merged.filter(pl.col("timestamp") <= anchor)
            if history.height:
                self.engine.warm_up(history)
        todo = merged.filter((pl.col("timestamp") > anchor) & (pl.col("timestamp") <= served))
        for (_, label, _), frame in zip(self.sources, fetched.frames, strict=True):
            if frame.height:
                self._tails[label] = frame.tail(1)
        if todo.is_empty():
            return outcome
        stamps = todo["timestamp"]
        # Each candle's close on the local clock, from the exchange time read at ``now_clock``.
        closes = now_clock - ((now_ms - (stamps + freq)) / 1000 / speed).cast(pl.Float64)
        rows = process_candles(
            self.engine, self.log, self.outputs, self.sinks, todo, symbol=self.symbol,
            backfilled=stamps < newest, tick=tick, in_hand=in_hand, closes=closes, clock=clock,
        )  # fmt: skip
        outcome.processed = rows.height
        outcome.backfilled = int(rows["backfilled"].sum())
        outcome.fetch_ms = (in_hand - tick) * 1000
        outcome.compute_ms = float(rows["compute_ms"].sum())
        outcome.close_lag_ms = (clock() - float(closes[-1])) * 1000
        outcome.last = int(stamps[-1])
        outcome.rows = rows
        return outcome

    def close(self) -> None:
        self.log.flush()
        self.outputs.close()


class LiveService:
    """Every served symbol, one tick at a time, until :attr:`stop` is set."""

    def __init__(
        self,
        symbols: list[LiveSymbol],
        endpoints: Endpoints,
        settings: LiveSettings,
        weight_limit: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not symbols:
            raise ConfigError("itb serve: no symbol to serve")
        self.symbols = symbols
        self.endpoints = endpoints
        self.settings = settings
        self.weight_limit = weight_limit
        self.clock = clock
        self.freq_ms = symbols[0].spec.freq_ms
        self.status = LiveStatus(self.freq_ms, settings.clock_speed)
        self.metrics = ServeMetrics()
        for sym in symbols:
            self.metrics.start_symbol(sym.symbol, sym.engine.model_key, sym.outputs.sink)
        self.stop = asyncio.Event()
        self._failures = 0
        #: The last exchange time read and the local clock then: schedules the next tick.
        self._server_clock: tuple[int, float] | None = None

    async def run(self) -> None:
        """Tick until :attr:`stop` is set; the tick running when it is set is finished first."""
        markets: set[Market] = set().union(*(s.markets for s in self.symbols))
        feeds = {
            m: ExchangeFeed(m, self.endpoints, self.settings.timeout_s, self.weight_limit) for m in markets
        }
        clock_feed = feeds["spot"] if "spot" in feeds else next(iter(feeds.values()))
        try:
            while not self.stop.is_set():
                wait = await self._tick(feeds, clock_feed)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), timeout=max(0.0, wait))
        finally:
            for feed in feeds.values():
                await feed.close()
            for sym in self.symbols:
                sym.close()

    async def _tick(self, feeds: dict[Market, ExchangeFeed], clock_feed: ExchangeFeed) -> float:
        """One tick; returns the real seconds to wait before the next."""
        s = self.settings
        started = self.clock()
        try:
            now_ms = await clock_feed.server_time()
            now_clock = self.clock()
            self._server_clock = (now_ms, now_clock)
            # Every symbol's candles are fetched concurrently (one exchange round trip for all of
            # them, not one per symbol), then processed one symbol after the other.
            answers = await asyncio.gather(
                *(sym.fetch(feeds, now_ms, self.clock) for sym in self.symbols), return_exceptions=True
            )
            failed = [a for a in answers if isinstance(a, BaseException)]
            if failed:
                raise failed[0]
            fetches = [a for a in answers if isinstance(a, Fetched)]
            outcomes = []
            for sym, fetched in zip(self.symbols, fetches, strict=True):
                # In a worker thread: the event loop keeps answering /healthz, /metrics and the
                # traders' /stop while a symbol computes or its outputs talk to the exchange or
                # Telegram. Ticks still never overlap: the next one starts after this await.
                out = await asyncio.to_thread(
                    sym.process, fetched, now_ms, now_clock, s.clock_speed, self.clock
                )
                if out.rows is not None:  # logged: counted and logged as events right away
                    self.metrics.observe_rows(out.symbol, out.rows, sym.engine.model_key)
                    log_candles(events_log, out.symbol, out.rows)
                outcomes.append(out)
        except ExchangeError as exc:
            if exc.kind == "refused" and self.status.last_ok is None:
                # A 4xx on the first tick is the config's (an unknown symbol), not an outage.
                raise ConfigError(f"itb serve: the exchange refused the first request: {exc}") from None
            self._failures += 1
            self.status.errors[exc.kind] = self.status.errors.get(exc.kind, 0) + 1
            self.status.last_error = str(exc)
            # Bounded backoff, but never past the next candle's tick; Retry-After is obeyed as told.
            delay = min(s.backoff_max_s, s.backoff_s * 2.0 ** (self._failures - 1), self._until_next_tick())
            if exc.retry_after is not None:
                delay = exc.retry_after
            self.metrics.observe_exchange_error(exc.kind)
            log.warning(
                "exchange error (%s): %s; trying again in %.2f s", exc.kind, exc, delay,
                extra=event("exchange_error", kind=exc.kind, retry_in_s=round(delay, 3)),
            )  # fmt: skip
            return delay
        self._failures = 0
        self.status.ticks += 1
        self.status.last_ok = self.clock()
        self.status.warm = True
        took = self.clock() - started
        for out in outcomes:
            if out.processed:
                lag = f"{out.close_lag_ms:.0f}" if out.close_lag_ms is not None else "-"
                log.info(
                    "%s %s: %d candle(s) processed (%d backfilled), fetch %.0f ms, compute %.1f ms, "
                    "close lag %s ms", out.symbol, iso_ms(out.last or 0), out.processed, out.backfilled,
                    out.fetch_ms, out.compute_ms, lag, extra=event("caught_up", **_timings(out)),
                )  # fmt: skip
        candle_s = self.freq_ms / 1000 / s.clock_speed
        slow = took > candle_s
        self.metrics.observe_tick(took, slow, {m: f.pacer.used for m, f in feeds.items()})
        events_log.info(
            "tick: %.3f s", took,
            extra=event("tick", tick_s=round(took, 4), slow=slow, symbols=len(outcomes),
                        processed=sum(out.processed for out in outcomes)),
        )  # fmt: skip
        if slow:
            timings = {out.symbol: _timings(out) for out in outcomes}
            log.warning(
                "slow tick: %.2f s, longer than a candle (%.2f s); per symbol: %s", took, candle_s,
                "; ".join(f"{k} fetch {v['fetch_ms']} ms, compute {v['compute_ms']} ms"
                          for k, v in timings.items()),
                extra=event("slow_tick", tick_s=round(took, 3), candle_s=candle_s, symbols=timings),
            )  # fmt: skip
        late = [out.symbol for out in outcomes if out.late]
        if late:
            log.info("%s: the newest closed candle is not served yet; asking again", ", ".join(late))
            return min(s.late_retry_s, self._until_next_tick())
        return self._until_next_tick()

    def _until_next_tick(self) -> float:
        """Real seconds until the next candle closes (by the last exchange time read) plus the delay."""
        s = self.settings
        if self._server_clock is None:
            return s.backoff_s
        now_ms, now_clock = self._server_clock
        estimate = now_ms + (self.clock() - now_clock) * s.clock_speed * 1000
        next_close = (int(estimate) // self.freq_ms + 1) * self.freq_ms
        return (next_close - estimate) / 1000 / s.clock_speed + s.close_delay_s


def _timings(out: TickOutcome) -> dict[str, str | float | int | None]:
    """One symbol's part of a tick, for a log event."""
    return {"symbol": out.symbol, "processed": out.processed, "backfilled": out.backfilled, "last": out.last,
            "fetch_ms": round(out.fetch_ms, 3), "compute_ms": round(out.compute_ms, 3),
            "close_lag_ms": None if out.close_lag_ms is None else round(out.close_lag_ms, 3)}  # fmt: skip


def run_live(
    configs: list[PipelineConfig],
    settings: LiveSettings,
    sinks_for: Callable[[str], Sequence[RowSink]],
    outputs_for: Callable[[PipelineConfig], ConfiguredOutputs],
    http: tuple[str, int] | None = None,
) -> int:
    """Serve ``configs`` live until SIGTERM/SIGINT; returns the exit code (0 on a signal)."""
    endpoints = resolve_endpoints(configs[0].download)
    freqs = {c.freq_ms for c in configs}
    if len(freqs) > 1:
        raise ConfigError("itb serve: every served symbol needs the same freq")
    symbols = [LiveSymbol(c, sinks_for(c.symbol), outputs_for(c)) for c in configs]
    service = LiveService(symbols, endpoints, settings, configs[0].download.weight_limit)
    traders = [out for s in symbols for _, out in s.outputs.outputs if isinstance(out, BinanceTrader)]
    trading = trade_routes_for(configs[0], traders) if http is not None else None

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, service.stop.set)
        runner = (
            None
            if http is None
            else await start_health(
                service.status.healthy,
                lambda: service.status.warm,
                *http,
                metrics=service.metrics.exposition,
                extra=trading,
            )
        )
        log.info("serving %s live from %s", ", ".join(c.symbol for c in configs), endpoints.api_url)
        try:
            await service.run()
        finally:
            if runner is not None:
                await runner.cleanup()
        log.info("stopped; state persisted")

    asyncio.run(main())
    return 0
