"""The per-run validation report (stored in the run manifest) and the progress display.

The report tells, per series, what this run added and what the stored range now looks like, with the
gaps the exchange itself has (candles Binance never produced, e.g. BTCUSDT 2023-03-24 12:40..13:59):
those are reported, never filled, because inventing candles is the merge stage's decision.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from itb.download.endpoints import Series
from itb.download.partitions import Run, holes
from itb.download.retry import Stats
from itb.timefmt import iso_ms

log = logging.getLogger("itb.download")
MAX_GAPS_LISTED = 50


@dataclass
class SeriesReport:
    series: Series
    rows_added: int = 0
    first_added: int | None = None
    last_added: int | None = None
    range_start: int | None = None
    range_end: int | None = None
    stored_rows: int = 0
    gaps: list[tuple[int, int]] = field(default_factory=list)
    rest_pages: int = 0
    archive_files: int = 0
    archive_missing: list[str] = field(default_factory=list)
    archive_fallbacks: list[str] = field(default_factory=list)
    partitions_written: int = 0
    duration_s: float = 0.0
    stats: Stats = field(default_factory=Stats)
    note: str = ""

    def set_coverage(self, runs: list[Run], start: int, end: int) -> None:
        """Stored rows and exchange gaps within ``[start, end)`` from the runs stored after this run."""
        iv = self.series.interval_ms
        inside = [(max(a, start), min(b, end - iv)) for a, b in runs if b >= start and a < end]
        self.range_start, self.range_end = start, end
        self.stored_rows = sum((b - a) // iv + 1 for a, b in inside if b >= a)
        self.gaps = holes(inside, start, end, iv)

    def _range(self) -> list[str] | None:
        start, end = self.range_start, self.range_end
        if start is None or end is None or end <= start:
            return None
        return [iso_ms(start), iso_ms(end - self.series.interval_ms)]

    def as_dict(self) -> dict[str, Any]:
        iv = self.series.interval_ms
        gaps = [
            {"from": iso_ms(a), "to": iso_ms(b - iv), "missing": (b - a) // iv}
            for a, b in self.gaps[:MAX_GAPS_LISTED]
        ]
        out: dict[str, Any] = {
            "market": self.series.market,
            "symbol": self.series.symbol,
            "interval": self.series.interval,
            "rows_added": self.rows_added,
            "added": [iso_ms(self.first_added), iso_ms(self.last_added)]
            if self.first_added is not None and self.last_added is not None
            else None,
            "range": self._range(),
            "stored_rows": self.stored_rows,
            "gaps": gaps,
            "gaps_total": len(self.gaps),
            "missing_total": sum((b - a) // iv for a, b in self.gaps),
            "rest_pages": self.rest_pages,
            "archive_files": self.archive_files,
            "archive_missing": self.archive_missing,
            "archive_fallbacks": self.archive_fallbacks,
            "partitions_written": self.partitions_written,
            "requests": self.stats.requests,
            "retries": self.stats.retries,
            "rate_limited": self.stats.rate_limited,
            "waited_s": round(self.stats.waited_s, 3),
            "duration_s": round(self.duration_s, 3),
        }
        if self.note:
            out["note"] = self.note
        return out


class ProgressView(Protocol):
    """What the engine reports as it goes; rich bars on a terminal, log lines elsewhere."""

    def start(self, label: str, total: int) -> None: ...

    def advance(self, label: str, candles: int, rows: int, unit: str) -> None: ...

    def finish(self, label: str) -> None: ...

    def close(self) -> None: ...


class LogProgress:
    """Progress as log lines (stage logs, CI): one line per archive file and every ``every`` pages."""

    def __init__(self, every: int = 50) -> None:
        self.every = every
        self.state: dict[str, dict[str, int]] = {}
        self.started: dict[str, float] = {}

    def start(self, label: str, total: int) -> None:
        self.state[label] = {"total": total, "done": 0, "rows": 0, "pages": 0, "months": 0}
        self.started[label] = time.monotonic()
        log.info("%s: %d candles to fetch", label, total)

    def advance(self, label: str, candles: int, rows: int, unit: str) -> None:
        s = self.state[label]
        s["done"] += candles
        s["rows"] += rows
        if unit == "gap":
            return
        s["pages" if unit == "page" else "months"] += 1
        if unit != "page" or s["pages"] % self.every == 0:
            log.info(
                "%s: %d pages, %d archive files, %d rows added (%.0f%%)",
                label,
                s["pages"],
                s["months"],
                s["rows"],
                100.0 * s["done"] / max(1, s["total"]),
            )

    def finish(self, label: str) -> None:
        s = self.state.get(label, {})
        log.info(
            "%s: done, %d rows added in %.1f s",
            label,
            s.get("rows", 0),
            time.monotonic() - self.started.get(label, time.monotonic()),
        )

    def close(self) -> None:
        pass


class RichProgress:
    """A rich progress bar per series: candles covered, pages or archive files, rows added, ETA."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[pages]} pages {task.fields[files]} archives {task.fields[rows]:,} rows"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self.tasks: dict[str, Any] = {}
        self.progress.start()

    def start(self, label: str, total: int) -> None:
        self.tasks[label] = self.progress.add_task(label, total=max(total, 1), pages=0, files=0, rows=0)

    def advance(self, label: str, candles: int, rows: int, unit: str) -> None:
        task_id = self.tasks[label]
        task = next(t for t in self.progress.tasks if t.id == task_id)
        fields = dict(task.fields)
        fields["rows"] += rows
        if unit != "gap":
            fields["pages" if unit == "page" else "files"] += 1
        self.progress.update(task_id, advance=candles, **fields)

    def finish(self, label: str) -> None:
        task_id = self.tasks[label]
        task = next(t for t in self.progress.tasks if t.id == task_id)
        self.progress.update(task_id, completed=task.total)

    def close(self) -> None:
        self.progress.stop()


def default_progress() -> ProgressView:
    """Bars when a person watches (stderr is a terminal), log lines otherwise."""
    return RichProgress() if sys.stderr.isatty() else LogProgress()
