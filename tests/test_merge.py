"""merge: continuous raster, gap filling or nulls, duplicate reporting, clear errors for bad rows."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from itb import datasets
from itb.compute.merge import (
    MAX_GAPS_LISTED,
    SourceFrame,
    check_filled_share,
    gap_summary,
    merge_sources,
    merge_warnings,
)
from itb.config import parse_config
from itb.errors import DataError
from itb.runs.runner import run_pipeline
from itb.timefmt import iso_ms

from tests.conftest import SHARED_DATA, itb

MINUTE = 60_000
T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z


def klines(timestamps: list[int], price: float = 100.0) -> pl.DataFrame:
    n = len(timestamps)
    return pl.DataFrame(
        {
            "timestamp": timestamps,
            "open": [price + i for i in range(n)],
            "high": [price + i + 0.5 for i in range(n)],
            "low": [price + i - 0.5 for i in range(n)],
            "close": [price + i + 0.25 for i in range(n)],
            "volume": [1.0] * n,
            "close_time": [t + MINUTE - 1 for t in timestamps],
            "quote_av": [100.0] * n,
            "trades": [5] * n,
            "tb_base_av": [0.5] * n,
            "tb_quote_av": [50.0] * n,
        }
    )


def merge_config(
    tmp_path: Path,
    path: Path,
    gaps: str = "fill",
    extra: list[Any] | None = None,
    max_filled_share: float = 1.0,  # the tables here are a few rows: one gap is a large share
) -> Any:
    data: dict[str, Any] = {
        "symbol": "TEST",
        "data_root": str(tmp_path / "root"),
        "data_sources": [{"symbol": "TEST", "path": str(path)}, *(extra or [])],
        "merge": {"gaps": gaps, "max_filled_share": max_filled_share},
        "feature_sets": [
            {"generator": "talib", "config": {"columns": ["close"], "functions": ["SMA"], "windows": [2]}}
        ],
        "train": {"labels": ["up"], "algorithms": [{"name": "gb"}]},
        "label_sets": [
            {
                "generator": "highlow2",
                "config": {
                    "function": "high",
                    "thresholds": [1.0],
                    "tolerance": 0.5,
                    "horizon": 3,
                    "names": ["up"],
                },
            }
        ],
    }
    return parse_config(copy.deepcopy(data))


def run_merge(config: Any) -> tuple[pl.DataFrame, dict[str, Any]]:
    result = run_pipeline(config, backend="inprocess", only=["merge"])
    assert result.ok, result.manifest.stages["merge"].error
    return result.storage.read_parquet(datasets.MERGED), result.manifest.stages["merge"]


def test_gaps_are_filled_from_the_previous_close(tmp_path: Path) -> None:
    stamps = [T0, T0 + MINUTE, T0 + 4 * MINUTE, T0 + 5 * MINUTE]
    klines(stamps).write_parquet(tmp_path / "k.parquet")
    merged, stage = run_merge(merge_config(tmp_path, tmp_path / "k.parquet"))
    assert merged["timestamp"].to_list() == [T0 + i * MINUTE for i in range(6)]
    filled = merged.filter(pl.col("timestamp").is_in([T0 + 2 * MINUTE, T0 + 3 * MINUTE]))
    assert filled["close"].to_list() == [101.25, 101.25]
    assert filled["open"].to_list() == filled["high"].to_list() == filled["low"].to_list() == [101.25, 101.25]
    assert filled["volume"].to_list() == [0.0, 0.0] and filled["trades"].to_list() == [0, 0]
    report = stage.metrics["report"]
    assert report["gap_rows_filled"] == 2 and report["filled_share"] == round(2 / 6, 6)
    source = report["sources"][0]
    assert source["missing_rows"] == 2
    gap = {"start": "2024-01-01T00:02:00Z", "end": "2024-01-01T00:03:00Z", "rows": 2}
    assert source["gaps"] == [gap] and source["largest_gap"] == gap
    [warning] = stage.metrics["warnings"]
    assert warning["kind"] == "gap_rows_filled" and warning["count"] == 2
    assert warning["first_rows"] == ["2024-01-01T00:02:00Z"] and "filled" in warning["message"]


def test_gaps_can_stay_null(tmp_path: Path) -> None:
    klines([T0, T0 + 3 * MINUTE]).write_parquet(tmp_path / "k.parquet")
    merged, _ = run_merge(merge_config(tmp_path, tmp_path / "k.parquet", gaps="null"))
    assert merged.height == 4 and merged["close"].null_count() == 2


def test_duplicate_timestamps_are_reported_and_dropped(tmp_path: Path) -> None:
    frame = klines([T0, T0 + MINUTE, T0 + MINUTE, T0 + 2 * MINUTE])
    frame.write_parquet(tmp_path / "k.parquet")
    merged, stage = run_merge(merge_config(tmp_path, tmp_path / "k.parquet"))
    assert merged.height == 3
    assert merged["close"].to_list() == [100.25, 101.25, 103.25]  # the first of the duplicates is kept
    assert stage.metrics["report"]["sources"][0]["duplicates_dropped"] == 1
    [warning] = stage.metrics["warnings"]
    assert warning == {
        "kind": "duplicates_dropped",
        "count": 1,
        "message": f"{tmp_path / 'k.parquet'}: 1 duplicate timestamps dropped (first kept)",
        "first_rows": ["2024-01-01T00:01:00Z"],
    }


def test_second_source_with_prefix(tmp_path: Path) -> None:
    klines([T0 + i * MINUTE for i in range(5)]).write_parquet(tmp_path / "btc.parquet")
    klines([T0 + i * MINUTE for i in (0, 1, 3, 4)], price=10).write_parquet(tmp_path / "eth.parquet")
    extra = [{"symbol": "ETH", "path": str(tmp_path / "eth.parquet"), "column_prefix": "eth_"}]
    merged, stage = run_merge(merge_config(tmp_path, tmp_path / "btc.parquet", extra=extra))
    assert {"close", "eth_close", "eth_volume"} <= set(merged.columns)
    assert merged["eth_close"].to_list() == [10.25, 11.25, 11.25, 12.25, 13.25]
    assert stage.metrics["report"]["sources"][1]["missing_rows"] == 1


def test_off_raster_timestamp_names_file_and_row(tmp_path: Path) -> None:
    klines([T0, T0 + MINUTE, T0 + MINUTE + 7, T0 + 3 * MINUTE]).write_parquet(tmp_path / "bad.parquet")
    result = run_pipeline(
        merge_config(tmp_path, tmp_path / "bad.parquet"), backend="inprocess", only=["merge"]
    )
    error = result.manifest.stages["merge"].error
    assert str(tmp_path / "bad.parquet") in error and "row 2" in error and "not on the 1m raster" in error


def test_too_many_filled_rows_fail_merge_with_the_share_and_the_largest_gap(tmp_path: Path) -> None:
    # 100 candles with an outage of 7 (rows 40..46) and one of 2: 9 of 100 rows filled
    stamps = [T0 + i * MINUTE for i in range(100) if not 40 <= i < 47 and i not in (80, 81)]
    klines(stamps).write_parquet(tmp_path / "k.parquet")
    result = run_pipeline(
        merge_config(tmp_path, tmp_path / "k.parquet", max_filled_share=0.05),
        backend="inprocess",
        only=["merge"],
    )
    stage = result.manifest.stages["merge"]
    assert stage.status == "failed" and stage.exit_code == DataError.exit_code == 2
    assert stage.error is not None and "9.00% of the 100 rows" in stage.error
    assert "2024-01-01T00:40:00Z .. 2024-01-01T00:46:00Z (7 rows)" in stage.error
    assert not (tmp_path / "root" / datasets.MERGED).exists()
    # the same data passes under a limit above its share
    merged, _ = run_merge(merge_config(tmp_path, tmp_path / "k.parquet", max_filled_share=0.1))
    assert merged.height == 100


def test_merge_report_counts_bad_values_with_their_first_rows() -> None:
    frame = klines([T0 + i * MINUTE for i in range(10)]).with_columns(
        close=pl.Series([1.0, float("nan"), 3.0, float("inf"), 5.0, 6.0, float("nan"), 8.0, 9.0, 10.0]),
        low=pl.Series([1.0, 0.0, 3.0, 4.0, -1.0, 6.0, 7.0, 8.0, 9.0, 10.0]),
        volume=pl.Series([1.0] * 9 + [float("-inf")]),
    )
    merged, report = merge_sources([SourceFrame("k", frame)], "1m")
    assert merged.height == 10 and report.gap_rows_filled == 0 and report.filled_share == 0.0
    bad = {(b.column, b.kind): (b.count, b.first_rows) for b in report.sources[0].bad_values}
    minute = [f"2024-01-01T00:0{i}:00Z" for i in range(10)]
    # oracle: the positions written above
    assert bad == {
        ("close", "nan"): (2, [minute[1], minute[6]]),
        ("close", "inf"): (1, [minute[3]]),
        ("volume", "inf"): (1, [minute[9]]),
        ("low", "non_positive"): (2, [minute[1], minute[4]]),
    }
    kinds = {w.kind: w for w in merge_warnings(report)}
    assert set(kinds) == {"bad_values", "non_positive_prices"}
    assert kinds["bad_values"].count == 4 and kinds["non_positive_prices"].count == 2
    assert kinds["non_positive_prices"].first_rows == [minute[1], minute[4]]


def test_merge_report_of_a_clean_source_has_no_warnings() -> None:
    _, report = merge_sources([SourceFrame("k", klines([T0 + i * MINUTE for i in range(5)]))], "1m")
    assert merge_warnings(report) == [] and report.largest_gap is None
    assert report.range == ("2024-01-01T00:00:00Z", "2024-01-01T00:04:00Z")


def test_corrupt_source_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "bad.parquet").write_bytes(b"this is not parquet")
    config = merge_config(tmp_path, tmp_path / "bad.parquet")
    with pytest.raises(DataError, match="not a readable Parquet file"):
        from itb.storage.sources import read_source

        read_source(config.data_sources[0], config)


def test_json_log_format_emits_machine_readable_events(small_config: Path, tmp_path: Path) -> None:
    import json

    result = itb(
        "--log-format",
        "json",
        "run",
        str(small_config),
        "--only",
        "merge",
        "--data-root",
        str(tmp_path / "json"),
    )
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert [(e["stage"], e["status"]) for e in events] == [("merge", "running"), ("merge", "succeeded")]
    assert json.loads(result.stdout.strip().splitlines()[-1])["status"] == "succeeded"


def test_the_real_march_2023_outage_is_reported_as_the_largest_gap() -> None:
    """Binance BTCUSDT 1m has no candles 2023-03-24 12:40..13:59 UTC (80 minutes): a known outage."""
    spot = SHARED_DATA / "binance" / "spot" / "BTCUSDT-1m.parquet"
    if not spot.exists():
        pytest.skip("the shared Binance data is not here")
    day = 1_679_616_000_000  # 2023-03-24T00:00:00Z
    one_day = pl.col("timestamp").is_between(day, day + 1440 * MINUTE - 1)
    frame = pl.scan_parquet(spot).filter(one_day).collect()
    merged, report = merge_sources([SourceFrame("spot", frame)], "1m")
    assert merged.height == 1440 and report.gap_rows_filled == 80
    assert report.largest_gap is not None
    outage = {"start": "2023-03-24T12:40:00Z", "end": "2023-03-24T13:59:00Z", "rows": 80}
    assert report.largest_gap.model_dump() == outage
    assert report.filled_share == round(80 / 1440, 6)  # above the default 5%: a day around it would fail
    named = r"5\.56% of the 1440 rows .* 2023-03-24T12:40:00Z \.\. 2023-03-24T13:59:00Z \(80 rows\)"
    with pytest.raises(DataError, match=named):
        check_filled_share(report, 0.05)
    check_filled_share(report, 0.06)


def test_gap_summary_lists_the_first_gaps_counts_all_and_finds_the_longest() -> None:
    # 30 gaps: gap k (k = 0..29) misses k % 7 + 1 candles; the first 7-candle gap is k = 6
    stamps, t = [], T0
    for k in range(30):
        stamps.append(t)
        t += (k % 7 + 2) * MINUTE
    stamps.append(t)
    listed, count, longest = gap_summary(pl.Series(stamps), MINUTE)
    assert count == 30 and len(listed) == MAX_GAPS_LISTED
    assert [g.rows for g in listed] == [k % 7 + 1 for k in range(MAX_GAPS_LISTED)]
    assert longest == listed[6] and longest.rows == 7
    assert longest.start == iso_ms(stamps[6] + MINUTE) and longest.end == iso_ms(stamps[7] - MINUTE)
