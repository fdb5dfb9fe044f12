"""merge: all sources onto one continuous time raster at ``freq`` (see :mod:`itb.compute.merge`).

The stage reads the sources, merges them, and records the :class:`~itb.compute.merge.MergeReport`
(metrics ``report``) and what in it deserves a look (metrics ``warnings``). It fails when a source
misses more than ``merge.max_filled_share`` of the rows: a model over mostly invented candles
learns nothing real.

When the (single) source only grew at its end, the stage appends: it merges the new source rows
(:mod:`itb.compute.merge_append`) onto the stored table; its report then covers the rows merged by
this run, and the filled share counts the whole table. Several sources or a ``merge.end`` recompute
everything (see :mod:`itb.stages.incremental`).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import polars as pl

from itb import datasets
from itb.compute.append import AppendRecord, overlap_equal
from itb.compute.merge import MergeReport, SourceFrame, check_filled_share, merge_sources, merge_warnings
from itb.compute.merge_append import SourceMark, grown_only, merge_tail, source_mark, tail_offset
from itb.config.models import DataSource, PipelineConfig
from itb.stages.base import Stage, StageContext, StageResult
from itb.stages.incremental import (
    Recompute,
    TableOutcome,
    basis_key,
    check_append,
    log_record,
    read_rows_from,
)
from itb.storage.sources import read_source, resolve_source, source_fingerprint
from itb.storage.store import fingerprint_bytes
from itb.timefmt import iso_ms


def _ms(value: datetime | None) -> int | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1000)


class MergeStage(Stage):
    name = "merge"
    deps = ("download",)

    def outputs(self, config: PipelineConfig) -> list[str]:
        return [datasets.MERGED]

    def config_section(self, config: PipelineConfig) -> Any:
        return {
            "freq": config.freq,
            "sources": [s.model_dump(mode="json") for s in config.data_sources],
            "merge": config.merge.model_dump(mode="json"),
        }

    def external_fingerprints(self, config: PipelineConfig) -> dict[str, str]:
        return {
            url: source_fingerprint(url)
            for source in config.data_sources
            for url in resolve_source(source, config)
        }

    def run(self, ctx: StageContext) -> StageResult:
        config = ctx.config
        basis = basis_key(self, config, external=False)
        appended = self._append(ctx, basis)
        if isinstance(appended, Recompute):
            sources: list[SourceFrame] = []
            external: dict[str, dict[str, Any]] = {}
            for source in config.data_sources:
                df, fingerprint = read_source(source, config)
                label = _label(source)
                external[label] = {"fingerprint": fingerprint, "rows": df.height}
                sources.append(SourceFrame(label, df, source.column_prefix))
            merged, report = merge_sources(
                sources,
                config.freq,
                gaps=config.merge.gaps,
                start_ms=_ms(config.merge.start),
                end_ms=_ms(config.merge.end),
            )
            record = AppendRecord(mode="full", computed_rows=merged.height, reused_rows=0,
                                  reason=appended.reason)  # fmt: skip
            mark = source_mark(sources[0].frame, report.sources[0].missing_rows)
            made = TableOutcome(merged, 0, record, extra={"source": mark.model_dump()})
        else:
            made, report, external = appended
        log_record(ctx.log, self.name, made.record)
        warnings = merge_warnings(report)
        for warning in warnings:
            ctx.log.warning("%s", warning.message)
        check_filled_share(report, config.merge.max_filled_share)
        ctx.log.info("merged %d rows from %d source(s)", made.rows, len(config.data_sources))
        written = made.write(ctx.storage, datasets.MERGED)
        metrics = {
            "report": report.model_dump(mode="json"),
            "warnings": [w.model_dump(mode="json") for w in warnings],
        }
        return StageResult(
            {datasets.MERGED: written},
            metrics=metrics,
            external_inputs=external,
            incremental=made.record,
            state=made.state(basis, written),
        )

    def _append(
        self, ctx: StageContext, basis: str
    ) -> tuple[TableOutcome, MergeReport, dict[str, dict[str, Any]]] | Recompute:
        """The stored table with the grown source's new rows merged on (and the external inputs
        record), or why not."""
        config = ctx.config
        if len(config.data_sources) != 1:
            return Recompute("merge appends with one data source only")
        if config.merge.end is not None:
            return Recompute("merge.end is set")
        decision = check_append(self, config, ctx.storage, basis, None)
        if isinstance(decision, Recompute):
            return decision
        try:
            mark = SourceMark.model_validate(decision.previous.extra.get("source"))
        except ValueError:
            return Recompute("the earlier run recorded no source mark")
        offset = tail_offset(mark)
        frame, rows, fingerprint = _read_source_from(config.data_sources[0], config, offset)
        label = _label(config.data_sources[0])
        external = {label: {"fingerprint": fingerprint, "rows": rows}}
        source = SourceFrame(label, frame, config.data_sources[0].column_prefix)
        reason = grown_only(frame, offset, mark)
        if reason is not None:
            return Recompute(reason)
        stamps = ctx.storage.read_parquet(datasets.MERGED, columns=["timestamp"])["timestamp"]
        if stamps.is_empty():
            return Recompute("the stored table is empty")
        first = int(stamps[0])
        tail = merge_tail(stamps.len(), first, source, offset, mark, config.freq, config.merge.gaps,
                          _ms(config.merge.start))  # fmt: skip
        stored = read_rows_from(ctx.storage, datasets.MERGED, tail.plan.verify_from)
        if not overlap_equal(stored, tail.table, tail.plan, stored_from=tail.plan.verify_from):
            return Recompute("the merged overlap differs from the stored rows")
        new = tail.table.slice(tail.plan.keep - tail.plan.start)
        rows = tail.plan.keep + new.height
        missing = mark.missing_rows + tail.new_missing
        report = tail.report.model_copy(
            update={
                "rows": rows,
                "range": (iso_ms(first), iso_ms(int(tail.table["timestamp"][-1]))),
                "gap_rows_filled": missing,
                "filled_share": round(missing / rows, 6),
            }
        )
        record = AppendRecord(
            mode="append",
            computed_rows=new.height,
            reused_rows=tail.plan.keep,
            reason=f"the source grew by {rows - mark.rows} rows after its earlier end",
        )
        extra = {"source": source_mark(frame, missing, offset).model_dump()}
        made = TableOutcome(new, tail.plan.keep, record, decision.previous, None, extra, decision.stored)
        return made, report, external


def _label(source: DataSource) -> str:
    return source.path or f"{source.market}/{source.symbol}"


def _read_source_from(
    source: DataSource, config: PipelineConfig, offset: int
) -> tuple[pl.DataFrame, int, str]:
    """A source's rows from ``offset`` on, its row count and fingerprint (as :func:`read_source` gives).

    Local Parquet files are scanned, so row groups before ``offset`` are not decoded (their bytes are
    hashed for the fingerprint all the same, once per process). Other sources, or files whose
    schemas or order need :func:`read_source`'s handling, are read whole.
    """
    urls = resolve_source(source, config)
    paths = [url.removeprefix("file://") for url in urls]
    if all("://" not in path and os.path.isfile(path) for path in paths):
        try:
            scan = pl.scan_parquet(paths)
            rows = int(scan.select(pl.len()).collect().item())
            frame = scan.slice(offset).collect()
        except (pl.exceptions.PolarsError, OSError):
            frame = None  # read_source says what is wrong with it
        if frame is not None and frame.height and frame["timestamp"].is_sorted():
            digest = "".join(source_fingerprint(url) for url in urls)
            return frame, rows, fingerprint_bytes(digest.encode())
    whole, fingerprint = read_source(source, config)
    return whole.slice(offset), whole.height, fingerprint
