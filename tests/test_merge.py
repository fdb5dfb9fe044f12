"""merge: continuous raster, gap filling or nulls, duplicate reporting, clear errors for bad rows."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from itb.config import parse_config
from itb.errors import DataError
from itb.runs.runner import run_pipeline

from tests.conftest import itb

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


def merge_config(tmp_path: Path, path: Path, gaps: str = "fill", extra: list[Any] | None = None) -> Any:
    data: dict[str, Any] = {
        "symbol": "TEST",
        "data_root": str(tmp_path / "root"),
        "data_sources": [{"symbol": "TEST", "path": str(path)}, *(extra or [])],
        "merge": {"gaps": gaps},
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
    return result.storage.read_parquet("merged.parquet"), result.manifest.stages["merge"]


def test_gaps_are_filled_from_the_previous_close(tmp_path: Path) -> None:
    stamps = [T0, T0 + MINUTE, T0 + 4 * MINUTE, T0 + 5 * MINUTE]
    klines(stamps).write_parquet(tmp_path / "k.parquet")
    merged, stage = run_merge(merge_config(tmp_path, tmp_path / "k.parquet"))
    assert merged["timestamp"].to_list() == [T0 + i * MINUTE for i in range(6)]
    filled = merged.filter(pl.col("timestamp").is_in([T0 + 2 * MINUTE, T0 + 3 * MINUTE]))
    assert filled["close"].to_list() == [101.25, 101.25]
    assert filled["open"].to_list() == filled["high"].to_list() == filled["low"].to_list() == [101.25, 101.25]
    assert filled["volume"].to_list() == [0.0, 0.0] and filled["trades"].to_list() == [0, 0]
    report = stage.metrics["sources"][0]
    assert report["missing_rows"] == 2
    assert report["gaps"] == [{"from": "2024-01-01T00:02:00Z", "to": "2024-01-01T00:03:00Z", "missing": 2}]


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
    assert stage.metrics["sources"][0]["duplicate_timestamps"] == 1


def test_second_source_with_prefix(tmp_path: Path) -> None:
    klines([T0 + i * MINUTE for i in range(5)]).write_parquet(tmp_path / "btc.parquet")
    klines([T0 + i * MINUTE for i in (0, 1, 3, 4)], price=10).write_parquet(tmp_path / "eth.parquet")
    extra = [{"symbol": "ETH", "path": str(tmp_path / "eth.parquet"), "column_prefix": "eth_"}]
    merged, stage = run_merge(merge_config(tmp_path, tmp_path / "btc.parquet", extra=extra))
    assert {"close", "eth_close", "eth_volume"} <= set(merged.columns)
    assert merged["eth_close"].to_list() == [10.25, 11.25, 11.25, 12.25, 13.25]
    assert stage.metrics["sources"][1]["missing_rows"] == 1


def test_off_raster_timestamp_names_file_and_row(tmp_path: Path) -> None:
    klines([T0, T0 + MINUTE, T0 + MINUTE + 7, T0 + 3 * MINUTE]).write_parquet(tmp_path / "bad.parquet")
    result = run_pipeline(
        merge_config(tmp_path, tmp_path / "bad.parquet"), backend="inprocess", only=["merge"]
    )
    error = result.manifest.stages["merge"].error
    assert str(tmp_path / "bad.parquet") in error and "row 2" in error and "not on the 1m raster" in error


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
