"""Merging only the new rows of a grown source onto the stored merged table.

A source that grew at its end (``itb download`` adds the latest candles) keeps its first ``rows``
rows: the merge checks that cheaply with the row count and a digest of the last
:data:`SOURCE_DIGEST_ROWS` of them (a :class:`SourceMark` stored by the previous run). A change
further back with the same count and the same last day goes unseen; ``--force`` recomputes.

The tail merge starts at a real candle :data:`~itb.compute.append.VERIFY_ROWS` source rows before
the old end, so a gap's forward fill reads the same previous close as in a full merge; the rows up
to the old end are merged again and must equal the stored ones (:func:`itb.compute.append.overlap_equal`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import polars as pl
from pydantic import BaseModel, ConfigDict

from itb.compute.append import VERIFY_ROWS, TailPlan, frame_digest
from itb.compute.merge import MergeReport, SourceFrame, merge_sources
from itb.config.models import span_ms

#: Source rows whose digest stands for the whole earlier source (a day of 1m candles).
SOURCE_DIGEST_ROWS = 1440


class SourceMark(BaseModel):
    """What the previous merge saw of its source: enough to tell that it only grew at the end."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rows: int
    last_timestamp: int
    tail_digest: str
    #: Raster rows this source had no candle for, over the whole merged table so far.
    missing_rows: int


def source_mark(frame: pl.DataFrame, missing_rows: int, offset: int = 0) -> SourceMark:
    """The mark of a source (sorted by time) after a merge; ``frame`` holds its rows from ``offset``
    on (the whole source, or at least its last :data:`SOURCE_DIGEST_ROWS` rows)."""
    rows = offset + frame.height
    return SourceMark(
        rows=rows,
        last_timestamp=int(frame["timestamp"][-1]),
        tail_digest=_tail_digest(frame, rows, offset),
        missing_rows=missing_rows,
    )


def _tail_digest(frame: pl.DataFrame, rows: int, offset: int) -> str:
    first = max(0, rows - SOURCE_DIGEST_ROWS)
    return frame_digest(frame.slice(first - offset, rows - first))


def tail_offset(mark: SourceMark) -> int:
    """The first source row an append reads: enough for the digest check and the verified overlap."""
    return max(0, mark.rows - max(SOURCE_DIGEST_ROWS, VERIFY_ROWS))


def grown_only(frame: pl.DataFrame, offset: int, mark: SourceMark) -> str | None:
    """None when the source whose rows from ``offset`` on are ``frame`` is the marked source plus
    rows after its end, else why not."""
    rows = offset + frame.height
    if rows < mark.rows:
        return f"the source has {rows} rows, fewer than the {mark.rows} merged before"
    if _tail_digest(frame, mark.rows, offset) != mark.tail_digest:
        return "the source's rows before its earlier end changed"
    if rows > mark.rows and int(frame["timestamp"][mark.rows - offset]) < mark.last_timestamp:
        return "the source has new rows before its earlier end"
    if not frame["timestamp"].is_sorted():
        return "the source's new rows are not in time order"
    return None


@dataclass(frozen=True)
class MergedTail:
    """The tail merge: its table (rows ``plan.start ..`` of the merged table), plan and report."""

    table: pl.DataFrame
    plan: TailPlan
    report: MergeReport
    #: Raster rows after the old end that the source has no candle for.
    new_missing: int


def merge_tail(
    stored_rows: int,
    stored_first: int,
    source: SourceFrame,
    offset: int,
    mark: SourceMark,
    freq: str,
    gaps: Literal["fill", "null"],
    start_ms: int | None,
) -> MergedTail:
    """Merge the source rows from ``VERIFY_ROWS`` before the old end onto the raster (see module doc).

    ``stored_rows`` and ``stored_first`` describe the stored merged table (its row count and first
    timestamp); ``source.frame`` holds the source rows from ``offset`` on; ``start_ms`` is ``merge.start``.
    """
    freq_ms = span_ms(freq)
    tail_source = source.frame.slice(max(0, mark.rows - VERIFY_ROWS - offset))
    start = int(tail_source["timestamp"][0])
    if start_ms is not None:
        start = max(start, start_ms - start_ms % freq_ms)
    start = max(start, stored_first)
    table, report = merge_sources(
        [SourceFrame(source.label, tail_source, source.column_prefix)], freq, gaps=gaps, start_ms=start
    )
    first_row = (start - stored_first) // freq_ms
    plan = TailPlan(keep=stored_rows, start=first_row, verify_from=first_row)
    old_end = stored_first + (stored_rows - 1) * freq_ms
    new_rows = max(0, table.height - (stored_rows - first_row))
    seen = tail_source.filter(pl.col("timestamp") > old_end)["timestamp"].n_unique()
    return MergedTail(table, plan, report, new_missing=new_rows - seen)
