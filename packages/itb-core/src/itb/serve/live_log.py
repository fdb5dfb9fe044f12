"""The live log: every processed candle of a symbol, one Parquet file per UTC day, and the state a
restarted service continues from.

``<data_root>/live/<SYMBOL>/<YYYY-MM-DD>.parquet`` holds ``timestamp`` (open time, ms), ``close``,
every feature, score and signal column under its batch name, ``model_key``, ``backfilled`` and the
timings (:data:`TIMING_COLUMNS`). Each append rewrites the day's file atomically
(:meth:`itb.storage.store.Storage.write_parquet`), then ``state.json`` (:class:`ServeState`).

No candle is logged twice: rows are appended in time order, a row not after the day's last logged
row is dropped (the logged one stays), and :meth:`LiveLog.last_timestamp` is the later of the state
and the newest logged row, so a service killed between the two writes resumes after the row it
logged.

``latency_ms`` and ``close_lag_ms`` run until the row is persisted, which is only known after the
write: the row is written with the time up to the write, corrected in memory once the write
returned (:meth:`LiveLog.amend_last`) and persisted with the day's next write or
:meth:`LiveLog.flush`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from itb import datasets
from itb.errors import DataError
from itb.storage.store import Storage

TIMING_COLUMNS = ("fetch_ms", "compute_ms", "latency_ms", "close_lag_ms")
#: Columns the live log adds to the engine's rows.
LOG_COLUMNS = ("model_key", "backfilled", *TIMING_COLUMNS)


class ServeState(BaseModel):
    """What ``state.json`` holds: where a restarted service continues."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = 1
    symbol: str
    #: Open time (ms) of the last candle processed and logged.
    last_timestamp: int
    model_key: str
    #: The outputs' state after that candle, by ``<index>:<kind>`` (see :mod:`itb.serve.output_sets`).
    outputs: dict[str, dict[str, Any]] = Field(default_factory=dict)


def day_of(timestamp_ms: pl.Expr) -> pl.Expr:
    """:func:`utc_day` as an expression."""
    return pl.from_epoch(timestamp_ms, time_unit="ms").dt.strftime("%Y-%m-%d")


class LiveLog:
    """One symbol's live log under a data root; keeps the current day's rows in memory."""

    def __init__(self, storage: Storage, symbol: str) -> None:
        self.storage = storage
        self.symbol = symbol
        self._day: str | None = None
        self._frame: pl.DataFrame | None = None
        self._dirty = False
        #: Rows the last append added to the current day.
        self._appended = 0

    def days(self) -> list[str]:
        """The days logged so far, oldest first."""
        prefix = f"{datasets.LIVE_FOLDER}/{self.symbol}"
        return [n.rsplit("/", 1)[1].removesuffix(".parquet") for n in self.storage.list(prefix)
                if n.endswith(".parquet")]  # fmt: skip

    def read_day(self, day: str) -> pl.DataFrame:
        return self.storage.read_parquet(datasets.live_day(self.symbol, day))

    def state(self) -> ServeState | None:
        """The last state written; None before the first candle. An unreadable one is a
        :class:`DataError` naming the file (not guessed around: it says where to continue)."""
        name = datasets.live_state(self.symbol)
        if not self.storage.exists(name):
            return None
        try:
            return ServeState.model_validate(self.storage.read_json(name))
        except (ValueError, ValidationError) as exc:
            problem = str(exc).splitlines()[0]
            raise DataError(
                f"{self.storage.url(name)}: not a serve state ({problem}); fix or remove it"
            ) from None

    def last_timestamp(self) -> int | None:
        """The last candle logged: the later of ``state.json`` and the newest day file's last row."""
        found: list[int] = []
        state = self.state()
        if state is not None:
            found.append(state.last_timestamp)
        days = self.days()
        if days:
            newest = self.read_day(days[-1])["timestamp"]
            if newest.len():
                found.append(int(newest.max()))  # type: ignore[arg-type]
        return max(found) if found else None

    def _load(self, day: str) -> pl.DataFrame | None:
        if day == self._day:
            return self._frame
        self.flush()
        name = datasets.live_day(self.symbol, day)
        frame = self.storage.read_parquet(name) if self.storage.exists(name) else None
        self._day, self._frame, self._dirty = day, frame, False
        return frame

    def append(
        self, rows: pl.DataFrame, model_key: str, outputs: Mapping[str, dict[str, Any]] | None = None
    ) -> int:
        """Log ``rows`` (sorted by time; may span days), then the state; returns rows added."""
        self._appended = 0
        if rows.height == 0:
            return 0
        added = 0
        days = rows.select(day_of(pl.col("timestamp")))["timestamp"]
        for day in days.unique(maintain_order=True).to_list():
            new = rows.filter(days == day)
            existing = self._load(day)
            if existing is not None and existing.height:
                new = new.filter(pl.col("timestamp") > existing["timestamp"][-1])
                if new.height == 0:
                    continue
                self._frame = pl.concat([existing, new], how="vertical_relaxed")
            else:
                self._frame = new
            added += new.height
            self._appended = new.height
            self.storage.write_parquet(datasets.live_day(self.symbol, day), self._frame)
            self._dirty = False
        state = ServeState(
            symbol=self.symbol,
            last_timestamp=int(rows["timestamp"][-1]),
            model_key=model_key,
            outputs=dict(outputs or {}),
        )
        self.storage.write_json(datasets.live_state(self.symbol), state.model_dump(mode="json"))
        return added

    def amend_last(self, values: Mapping[str, float | Sequence[float]]) -> None:
        """Set columns of the rows the last :meth:`append` added to the current day, in memory
        (persisted by the next write or :meth:`flush`). A sequence gives one value per row
        appended (its last values when the append spanned days)."""
        if self._frame is None or not self._appended:
            return
        keep = self._frame.height - self._appended
        n = self._appended
        last = self._frame.slice(keep).with_columns(
            pl.Series(k, list(v)[-n:], dtype=pl.Float64) if isinstance(v, Sequence)
            else pl.lit(v, dtype=pl.Float64).alias(k)
            for k, v in values.items()
        )  # fmt: skip
        self._frame = pl.concat([self._frame.slice(0, keep), last])
        self._dirty = True

    def flush(self) -> None:
        """Write the current day again if :meth:`amend_last` changed it since its last write."""
        if self._dirty and self._day is not None and self._frame is not None:
            self.storage.write_parquet(datasets.live_day(self.symbol, self._day), self._frame)
        self._dirty = False
