"""Monthly Parquet partitions: ``klines/<market>/<symbol>/<interval>/<YYYY-MM>.parquet``.

One file per month keeps every rewrite small (at most a month of candles) and lets the merge stage
read a folder. Each write replaces a whole month atomically through :class:`itb.storage.Storage`, so
a reader (or a resumed run) sees the month before or after a page was added, never half a file.
Rows are merged by open time (a repeated or overlapping page replaces, never doubles, its rows) and
kept sorted, with exactly the column names and dtypes of the bundled sample.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import polars as pl
import pyarrow.parquet as pq

from itb.download.endpoints import Series
from itb.errors import DataError
from itb.storage.store import Storage, WriteResult
from itb.timefmt import utc_month

SCHEMA: dict[str, pl.DataType] = {
    "timestamp": pl.Int64(),
    "open": pl.Float64(),
    "high": pl.Float64(),
    "low": pl.Float64(),
    "close": pl.Float64(),
    "volume": pl.Float64(),
    "close_time": pl.Int64(),
    "quote_av": pl.Float64(),
    "trades": pl.Int64(),
    "tb_base_av": pl.Float64(),
    "tb_quote_av": pl.Float64(),
}
COLUMNS = list(SCHEMA)
#: Epoch values above this are microseconds (Binance's spot archives from 2025 on), not milliseconds.
MICROSECONDS_ABOVE = 10**14
_MONTH_FILE = re.compile(r"^(\d{4}-\d{2})\.parquet$")

Run = tuple[int, int]  # first and last open time of consecutive stored candles (inclusive)


def empty_frame() -> pl.DataFrame:
    return pl.DataFrame(schema=SCHEMA)


def normalise(frame: pl.DataFrame) -> pl.DataFrame:
    """The stored schema: the 11 kline columns, their dtypes, millisecond times.

    Raises a polars error if a value does not convert (``strict``): a bad row never becomes a null.
    """
    frame = frame.select([pl.col(name).cast(dtype, strict=True) for name, dtype in SCHEMA.items()])
    return frame.with_columns(
        [
            pl.when(pl.col(c) > MICROSECONDS_ABOVE).then(pl.col(c) // 1000).otherwise(pl.col(c)).alias(c)
            for c in ("timestamp", "close_time")
        ]
    )


def rows_to_frame(rows: Sequence[Sequence[Any]]) -> pl.DataFrame:
    """Klines as the REST API sends them (lists of 12 fields, numbers as strings) to a frame.

    Text is converted by polars' parser, which rounds correctly (checked against Python's ``float``
    on every value of the shared BTCUSDT data), as for the archive CSV: both paths give equal bits.
    """
    if not rows:
        return empty_frame()
    try:
        columns = list(zip(*(row[: len(COLUMNS)] for row in rows), strict=True))
        frame = pl.DataFrame(
            {
                name: pl.Series(name, values, strict=False)
                for name, values in zip(COLUMNS, columns, strict=True)
            }
        )
        return normalise(frame)
    except (ValueError, TypeError, pl.exceptions.PolarsError) as exc:
        raise DataError(f"unexpected kline rows from Binance ({exc}): {list(rows[0])[:12]}") from None


def month_start(month: str) -> int:
    year, mon = (int(p) for p in month.split("-"))
    return int(datetime(year, mon, 1, tzinfo=UTC).timestamp() * 1000)


def next_month(month: str) -> str:
    year, mon = (int(p) for p in month.split("-"))
    return f"{year + mon // 12:04d}-{mon % 12 + 1:02d}"


def months_overlapping(start: int, end: int) -> list[str]:
    """The months that hold any instant of ``[start, end)``."""
    if end <= start:
        return []
    months, month = [], utc_month(start)
    while month_start(month) < end:
        months.append(month)
        month = next_month(month)
    return months


def runs_of(timestamps: pl.Series, interval_ms: int) -> list[Run]:
    """Consecutive stretches of sorted, unique open times."""
    if timestamps.is_empty():
        return []
    values = timestamps.to_list()
    runs: list[Run] = []
    first = prev = values[0]
    for ts in values[1:]:
        if ts - prev != interval_ms:
            runs.append((first, prev))
            first = ts
        prev = ts
    runs.append((first, prev))
    return runs


def merge_runs(runs: list[Run], interval_ms: int) -> list[Run]:
    out: list[Run] = []
    for first, last in sorted(runs):
        if out and first <= out[-1][1] + interval_ms:
            out[-1] = (out[-1][0], max(out[-1][1], last))
        else:
            out.append((first, last))
    return out


def holes(runs: list[Run], start: int, end: int, interval_ms: int) -> list[tuple[int, int]]:
    """Half-open ranges ``[a, b)`` of ``[start, end)`` that no stored run covers."""
    out, cursor = [], start
    for first, last in runs:
        if last < cursor or first >= end:
            continue
        if first > cursor:
            out.append((cursor, min(first, end)))
        cursor = max(cursor, last + interval_ms)
    if cursor < end:
        out.append((cursor, end))
    return out


class PartitionStore:
    """The stored months of one series, with a one-month cache for page-by-page appends."""

    def __init__(self, storage: Storage, series: Series) -> None:
        self.storage, self.series = storage, series
        self._cache: dict[str, pl.DataFrame] = {}
        self.written: dict[str, WriteResult] = {}
        self.rows_added = 0
        self.first_added: int | None = None
        self.last_added: int | None = None

    def name(self, month: str) -> str:
        return f"{self.series.prefix}/{month}.parquet"

    def stored_months(self) -> list[str]:
        months = []
        for path in self.storage.list(self.series.prefix):
            match = _MONTH_FILE.match(path.rsplit("/", 1)[-1])
            if match and path.count("/") == self.series.prefix.count("/") + 1:
                months.append(match.group(1))
        return sorted(months)

    def read_month(self, month: str) -> pl.DataFrame:
        if month in self._cache:
            return self._cache[month]
        name = self.name(month)
        try:
            frame = self.storage.read_parquet(name)
        except FileNotFoundError:
            return empty_frame()
        except Exception as exc:  # polars raises several types for a corrupt file
            raise DataError(
                f"{self.storage.url(name)}: unreadable partition ({exc}); delete it to refetch"
            ) from None
        return normalise(frame)

    def _month_runs(self, month: str) -> list[Run]:
        """Stored runs of one month, from the Parquet footer when the month has no inner gap."""
        iv = self.series.interval_ms
        if month not in self._cache:
            try:
                with self.storage.fs.open(self.storage.path(self.name(month)), "rb") as handle:
                    meta = pq.ParquetFile(handle).metadata
                rows = meta.num_rows
                stats = [meta.row_group(i).column(0).statistics for i in range(meta.num_row_groups)]
                if rows and all(s is not None and s.has_min_max for s in stats):
                    low = min(int(s.min) for s in stats if s is not None and s.min is not None)
                    high = max(int(s.max) for s in stats if s is not None and s.max is not None)
                    if (high - low) // iv + 1 == rows and (high - low) % iv == 0:
                        return [(low, high)]
            except FileNotFoundError:
                return []
            except Exception:  # no usable footer: fall back to reading the column
                pass
        return runs_of(self.read_month(month)["timestamp"], iv)

    def coverage(self, start: int, end: int) -> list[Run]:
        """Stored runs that touch ``[start, end)``, merged across month boundaries."""
        wanted = set(months_overlapping(start, end))
        runs: list[Run] = []
        for month in self.stored_months():
            if month in wanted:
                runs.extend(self._month_runs(month))
        return merge_runs(runs, self.series.interval_ms)

    def add(self, frame: pl.DataFrame) -> int:
        """Merge rows into their months and write each touched month; returns the rows that are new."""
        if frame.is_empty():
            return 0
        added = 0
        frame = frame.with_columns(_month=pl.from_epoch("timestamp", time_unit="ms").dt.strftime("%Y-%m"))
        for (month,), part in sorted(frame.group_by("_month"), key=lambda item: str(item[0][0])):
            month = str(month)
            old = self.read_month(month)
            new = part.drop("_month").unique(subset="timestamp", keep="last").sort("timestamp")
            if old.height and new["timestamp"][0] > old["timestamp"][-1]:
                merged = pl.concat([old, new], how="vertical").rechunk()  # the usual case: appending
            else:
                merged = (
                    pl.concat([old, new], how="vertical")
                    .unique(subset="timestamp", keep="last")
                    .sort("timestamp")
                    .rechunk()
                )
            fresh = merged.height - old.height
            if fresh == 0 and old.height and merged.equals(old):
                self._cache = {month: old}
                continue
            self.written[self.name(month)] = self.storage.write_parquet(self.name(month), merged)
            self._cache = {month: merged}  # keep only the month being filled
            if fresh > 0:
                old_ts = set(old["timestamp"].to_list()) if old.height else set()
                new_ts = [t for t in new["timestamp"].unique().to_list() if t not in old_ts]
                low, high = min(new_ts), max(new_ts)
                self.first_added = low if self.first_added is None else min(self.first_added, low)
                self.last_added = high if self.last_added is None else max(self.last_added, high)
            added += max(fresh, 0)
        self.rows_added += added
        return added
