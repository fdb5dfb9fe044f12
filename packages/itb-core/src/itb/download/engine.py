"""The download plan and run: which candles are missing, where to get them, storing page by page.

For each series the engine asks the exchange for its clock (that decides which candle is still open,
never stored) and for the first candle at or after ``start``; reads which candles are already stored
(from Parquet footers, cheap even on blob storage); and fetches every hole in ``[start, last closed)``:
whole past months from the archives when that saves requests, everything else from the REST API.
Each archive month or REST page is merged into its month partition and written atomically before the
next request, so a kill loses at most the request in flight, and the next run sees the same holes and
fills them. Holes the exchange cannot fill (its own outages) remain and are reported as gaps.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from itb.config.models import PipelineConfig
from itb.download.archive import ArchiveFetcher, ChecksumMismatch, Period
from itb.download.endpoints import Endpoints, Market, Series, plan_series, resolve_endpoints, to_ms
from itb.download.partitions import PartitionStore, holes, month_start, months_overlapping, next_month
from itb.download.report import ProgressView, SeriesReport, default_progress
from itb.download.rest import RestClient
from itb.download.retry import RetryPolicy, Stats
from itb.storage.store import Storage, WriteResult
from itb.timefmt import iso_ms

log = logging.getLogger("itb.download")
DAY_MS = 86_400_000
WEEK_OFFSET_MS = 4 * DAY_MS  # 1970-01-05, the first Monday: Binance's weekly candles open on Mondays


@dataclass(frozen=True)
class Unit:
    """A piece of a hole: ``[start, end)`` from one archive file, or (``archive`` None) from REST."""

    start: int
    end: int
    archive: tuple[Period, str] | None = None


@dataclass
class DownloadResult:
    reports: list[SeriesReport] = field(default_factory=list)
    written: dict[str, WriteResult] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows_added": sum(r.rows_added for r in self.reports),
            "partitions_written": len(self.written),
            "series": [r.as_dict() for r in self.reports],
        }


def plan_units(gaps: list[tuple[int, int]], iv: int, page_limit: int, archive: bool) -> list[Unit]:
    """Split holes into archive files and REST ranges, in time order.

    An archive file is used for a whole month (or day) inside a hole when it holds more than two
    REST pages of candles; otherwise paging is as cheap, and one path is simpler to reason about.
    """
    units: list[Unit] = []

    def rest(a: int, b: int) -> None:
        if units and units[-1].archive is None and units[-1].end == a:
            units[-1] = Unit(units[-1].start, b)
        elif b > a:
            units.append(Unit(a, b))

    use_months = archive and (31 * DAY_MS // iv) > 2 * page_limit
    use_days = archive and DAY_MS // iv > 2 * page_limit
    for a, b in gaps:
        for month in months_overlapping(a, b):
            m0, m1 = month_start(month), month_start(next_month(month))
            lo, hi = max(a, m0), min(b, m1)
            if use_months and (lo, hi) == (m0, m1):
                units.append(Unit(lo, hi, ("monthly", month)))
                continue
            if not use_days:
                rest(lo, hi)
                continue
            day = lo - lo % DAY_MS
            while day < hi:
                d0, d1 = max(day, lo), min(day + DAY_MS, hi)
                if (d0, d1) == (day, day + DAY_MS):
                    stamp = time.strftime("%Y-%m-%d", time.gmtime(day / 1000))
                    units.append(Unit(d0, d1, ("daily", stamp)))
                else:
                    rest(d0, d1)
                day += DAY_MS
    return units


class Downloader:
    """Downloads every series of a config into one storage."""

    def __init__(
        self,
        config: PipelineConfig,
        storage: Storage,
        *,
        progress: ProgressView | None = None,
        sleep: Callable[[float], None] = time.sleep,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.config, self.storage, self.sleep = config, storage, sleep
        self.settings = config.download
        self.endpoints: Endpoints = resolve_endpoints(
            self.settings, dict(environ) if environ is not None else None
        )
        self.progress = progress
        self._clients: dict[Market, RestClient] = {}

    def client(self, market: Market, stats: Stats) -> RestClient:
        if market not in self._clients:
            self._clients[market] = RestClient(market, self.endpoints, self.settings, self.sleep, stats)
        client = self._clients[market]
        client.stats = client.pacer.stats = stats
        return client

    def run(self) -> DownloadResult:
        result = DownloadResult()
        progress = self.progress or default_progress()
        try:
            for series in plan_series(self.config):
                report = SeriesReport(series)
                result.reports.append(report)
                store = PartitionStore(self.storage, series)
                try:
                    self.download_series(series, store, report, progress)
                finally:
                    result.written.update(store.written)
                    report.partitions_written = len(store.written)
                    report.rows_added = store.rows_added
                    report.first_added, report.last_added = store.first_added, store.last_added
        finally:
            progress.close()
            for client in self._clients.values():
                client.close()
        return result

    def download_series(
        self, series: Series, store: PartitionStore, report: SeriesReport, progress: ProgressView
    ) -> None:
        started = time.perf_counter()
        stats = report.stats
        rest = self.client(series.market, stats)
        iv = series.interval_ms
        now = rest.server_time()
        # The last closed candle opens at or before now - iv; ``end`` is the open time after it
        # (candle starts are aligned to the epoch, weekly ones to Monday).
        offset = WEEK_OFFSET_MS if series.interval == "1w" else 0
        end = (now - iv - offset) // iv * iv + offset + iv
        if self.settings.end is not None:
            end = min(end, to_ms(self.settings.end))
        wanted = to_ms(self.settings.start) if self.settings.start is not None else 0
        first = rest.first_open_time(series, wanted)
        if first is None or first >= end:
            report.note = f"the exchange has no closed candle from {iso_ms(wanted)} to {iso_ms(end)}"
            log.info("%s: %s", series.label, report.note)
            report.duration_s = time.perf_counter() - started
            return
        start = max(wanted, first)
        missing = holes(store.coverage(start, end), start, end, iv)
        units = plan_units(missing, iv, rest.page_limit, self.settings.archive)
        progress.start(series.label, sum((b - a) // iv for a, b in missing))
        fetcher = ArchiveFetcher(
            self.endpoints.data_url, RetryPolicy.from_config(self.settings), self.sleep, stats,
            self.settings.timeout_s,
        )  # fmt: skip
        archived: list[tuple[int, int]] = []
        try:
            for unit in units:
                if unit.archive is not None:
                    added = self._from_archive(series, store, unit, fetcher, report)
                    if added is not None:
                        archived.append((unit.start, unit.end))
                        progress.advance(series.label, (unit.end - unit.start) // iv, added, "archive")
                        continue
                self._from_rest(series, store, rest, unit.start, unit.end, report, progress)
            # An archive may lack candles the REST API has: page those holes once more, so either path
            # alone gives the same stored data. Real exchange gaps cost one page and one probe here.
            if archived:
                for a, b in holes(store.coverage(start, end), start, end, iv):
                    for lo, hi in archived:
                        if a < hi and lo < b:
                            self._from_rest(series, store, rest, max(a, lo), min(b, hi), report, None)
        finally:
            fetcher.close()
            progress.finish(series.label)
            report.duration_s = time.perf_counter() - started
        report.set_coverage(store.coverage(start, end), start, end)
        log.info(
            "%s: %d rows added, %d gaps from the exchange, %d requests",
            series.label,
            store.rows_added,
            len(report.gaps),
            stats.requests,
        )

    def _from_archive(
        self, series: Series, store: PartitionStore, unit: Unit, fetcher: ArchiveFetcher, report: SeriesReport
    ) -> int | None:
        """Rows added from the unit's archive file; None when the REST API must be used instead."""
        assert unit.archive is not None
        period, stamp = unit.archive
        try:
            frame = fetcher.fetch(series, period, stamp)
        except ChecksumMismatch as exc:
            log.warning("%s; using the REST API instead", exc)
            report.archive_fallbacks.append(stamp)
            return None
        if frame is None:
            log.info("%s: no %s archive for %s; using the REST API", series.label, period, stamp)
            report.archive_missing.append(stamp)
            return None
        report.archive_files += 1
        frame = frame.filter((pl.col("timestamp") >= unit.start) & (pl.col("timestamp") < unit.end))
        return store.add(frame)

    def _from_rest(
        self,
        series: Series,
        store: PartitionStore,
        rest: RestClient,
        start: int,
        end: int,
        report: SeriesReport,
        progress: ProgressView | None,
    ) -> None:
        iv = series.interval_ms
        reached = start

        def sink(frame: pl.DataFrame, cursor: int) -> None:
            nonlocal reached
            added = store.add(frame)
            if progress is not None:
                progress.advance(series.label, max(0, (min(cursor, end) - reached) // iv), added, "page")
            reached = max(reached, min(cursor, end))

        report.rest_pages += rest.fetch_range(series, start, end, sink)
        if progress is not None and reached < end:  # the rest of the range is an exchange gap
            progress.advance(series.label, (end - reached) // iv, 0, "gap")


def download_all(
    config: PipelineConfig,
    storage: Storage,
    *,
    progress: ProgressView | None = None,
    sleep: Callable[[float], None] = time.sleep,
    environ: Mapping[str, str] | None = None,
) -> DownloadResult:
    """Download every series of ``config`` (data sources without ``path`` x intervals) into ``storage``."""
    return Downloader(config, storage, progress=progress, sleep=sleep, environ=environ).run()
