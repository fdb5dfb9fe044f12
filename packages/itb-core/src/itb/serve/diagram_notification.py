"""``diagram_notification_model``: a PNG of the recent price, score and thresholds on a schedule
(the reference project's output, with its config keys).

Config (``output_sets[].config``)::

    {"diagram_notification": true,           # false turns the output off
     "notification_freq": "1D",              # send when a candle closes a period of this length
     "score_column_names": "trade_score",    # a name or a list: the first one is drawn
     "score_thresholds": [-0.015, 0.015],    # horizontal lines on the score axis
     "resampling_freq": "5min", "nrows": 288}  # bars of this length, this many of them

The schedule: a diagram is made for the candle whose close is a multiple of ``notification_freq``
since the epoch (``1D``: the candle closing at 00:00 UTC, ``1h``: every hour's last candle), so it
goes out once per period, also for a candle processed late (a backfilled one). Its key is
``diagram:<symbol>:<timestamp>``: made again after a restart, it is not sent twice.

The output keeps the recent candles it needs (``nrows * resampling_freq``) in memory. On the first
candle after a start it reads what is missing from the live log (``live/<SYMBOL>/*.parquet``), so a
restarted service draws the same window as one that never stopped; nothing of it needs persisting.
Pictures go to the service's :class:`~itb.serve.messages.MessageSink` (``sendPhoto`` through the
persisted Telegram outbox, or a file under the data root named on the console).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator

from itb.config.models import as_list, parse_freq, span_ms
from itb.serve.diagram_chart import BAR_COLUMNS, render_png, resample
from itb.serve.live_log import LiveLog
from itb.serve.messages import MessageSink
from itb.storage.store import Storage
from itb.timefmt import utc_day, utc_minute


class DiagramConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    diagram_notification: bool = Field(default=True, description="False turns the output off.")
    notification_freq: str = Field(
        default="1D", description="Send a diagram when a candle closes a period of this length."
    )
    score_column_names: list[str] = Field(
        min_length=1, description="The score to draw (a name or a list; the first one is drawn)."
    )
    score_thresholds: list[float] = Field(
        default_factory=list, description="Horizontal lines on the score axis (e.g. the band edges)."
    )
    resampling_freq: str = Field(default="5min", description="Length of one bar of the diagram.")
    nrows: int = Field(default=288, ge=1, le=10_000, description="Bars in the diagram.")

    @field_validator("score_column_names", mode="before")
    @classmethod
    def _listed(cls, value: Any) -> Any:
        return as_list(value)

    @field_validator("notification_freq", "resampling_freq")
    @classmethod
    def _frequency(cls, value: str) -> str:
        parse_freq(value)  # raises ValueError with the accepted forms
        return value

    @property
    def window_ms(self) -> int:
        """The time the diagram covers."""
        return self.nrows * span_ms(self.resampling_freq)


def is_due(timestamp_ms: int, candle_ms: int, every_ms: int) -> bool:
    """Whether the candle opening at ``timestamp_ms`` closes a period of ``every_ms`` (epoch based)."""
    return (timestamp_ms + candle_ms) % every_ms == 0


def diagram_caption(symbol: str, timestamp_ms: int, candle_ms: int, score: str, bars: int) -> str:
    return f"{symbol} {utc_minute(timestamp_ms + candle_ms)} UTC: close and {score}, {bars} bars"


class DiagramNotifier:
    """The output: :meth:`send` each candle's row; on schedule a PNG goes to ``sink``."""

    def __init__(
        self, config: DiagramConfig, symbol: str, candle_ms: int, sink: MessageSink, storage: Storage | None
    ) -> None:
        self.config = config
        self.symbol = symbol
        self.candle_ms = candle_ms
        self.sink = sink
        self.storage = storage
        self.score = config.score_column_names[0]
        self.every_ms = span_ms(config.notification_freq)
        self.bar_ms = span_ms(config.resampling_freq)
        #: The time the diagram covers (``nrows`` bars), worked out once: it is used on every candle.
        self.window_ms = config.window_ms
        #: Recent candles as (timestamp, high, low, close, score), oldest first.
        self.recent: deque[tuple[int, float, float, float, float | None]] = deque()
        self._seeded = False
        #: Diagrams made (for the console and tests).
        self.sent = 0

    def _seed(self, storage: Storage, before_ms: int) -> None:
        """Fill the window from the live log's rows before ``before_ms`` (once, after a start)."""
        self._seeded = True
        log = LiveLog(storage, self.symbol)
        first = before_ms - self.window_ms
        days = [d for d in log.days() if utc_day(first) <= d <= utc_day(before_ms)]
        frames = []
        for day in days:
            frame = log.read_day(day)
            if self.score in frame.columns:
                frames.append(frame.select(candle_columns(frame, self.score)))
        if not frames:
            return
        rows = (
            pl.concat(frames)
            .filter((pl.col("timestamp") >= first) & (pl.col("timestamp") < before_ms))
            .sort("timestamp")
        )
        self.recent.extendleft(reversed(list(rows.iter_rows())))

    def send(self, row: Mapping[str, Any]) -> None:
        if not self.config.diagram_notification:
            return
        stamp = int(row["timestamp"])
        if not self._seeded and self.storage is not None:
            self._seed(self.storage, stamp)
        close = float(row["close"])
        score = row.get(self.score)
        self.recent.append((
            stamp, float(row.get("high", close)), float(row.get("low", close)), close,
            None if score is None else float(score),
        ))  # fmt: skip
        while self.recent and self.recent[0][0] <= stamp - self.window_ms:
            self.recent.popleft()
        if is_due(stamp, self.candle_ms, self.every_ms):
            self.post(stamp)

    def post(self, stamp: int) -> None:
        """Draw the window now and hand the PNG to the sink."""
        rows = pl.DataFrame(
            list(self.recent), schema=dict(zip(BAR_COLUMNS, (pl.Int64, *[pl.Float64] * 4), strict=True)),
            orient="row",
        )  # fmt: skip
        bars = resample(rows, self.bar_ms, self.config.nrows)
        title = f"{self.symbol}: close and {self.score} to {utc_minute(stamp + self.candle_ms)} UTC"
        png = render_png(bars, title, self.config.score_thresholds)
        caption = diagram_caption(self.symbol, stamp, self.candle_ms, self.score, bars.height)
        self.sink.post_photo(png, caption, f"diagram:{self.symbol}:{stamp}")
        self.sent += 1

    def close(self) -> None:
        """Nothing to release: the sink belongs to the service."""


def candle_columns(frame: pl.DataFrame, score: str) -> list[pl.Expr]:
    """A live log frame's columns as :data:`BAR_COLUMNS` (high/low fall back to close)."""
    close = pl.col("close").cast(pl.Float64)
    return [
        pl.col("timestamp").cast(pl.Int64),
        pl.col("high").cast(pl.Float64) if "high" in frame.columns else close.alias("high"),
        pl.col("low").cast(pl.Float64) if "low" in frame.columns else close.alias("low"),
        close,
        pl.col(score).cast(pl.Float64).alias("score"),
    ]
