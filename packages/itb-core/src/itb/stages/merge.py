"""merge: all sources onto one continuous time raster at ``freq``.

Missing candles become rows (filled from the previous close with zero volume, or left null, per
``merge.gaps``); duplicate timestamps keep their first row and are reported; timestamps off the
raster are an error naming the file and row.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

import polars as pl

from itb.config.models import PipelineConfig
from itb.errors import DataError
from itb.stages.base import Stage, StageContext, StageResult
from itb.storage.sources import read_source, resolve_source, source_fingerprint

PRICE_COLUMNS = ("open", "high", "low")
ZERO_COLUMNS = ("volume", "quote_av", "trades", "tb_base_av", "tb_quote_av")
MAX_GAPS_LISTED = 20


def _ms(value: Any) -> int | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1000)


def gap_ranges(timestamps: pl.Series, freq_ms: int) -> list[dict[str, Any]]:
    """Runs of missing candles between consecutive timestamps (sorted, unique)."""
    df = pl.DataFrame({"ts": timestamps}).with_columns(prev=pl.col("ts").shift(1))
    gaps = df.filter(pl.col("ts") - pl.col("prev") > freq_ms)
    return [
        {
            "from": _iso(row["prev"] + freq_ms),
            "to": _iso(row["ts"] - freq_ms),
            "missing": (row["ts"] - row["prev"]) // freq_ms - 1,
        }
        for row in gaps.iter_rows(named=True)
    ]


def _iso(ms: int) -> str:
    from datetime import datetime

    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class MergeStage(Stage):
    name = "merge"
    deps = ("download",)

    def outputs(self, config: PipelineConfig) -> list[str]:
        return ["merged.parquet"]

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
        freq = config.freq_ms
        frames: list[pl.DataFrame] = []
        report: dict[str, Any] = {"sources": []}
        external: dict[str, dict[str, Any]] = {}
        for source in config.data_sources:
            df, fingerprint = read_source(source, config)
            label = source.path or f"{source.market}/{source.symbol}"
            external[label] = {"fingerprint": fingerprint, "rows": df.height}
            if (df["timestamp"] % freq != 0).any():
                misaligned = df.with_row_index("row").filter(pl.col("timestamp") % freq != 0)
                row = misaligned.row(0, named=True)
                raise DataError(
                    f"{label}: row {row['row']}: timestamp {row['timestamp']} is not on the "
                    f"{config.freq} raster ({misaligned.height} such rows)"
                )
            # sorted by time, so equal timestamps are neighbours
            duplicates = int((df["timestamp"].diff() == 0).sum())
            if duplicates:
                df = df.unique("timestamp", keep="first", maintain_order=True)
            report["sources"].append(
                {
                    "source": label,
                    "rows": df.height,
                    "duplicate_timestamps": duplicates,
                    "gaps": gap_ranges(df["timestamp"], freq)[:MAX_GAPS_LISTED],
                }
            )
            if duplicates:
                ctx.log.warning("%s: %d duplicate timestamps dropped (first kept)", label, duplicates)
            prefix = source.column_prefix
            frames.append(df.rename({c: f"{prefix}{c}" for c in df.columns if c != "timestamp"}))

        start = _ms(config.merge.start) or int(frames[0]["timestamp"].min())  # type: ignore[arg-type]
        end = _ms(config.merge.end) or int(frames[0]["timestamp"].max()) + freq  # type: ignore[arg-type]
        start -= start % freq
        if end <= start:
            raise DataError(f"merge: empty time range {_iso(start)} .. {_iso(end)}")
        raster = pl.int_range(start, end, freq, eager=True, dtype=pl.Int64).set_sorted()
        merged = pl.DataFrame({"timestamp": raster})
        for i, (source, frame) in enumerate(zip(config.data_sources, frames, strict=True)):
            prefix = source.column_prefix
            if i == 0 and _on_raster(frame, start, end, freq):  # the join would change nothing
                merged = frame.select("timestamp", pl.exclude("timestamp"))
            else:
                # both sides sorted by time (read_source sorts): polars can merge instead of hashing
                frame = frame.with_columns(pl.col("timestamp").set_sorted())
                merged = merged.join(frame, on="timestamp", how="left")
            report["sources"][i]["missing_rows"] = int(merged[f"{prefix}close"].null_count())
            if config.merge.gaps == "fill" and sum(merged.null_count().row(0)):
                merged = _fill(merged, prefix, freq)
        ctx.log.info("merged %d rows from %d source(s)", merged.height, len(frames))
        written = ctx.storage.write_parquet("merged.parquet", merged)
        report["rows"] = merged.height
        report["range"] = [_iso(start), _iso(end - freq)]
        return StageResult({"merged.parquet": written}, metrics=report, external_inputs=external)


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
