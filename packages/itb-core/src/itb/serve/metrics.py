"""``/metrics``: what the live service did, in the Prometheus text format (prometheus-client).

Every metric lives in the :class:`ServeMetrics` instance's own ``CollectorRegistry``, never the
process-global one, so two services (or two tests) in one process count separately. The live loop
(:mod:`itb.serve.live`) reports to it at three points, and nothing else writes it:

- a tick that finished (:meth:`ServeMetrics.observe_tick`): its duration, whether it was slow (longer
  than a candle), the rows each symbol processed (their backfilled flags and close lags), each
  symbol's serving models and each market's used request weight;
- an exchange error (:meth:`ServeMetrics.observe_exchange_error`), by the kind
  :class:`itb.serve.exchange.ExchangeError` classified it as;
- the Telegram outbox depth, read from the outbox when scraped (:meth:`ServeMetrics.start_symbol`).

The names (all prefixed ``itb_serve_``) are listed in :data:`METRIC_HELP` and the README.
"""

from __future__ import annotations

from typing import get_args

import polars as pl
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest

from itb.serve.exchange import ErrorKind
from itb.serve.messages import MessageSink
from itb.serve.telegram import TelegramSink

#: Close-to-persisted lag buckets (s): the goal is 2 s; a late or backfilled candle lands far right.
LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)
#: Tick duration buckets (s): a 1m tick of one symbol takes milliseconds, 20 symbols well under 1 s.
TICK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

#: Every metric's name (as exposed) and meaning: the README's table is this one.
METRIC_HELP = {
    "itb_serve_ticks_total": (
        "Ticks that finished: every served symbol caught up to the newest closed candle."
    ),
    "itb_serve_slow_ticks_total": (
        "Ticks that took longer than one candle (each is also logged with its timings)."
    ),
    "itb_serve_tick_duration_seconds": (
        "Wall time of a finished tick (exchange calls, compute, outputs, log writes)."
    ),
    "itb_serve_candles_total": "Candles processed and persisted to the live log, by symbol.",
    "itb_serve_backfilled_candles_total": (
        "Of those, candles processed after a later one had closed (restart, outage)."
    ),
    "itb_serve_close_lag_seconds": (
        "Candle close to its row persisted, by symbol; live candles only (not backfilled)."
    ),
    "itb_serve_exchange_errors_total": (
        "Failed exchange calls by kind (rate_limited, banned, server, timeout, ...)."
    ),
    "itb_serve_exchange_weight_used": (
        "Request weight used this minute, as the exchange reported it, by market (one budget, all symbols)."
    ),
    "itb_serve_telegram_outbox_depth": "Telegram messages waiting in the persisted outbox, by symbol.",
    "itb_serve_model_info": (
        "The trained models serving each symbol (label model_key); changes at a candle boundary."
    ),
}


def _help(name: str) -> str:
    return METRIC_HELP[name]


class ServeMetrics:
    """The live service's metrics, in a registry of their own (:attr:`registry`)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.ticks = Counter("itb_serve_ticks", _help("itb_serve_ticks_total"), registry=r)
        self.slow_ticks = Counter("itb_serve_slow_ticks", _help("itb_serve_slow_ticks_total"), registry=r)
        self.tick_duration = Histogram(
            "itb_serve_tick_duration_seconds", _help("itb_serve_tick_duration_seconds"),
            buckets=TICK_BUCKETS, registry=r,
        )  # fmt: skip
        self.candles = Counter("itb_serve_candles", _help("itb_serve_candles_total"), ["symbol"], registry=r)
        self.backfilled = Counter(
            "itb_serve_backfilled_candles", _help("itb_serve_backfilled_candles_total"), ["symbol"],
            registry=r,
        )  # fmt: skip
        self.close_lag = Histogram(
            "itb_serve_close_lag_seconds", _help("itb_serve_close_lag_seconds"), ["symbol"],
            buckets=LAG_BUCKETS, registry=r,
        )  # fmt: skip
        self.exchange_errors = Counter(
            "itb_serve_exchange_errors", _help("itb_serve_exchange_errors_total"), ["kind"], registry=r
        )
        for kind in get_args(ErrorKind):  # every kind shows from the start, at 0
            self.exchange_errors.labels(kind)
        self.weight = Gauge(
            "itb_serve_exchange_weight_used", _help("itb_serve_exchange_weight_used"), ["market"], registry=r
        )
        self.outbox = Gauge(
            "itb_serve_telegram_outbox_depth", _help("itb_serve_telegram_outbox_depth"), ["symbol"],
            registry=r,
        )  # fmt: skip
        self.model = Info("itb_serve_model", _help("itb_serve_model_info"), ["symbol"], registry=r)

    def start_symbol(self, symbol: str, model_key: str, sink: MessageSink | None) -> None:
        """Show ``symbol`` (at 0 candles) and its models before the first tick; with a Telegram
        ``sink``, its outbox depth is read from the outbox itself when scraped."""
        self.candles.labels(symbol)
        self.backfilled.labels(symbol)
        self.close_lag.labels(symbol)
        self.model.labels(symbol).info({"model_key": model_key})
        if isinstance(sink, TelegramSink):
            outbox = sink.outbox
            self.outbox.labels(symbol).set_function(lambda: float(outbox.depth))

    def observe_rows(self, symbol: str, rows: pl.DataFrame, model_key: str) -> None:
        """``rows``: one symbol's rows of a tick as logged (``backfilled``, ``close_lag_ms``)."""
        if rows.height:
            backfilled = int(rows["backfilled"].sum())
            self.candles.labels(symbol).inc(rows.height)
            self.backfilled.labels(symbol).inc(backfilled)
            lag = self.close_lag.labels(symbol)
            # Live candles: normally one per tick (a backfill's lags measure the outage, not us).
            for ms in rows.filter(~pl.col("backfilled"))["close_lag_ms"].to_list():
                lag.observe(ms / 1000)
        self.model.labels(symbol).info({"model_key": model_key})

    def observe_tick(self, seconds: float, slow: bool, weights: dict[str, int]) -> None:
        """A finished tick: its duration, whether it was slow, each market's used weight."""
        self.ticks.inc()
        self.tick_duration.observe(seconds)
        if slow:
            self.slow_ticks.inc()
        for market, used in weights.items():
            self.weight.labels(market).set(used)

    def observe_exchange_error(self, kind: ErrorKind) -> None:
        self.exchange_errors.labels(kind).inc()

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format (what ``/metrics`` answers)."""
        return generate_latest(self.registry)
