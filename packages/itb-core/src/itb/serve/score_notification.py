"""``score_notification_model``: a message when a score moves into another band, and every
``frequency`` candles while it stays in one (the reference project's output, with its config keys).

Config (``output_sets[].config``), the reference project's keys and meaning::

    {"score_column_names": ["trade_score"],          # the first one decides the band
     "notify_band_up": true, "notify_band_dn": true,  # on moving to a band farther from / nearer to 0
     "positive_bands": [{"edge": 0.015, "frequency": 2, "sign": "+", "text": "BUY ZONE", "bold": true},
                        {"edge": 0.005, "frequency": 10, "text": "weak"}],
     "negative_bands": [{"edge": -0.005, ...}, {"edge": -0.015, ...}]}

An edge is where its band *starts*, as in the reference: a score at or above ``k`` positive edges is
in positive band ``k`` (the band of the highest edge it reaches); otherwise a score below ``k``
negative edges is in negative band ``-k`` (the band of the lowest edge it is under); a score that
reaches no edge is in the neutral zone, band 0, which has no sign, text or frequency. Bands may be
listed in any order. A band number farther from 0 is *up*, nearer is *down*; where the reference
sees no change when the score jumps from band ``+k`` to ``-k`` (its test compares absolute values),
itb counts it as a change in both senses. ``frequency`` repeats the message every that many candles
in the band since its last message (the reference fires when the close time's minute is a multiple
of it, which never repeats for 60 or more and depends on the clock, not the band). A null score
sends nothing and keeps the state. The state (band and candles since the last message) is a small
record the service persists after every candle (:meth:`ScoreNotifier.snapshot` /
:meth:`ScoreNotifier.restore`), so a restart does not repeat or lose a band change.

Messages go to a :class:`~itb.serve.messages.MessageSink`: Telegram through the persisted outbox when
the config has the Telegram secrets, else the console (:func:`itb.serve.telegram.message_sink`).
Each message's key is ``score:<symbol>:<timestamp>``, so a candle processed again after a restart
does not send its message twice.

Backfilled candles (a row with ``backfilled`` true: caught up after a restart or an outage) move
the band state exactly as live ones, but their messages are not sent one by one: they are collected
in a :class:`BackfillDigest` and sent as one summary when the batch ends (:meth:`ScoreNotifier.end_batch`,
called by the service after each tick's candles) or when a live candle follows: how many candles,
their time range, the band changes among them and the band at the end. A batch whose candles would
have said nothing sends nothing. Its key is ``score-backfill:<symbol>:<first>:<last>``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from itb.serve.messages import ConsoleSink, MessageSink
from itb.timefmt import utc_minute


class Band(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    edge: float = Field(
        description="Where the band starts (positive bands: score >= edge; negative: score < edge)."
    )
    frequency: int | None = Field(
        default=None, ge=1, description="Repeat the message every this many candles while in the band."
    )
    sign: str = ""
    bold: bool = False
    text: str = ""


#: The zone no band covers (band 0): a message there has no sign or text, and never repeats.
NEUTRAL = Band(edge=0.0)


class ScoreNotificationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    score_notification: bool = Field(default=True, description="False turns the output off.")
    score_column_names: list[str] = Field(min_length=1, description="The first score decides the band.")
    notify_band_up: bool = True
    notify_band_dn: bool = True
    positive_bands: list[Band] = Field(default_factory=list)
    negative_bands: list[Band] = Field(default_factory=list)

    @field_validator("positive_bands")
    @classmethod
    def _positive(cls, bands: list[Band]) -> list[Band]:
        """Any order is accepted (the reference sorts them too); kept from 0 outwards."""
        if any(b.edge <= 0 for b in bands):
            raise ValueError("edges must be positive")
        return _sorted_outwards(bands, reverse=False)

    @field_validator("negative_bands")
    @classmethod
    def _negative(cls, bands: list[Band]) -> list[Band]:
        if any(b.edge > 0 for b in bands):
            raise ValueError("edges must be <= 0")
        return _sorted_outwards(bands, reverse=True)

    @model_validator(mode="after")
    def _some(self) -> ScoreNotificationConfig:
        if not self.positive_bands and not self.negative_bands:
            raise ValueError("give positive_bands or negative_bands")
        return self

    def band(self, number: int) -> Band:
        """The band of a band number (:func:`band_of`); :data:`NEUTRAL` for 0."""
        if number > 0:
            return self.positive_bands[number - 1]
        if number < 0:
            return self.negative_bands[-number - 1]
        return NEUTRAL


def _sorted_outwards(bands: list[Band], reverse: bool) -> list[Band]:
    ordered = sorted(bands, key=lambda b: b.edge, reverse=reverse)
    if len({b.edge for b in ordered}) != len(ordered):
        raise ValueError("two bands with the same edge")
    return ordered


class BandState(BaseModel):
    """Where the score was after the last candle (persisted between runs)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The band number of the last scored candle (:func:`band_of`); None before the first one.
    band: int | None = None
    #: Candles in this band since its last message.
    since_message: int = 0

    @model_validator(mode="before")
    @classmethod
    def _older_layout(cls, data: Any) -> Any:
        """A state saved before bands followed the reference (``side``/``index``) meant other
        bands: start from no band rather than guess (the next candle sets it, without a message)."""
        if isinstance(data, Mapping) and "side" in data:
            return {}
        return data


def band_of(score: float, config: ScoreNotificationConfig) -> int:
    """The reference project's band number of ``score``: ``k`` when it is at or above ``k`` positive
    edges, else ``-k`` when it is below ``k`` negative edges, else 0 (neutral)."""
    up = sum(1 for b in config.positive_bands if score >= b.edge)
    if up:
        return up
    return -sum(1 for b in config.negative_bands if score < b.edge)


#: Band changes listed by name in a backfill summary (the rest are counted).
SUMMARY_CHANGES = 5


@dataclass
class BackfillDigest:
    """The messages of one batch of backfilled candles, collapsed (kept in memory within a tick)."""

    symbol: str = ""
    candles: int = 0
    first: int | None = None
    last: int | None = None
    #: Messages the candles would have sent one by one.
    collapsed: int = 0
    #: (open time, arrow, band text) of each band change.
    changes: list[tuple[int, str, str]] = field(default_factory=list)
    #: The last scored candle's band and score.
    band: Band | None = None
    score: float | None = None

    def add(self, row: Mapping[str, Any]) -> None:
        """Count a backfilled candle (with or without a score)."""
        stamp = int(row["timestamp"])
        self.symbol = str(row.get("symbol", ""))
        self.first = stamp if self.first is None else self.first
        self.last = stamp
        self.candles += 1

    def summary(self) -> str:
        """One message for the batch: ``BTCUSDT: 5 backfilled candles 12:03 .. 12:07 UTC, ...``."""
        assert self.first is not None and self.last is not None and self.band is not None
        span = f"{utc_minute(self.first)} .. {utc_minute(self.last)[-5:]} UTC"
        changes = ", ".join(f"{utc_minute(t)[-5:]} {arrow} {text}".replace("  ", " ") for t, arrow, text in
                            self.changes[:SUMMARY_CHANGES])  # fmt: skip
        more = len(self.changes) - SUMMARY_CHANGES
        listed = f" ({changes}{f', {more} more' if more > 0 else ''})" if self.changes else ""
        now = " ".join(p for p in (self.band.sign, f"score {self.score:+.3f}", self.band.text) if p)
        return (
            f"{self.symbol}: {self.candles} backfilled candles {span}, {len(self.changes)} band "
            f"change(s){listed}; now {now}"
        )


class CallableSink:
    """A :class:`~itb.serve.messages.MessageSink` over a plain function of the text (``list.append``)."""

    def __init__(self, emit: Callable[[str], None]) -> None:
        self.emit = emit

    def post(self, text: str, key: str) -> None:
        self.emit(text)

    def post_photo(self, png: bytes, caption: str, key: str) -> None:
        self.emit(caption)

    def close(self) -> None:
        """Nothing to release."""


class ScoreNotifier:
    """The output: :meth:`send` each candle's row; messages go to ``sink`` (or the function ``emit``).

    The sink is shared with the service's other outputs, which closes it: :meth:`close` does not.
    """

    def __init__(
        self,
        config: ScoreNotificationConfig,
        emit: Callable[[str], None] | None = None,
        *,
        sink: MessageSink | None = None,
    ) -> None:
        self.config = config
        self.sink: MessageSink = sink or (CallableSink(emit) if emit is not None else ConsoleSink())
        self.state = BandState()
        self.digest = BackfillDigest()

    def snapshot(self) -> dict[str, Any]:
        return self.state.model_dump(mode="json")

    def restore(self, data: Mapping[str, Any]) -> None:
        self.state = BandState.model_validate(dict(data))

    def message(self, row: Mapping[str, Any], band: Band, arrow: str) -> str:
        scores = [row.get(c) for c in self.config.score_column_names]
        when = utc_minute(row["timestamp"])
        shown = " ".join(f"{s:+.3f}" for s in scores if s is not None)
        parts = [
            band.sign,
            str(row.get("symbol", "")),
            f"{row['close']:,.0f}",
            f"score {shown}",
            arrow,
            band.text,
        ]
        text = " ".join(p for p in parts if p)
        return f"{when} " + (f"*{text}*" if band.bold else text)

    def send(self, row: Mapping[str, Any]) -> None:
        backfilled = bool(row.get("backfilled", False))
        if backfilled:
            self.digest.add(row)
        else:
            self.end_batch()  # the catch-up is over: its summary goes before the live message
        score = row.get(self.config.score_column_names[0])
        if not self.config.score_notification or score is None:
            return
        number = band_of(float(score), self.config)
        old = self.state.band
        changed = old is not None and number != old
        flipped = changed and old is not None and number * old < 0
        up = changed and (abs(number) > abs(old or 0) or flipped)
        down = changed and (abs(number) < abs(old or 0) or flipped)
        band = self.config.band(number)
        since = 0 if changed or old is None else self.state.since_message + 1
        due = band.frequency is not None and since >= band.frequency
        notify = (self.config.notify_band_up and up) or (self.config.notify_band_dn and down) or due
        arrow = "↑" if up and not down else "↓" if down and not up else ""
        if backfilled:
            self.digest.band, self.digest.score = band, float(score)
            if changed:
                self.digest.changes.append((int(row["timestamp"]), arrow, band.text or "neutral"))
        if notify:
            if backfilled:
                self.digest.collapsed += 1
            else:
                self.sink.post(
                    self.message(row, band, arrow), f"score:{row.get('symbol', '')}:{row['timestamp']}"
                )
            since = 0
        self.state = BandState(band=number, since_message=since)

    def end_batch(self) -> None:
        """Send the summary of the backfilled candles seen since the last batch (if any would have
        sent a message) and start a new one."""
        digest, self.digest = self.digest, BackfillDigest()
        if digest.collapsed and digest.band is not None:
            self.sink.post(digest.summary(), f"score-backfill:{digest.symbol}:{digest.first}:{digest.last}")

    def close(self) -> None:
        """Nothing to release: the sink belongs to the service."""
