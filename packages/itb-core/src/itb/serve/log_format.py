"""``itb serve --log-format json|text``: how the service's log records are written.

- ``text`` (default): one line per record on stderr, for people; the per-candle and per-tick events
  are left out (the per-symbol summary lines say the same).
- ``json``: one JSON object per line on **stdout**, for a log collector: ``time``, ``level``,
  ``logger``, ``message``, ``event`` (what happened: ``candle``, ``tick``, ``caught_up``,
  ``slow_tick``, ``exchange_error``, ``message``, ...) and the event's fields. Each processed
  candle is one ``candle`` event (:func:`candle_events`), each finished tick one ``tick`` event;
  the outputs' messages (when no Telegram is configured) are ``message`` events instead of plain
  lines, so every stdout line parses.

Secret values never appear: each formatted line goes through :func:`itb.secret_refs.redact`
(the values the open secret scopes know, such as the Telegram token), after the fields were
serialised, so a secret inside a field, a message or an exception's text is masked alike.
"""

from __future__ import annotations

import json
import logging
import math
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

import polars as pl

from itb.secret_refs import redact
from itb.serve.live_log import TIMING_COLUMNS
from itb.serve.messages import keep_photo
from itb.storage.store import Storage

LogFormat = Literal["text", "json"]
#: The logger of the per-candle and per-tick events (quiet in text mode: the per-symbol summary
#: lines of :mod:`itb.serve.live` say the same for people).
EVENTS_LOGGER = "itb.serve.events"
#: The LogRecord attribute that carries an event's name and fields (``extra={FIELDS: {...}}``).
FIELDS = "itb_event"

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def event(name: str, **fields: Any) -> dict[str, Any]:
    """``extra=`` for a log call: the record becomes ``{"event": name, **fields}`` in JSON."""
    return {FIELDS: {"event": name, **fields}}


class JsonLines(logging.Formatter):
    """A record as one JSON object (see the module doc), secrets masked."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, FIELDS, None)
        if isinstance(fields, Mapping):
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        try:
            line = json.dumps(entry, default=str, allow_nan=False)
        except ValueError:  # NaN or infinity somewhere: strict JSON has no literal for them
            line = json.dumps(_finite(entry), default=str, allow_nan=False)
        return redact(line)


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float as its text (``"nan"``, ``"inf"``)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, Mapping):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


class MaskedText(logging.Formatter):
    """The text format, secrets masked."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def setup_serve_logging(fmt: LogFormat) -> None:
    """Point the root logger at stdout (json) or stderr (text); INFO and up."""
    if fmt == "json":
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(JsonLines())
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(MaskedText(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    logging.getLogger(EVENTS_LOGGER).setLevel(logging.INFO if fmt == "json" else logging.WARNING)


def candle_events(symbol: str, rows: pl.DataFrame) -> list[dict[str, Any]]:
    """One ``candle`` event's fields per logged row: the symbol, the candle's open time (ms and
    ISO), ``backfilled``, the timings, ``model_key`` and the signals that fired (the boolean
    columns that are true)."""
    if rows.is_empty():
        return []
    flags = [c for c, t in rows.schema.items() if t == pl.Boolean and c != "backfilled"]
    fired = pl.concat_list(
        [pl.when(pl.col(c)).then(pl.lit(c)).otherwise(pl.lit(None, dtype=pl.String)) for c in flags]
    ).list.drop_nulls() if flags else pl.lit([], dtype=pl.List(pl.String))  # fmt: skip
    table = rows.select(
        pl.lit("candle").alias("event"),
        pl.lit(symbol).alias("symbol"),
        pl.col("timestamp"),
        pl.from_epoch("timestamp", time_unit="ms").dt.strftime("%Y-%m-%dT%H:%M:%SZ").alias("open_time"),
        pl.col("backfilled"),
        *(pl.col(c).round(3) for c in TIMING_COLUMNS),
        pl.col("model_key"),
        fired.alias("signals"),
    )
    return table.to_dicts()


def log_candles(logger: logging.Logger, symbol: str, rows: pl.DataFrame) -> None:
    """Log one ``candle`` event per row of ``rows`` (a tick's logged rows of one symbol)."""
    if not logger.isEnabledFor(logging.INFO):
        return
    for fields in candle_events(symbol, rows):
        logger.info("%s %s processed", symbol, fields["open_time"], extra={FIELDS: fields})


class LogMessages:
    """A :class:`~itb.serve.messages.MessageSink` for ``--log-format json`` without Telegram: each
    output message is a ``message`` event (instead of a plain stdout line); a picture is written
    under ``<data root>/live/diagrams/`` and its event names the file."""

    def __init__(self, photos: Storage | None = None, logger: logging.Logger | None = None) -> None:
        self.photos = photos
        self.logger = logger or logging.getLogger("itb.serve.messages")

    def post(self, text: str, key: str) -> None:
        self.logger.info("%s", text, extra=event("message", key=key, text=text))

    def post_photo(self, png: bytes, caption: str, key: str) -> None:
        where = keep_photo(self.photos, png, key) if self.photos is not None else None
        self.logger.info(
            "%s", caption, extra=event("message", key=key, text=caption, photo=where, photo_bytes=len(png))
        )

    def close(self) -> None:
        """Nothing to release."""
