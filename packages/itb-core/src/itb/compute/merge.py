"""Merge: source kline frames onto one continuous time raster at ``freq``, with a typed report.

Missing candles become rows (filled from the previous close with zero volume, or left null, per
``gaps``); duplicate timestamps keep their first row; timestamps off the raster are an error naming
the source and row. The :class:`MergeReport` says what was done to the data: rows, duplicates
dropped, raster rows missing from each source (filled or null) and their share, the exchange's own
gaps, and bad input values (NaN, inf, non-positive prices) per column with the first rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import polars as pl
from pydantic import BaseModel, ConfigDict

from itb.config.models import span_ms
from itb.errors import DataError
from itb.timefmt import iso_ms

PRICE_COLUMNS = ("open", "high", "low")
ALL_PRICE_COLUMNS = ("open", "high", "low", "close")
ZERO_COLUMNS = ("volume", "quote_av", "trades", "tb_base_av", "tb_quote_av")
MAX_GAPS_LISTED = 20
#: Timestamps listed per problem: enough to find the rows, few enough for a readable manifest.
FIRST_ROWS = 5


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Gap(_Record):
    """A run of missing candles inside a source (the exchange's outage): first and last missing row."""

    start: str
    end: str
    rows: int


class BadValues(_Record):
    """Values of one column that no indicator should see: NaN, infinite, or a price <= 0."""

    column: str
    kind: Literal["nan", "inf", "non_positive"]
    count: int
    first_rows: list[str]


class SourceReport(_Record):
    source: str
    rows: int  # after dropping duplicates
    duplicates_dropped: int
    duplicate_rows: list[str]  # first few timestamps that had a duplicate
    missing_rows: int  # raster rows this source has no candle for (filled or null)
    gaps: list[Gap]  # the first MAX_GAPS_LISTED
    gap_count: int
    largest_gap: Gap | None
    bad_values: list[BadValues]


class MergeReport(_Record):
    rows: int
    range: tuple[str, str]
    gaps_mode: Literal["fill", "null"]
    #: Raster rows some source has no candle for, summed over sources (filled, or null per gaps_mode).
    gap_rows_filled: int
    #: The largest share of raster rows missing from one source.
    filled_share: float
    sources: list[SourceReport]

    @property
    def largest_gap(self) -> Gap | None:
        gaps = [s.largest_gap for s in self.sources if s.largest_gap is not None]
        return max(gaps, key=lambda g: g.rows) if gaps else None


WarningKind = Literal["duplicates_dropped", "gap_rows_filled", "bad_values", "non_positive_prices"]


class MergeWarning(_Record):
    """One thing worth a look in the merged data, for the run summary and manifest."""

    kind: WarningKind
    count: int
    message: str
    first_rows: list[str]


@dataclass(frozen=True)
class SourceFrame:
    """One source's klines (sorted by time) with the label errors name and its column prefix."""

    label: str
    frame: pl.DataFrame
    column_prefix: str = ""


def _iso_list(timestamps: pl.Series) -> list[str]:
    return [iso_ms(int(t)) for t in timestamps.head(FIRST_ROWS).to_list()]


def merge_sources(
    sources: Sequence[SourceFrame],
    freq: str,
    *,
    gaps: Literal["fill", "null"] = "fill",
    start_ms: int | None = None,
    end_ms: int | None = None,
) -> tuple[pl.DataFrame, MergeReport]:
    """Merge ``sources`` onto the ``freq`` raster ``[start, end)`` (default: the first source's span)."""
    freq_ms = span_ms(freq)
    if not sources:
        raise DataError("merge: no data sources")
    frames: list[pl.DataFrame] = []
    reports: list[SourceReport] = []
    for source in sources:
        df = source.frame
        _check_raster(df, source.label, freq, freq_ms)
        # sorted by time, so equal timestamps are neighbours
        repeated = df["timestamp"].diff() == 0
        duplicates = int(repeated.sum())
        duplicate_rows = _iso_list(df["timestamp"].filter(repeated)) if duplicates else []
        if duplicates:
            df = df.unique("timestamp", keep="first", maintain_order=True)
        gaps_listed, gap_count, largest_gap = gap_summary(df["timestamp"], freq_ms)
        reports.append(
            SourceReport(
                source=source.label,
                rows=df.height,
                duplicates_dropped=duplicates,
                duplicate_rows=duplicate_rows,
                missing_rows=0,  # known after the join below
                gaps=gaps_listed,
                gap_count=gap_count,
                largest_gap=largest_gap,
                bad_values=bad_values(df),
            )
        )
        prefix = source.column_prefix
        frames.append(df.rename({c: f"{prefix}{c}" for c in df.columns if c != "timestamp"}))

    start = start_ms if start_ms is not None else int(frames[0]["timestamp"].min())  # type: ignore[arg-type]
    end = end_ms if end_ms is not None else int(frames[0]["timestamp"].max()) + freq_ms  # type: ignore[arg-type]
    start -= start % freq_ms
    if end <= start:
        raise DataError(f"merge: empty time range {iso_ms(start)} .. {iso_ms(end)}")
    raster = pl.int_range(start, end, freq_ms, eager=True, dtype=pl.Int64).set_sorted()
    merged = pl.DataFrame({"timestamp": raster})
    for i, (source, frame) in enumerate(zip(sources, frames, strict=True)):
        prefix = source.column_prefix
        if i == 0 and _on_raster(frame, start, end, freq_ms):  # the join would change nothing
            merged = frame.select("timestamp", pl.exclude("timestamp"))
        else:
            # both sides sorted by time (read_source sorts): polars can merge instead of hashing
            frame = frame.with_columns(pl.col("timestamp").set_sorted())
            merged = merged.join(frame, on="timestamp", how="left")
        missing = int(merged[f"{prefix}close"].null_count())
        reports[i] = reports[i].model_copy(update={"missing_rows": missing})
        if gaps == "fill" and sum(merged.null_count().row(0)):
            merged = _fill(merged, prefix, freq_ms)
    report = MergeReport(
        rows=merged.height,
        range=(iso_ms(start), iso_ms(end - freq_ms)),
        gaps_mode=gaps,
        gap_rows_filled=sum(r.missing_rows for r in reports),
        filled_share=round(max(r.missing_rows for r in reports) / merged.height, 6),
        sources=reports,
    )
    return merged, report


def check_filled_share(report: MergeReport, limit: float) -> None:
    """Raise :class:`DataError` when a source misses more than ``limit`` of the raster rows."""
    if report.filled_share <= limit:
        return
    largest = report.largest_gap
    where = (
        f"; the largest gap is {largest.start} .. {largest.end} ({largest.rows} rows)"
        if largest is not None
        else "; the source does not cover the merge.start .. merge.end range"
    )
    raise DataError(
        f"merge: {report.filled_share:.2%} of the {report.rows} rows are missing from a source "
        f"(merge.max_filled_share is {limit:.2%}){where}"
    )


#: Which kinds of bad values each warning gathers.
_BAD_VALUE_WARNINGS: tuple[tuple[tuple[str, ...], WarningKind], ...] = (
    (("nan", "inf"), "bad_values"),
    (("non_positive",), "non_positive_prices"),
)


def merge_warnings(report: MergeReport) -> list[MergeWarning]:
    """What the run summary should point out about the merged data (nothing when it is clean)."""
    out: list[MergeWarning] = []
    for s in report.sources:
        if s.duplicates_dropped:
            out.append(
                MergeWarning(
                    kind="duplicates_dropped",
                    count=s.duplicates_dropped,
                    message=f"{s.source}: {s.duplicates_dropped} duplicate timestamps dropped (first kept)",
                    first_rows=s.duplicate_rows,
                )
            )
        if s.missing_rows:
            done = "filled from the previous close" if report.gaps_mode == "fill" else "left null"
            largest = (
                f"; largest gap {s.largest_gap.start} .. {s.largest_gap.end} ({s.largest_gap.rows} rows)"
                if s.largest_gap is not None
                else ""
            )
            out.append(
                MergeWarning(
                    kind="gap_rows_filled",
                    count=s.missing_rows,
                    message=f"{s.source}: {s.missing_rows} of {report.rows} rows missing, {done}{largest}",
                    first_rows=[g.start for g in s.gaps[:FIRST_ROWS]],
                )
            )
        for kinds, kind in _BAD_VALUE_WARNINGS:
            found = [b for b in s.bad_values if b.kind in kinds]
            if found:
                listed = ", ".join(f"{b.column}: {b.count} {b.kind}" for b in found)
                out.append(
                    MergeWarning(
                        kind=kind,
                        count=sum(b.count for b in found),
                        message=f"{s.source}: {listed}",
                        first_rows=sorted({t for b in found for t in b.first_rows})[:FIRST_ROWS],
                    )
                )
    return out


def gap_summary(timestamps: pl.Series, freq_ms: int) -> tuple[list[Gap], int, Gap | None]:
    """Runs of missing candles between consecutive timestamps (sorted, unique): the first
    ``MAX_GAPS_LISTED``, how many there are, and the longest (the first of equals)."""
    runs = (
        pl.DataFrame({"ts": timestamps})
        .with_columns(prev=pl.col("ts").shift(1))
        .filter(pl.col("ts") - pl.col("prev") > freq_ms)
        .select(start=pl.col("prev") + freq_ms, end=pl.col("ts") - freq_ms)
        .with_columns(rows=(pl.col("end") - pl.col("start")) // freq_ms + 1)
    )
    if runs.height == 0:
        return [], 0, None

    def gap(row: tuple[int, int, int]) -> Gap:
        return Gap(start=iso_ms(row[0]), end=iso_ms(row[1]), rows=int(row[2]))

    listed = [gap(row) for row in runs.head(MAX_GAPS_LISTED).iter_rows()]
    longest = runs.row(int(runs["rows"].arg_max()))  # type: ignore[arg-type]
    return listed, runs.height, gap(longest)


def bad_values(df: pl.DataFrame) -> list[BadValues]:
    """NaN and infinite values of the float columns, and prices <= 0, per column."""
    floats = [c for c, t in df.schema.items() if t in (pl.Float32, pl.Float64)]
    prices = [c for c in ALL_PRICE_COLUMNS if c in df.columns]
    checks: list[tuple[str, Literal["nan", "inf", "non_positive"], pl.Expr]] = [
        *((c, "nan", pl.col(c).is_nan()) for c in floats),
        *((c, "inf", pl.col(c).is_infinite()) for c in floats),
        *((c, "non_positive", pl.col(c) <= 0) for c in prices),
    ]
    if not checks:
        return []
    counts = df.select(e.sum().alias(str(i)) for i, (_, _, e) in enumerate(checks)).row(0)
    found = []
    for (column, kind, expr), count in zip(checks, counts, strict=True):
        if count:
            first = _iso_list(df.filter(expr.fill_null(False))["timestamp"])
            found.append(BadValues(column=column, kind=kind, count=int(count), first_rows=first))
    return found


def _check_raster(df: pl.DataFrame, label: str, freq: str, freq_ms: int) -> None:
    if (df["timestamp"] % freq_ms != 0).any():
        misaligned = df.with_row_index("row").filter(pl.col("timestamp") % freq_ms != 0)
        row = misaligned.row(0, named=True)
        raise DataError(
            f"{label}: row {row['row']}: timestamp {row['timestamp']} is not on the "
            f"{freq} raster ({misaligned.height} such rows)"
        )


def _on_raster(frame: pl.DataFrame, start: int, end: int, freq: int) -> bool:
    """Whether ``frame``'s timestamps (sorted, unique) are exactly the raster ``start, start+freq, ..
    end-freq``, so that joining it onto the raster would give ``frame`` itself."""
    ts = frame["timestamp"]
    return (
        ts.dtype == pl.Int64
        and frame.height == (end - start) // freq
        and frame.height > 0
        and ts[0] == start
        and ts[-1] == end - freq
        and ts.null_count() == 0
    )


def _fill(df: pl.DataFrame, prefix: str, freq: int) -> pl.DataFrame:
    close = pl.col(f"{prefix}close").forward_fill()
    exprs = [close.alias(f"{prefix}close")]
    exprs += [pl.col(f"{prefix}{c}").fill_null(close) for c in PRICE_COLUMNS if f"{prefix}{c}" in df.columns]
    exprs += [pl.col(f"{prefix}{c}").fill_null(0) for c in ZERO_COLUMNS if f"{prefix}{c}" in df.columns]
    if f"{prefix}close_time" in df.columns:
        exprs.append(pl.col(f"{prefix}close_time").fill_null(pl.col("timestamp") + freq - 1))
    return df.with_columns(exprs)
