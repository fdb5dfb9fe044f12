"""The exchange's real 80-minute outage (2023-03-24 12:40-13:59 UTC) through ``itb run``, end to end.

Merged with ``gaps: "null"`` the outage stays a hole of null rows: features are null only where their
window reaches into it, none is null 3,000 rows after it, and the run's summary says the gap is there
(with its bounds and size) instead of succeeding silently.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from itb import datasets

from tests.conftest import SHARED_DATA, itb, load_default_config, write_config

SPOT = SHARED_DATA / "binance" / "spot" / "BTCUSDT-1m.parquet"
OUTAGE_START = datetime(2023, 3, 24, 12, 40, tzinfo=UTC)
OUTAGE_END = datetime(2023, 3, 24, 14, 0, tzinfo=UTC)  # first candle after the outage


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@pytest.mark.skipif(not SPOT.exists(), reason="needs ../shared/data (real Binance klines)")
def test_outage_is_local_to_the_windows_that_reach_it_and_the_summary_names_it(tmp_path: Path) -> None:
    source = tmp_path / "btc-2023-03.parquet"
    start, end = _ms(datetime(2023, 3, 20, tzinfo=UTC)), _ms(datetime(2023, 3, 29, tzinfo=UTC))
    pl.scan_parquet(SPOT).filter(
        pl.col("timestamp").is_between(start, end, closed="left")
    ).collect().write_parquet(source)
    data = copy.deepcopy(load_default_config())
    data["data_sources"][0]["path"] = str(source)
    data["merge"] = {"gaps": "null"}
    data["data_root"] = str(tmp_path / "root")
    config = write_config(tmp_path / "outage.json", data)

    result = itb("run", str(config), "--only", "merge", "--only", "features", "--backend", "inprocess")
    assert result.returncode == 0, result.stderr
    summary = " ".join((result.stdout + result.stderr).split())  # the summary wraps to the terminal width
    assert "warning merge" in summary
    assert "80 of" in summary and "2023-03-24T12:40:00Z .. 2023-03-24T13:59:00Z (80 rows)" in summary

    features = pl.read_parquet(tmp_path / "root" / datasets.FEATURES)
    names = [c for c in features.columns if c != "timestamp"]
    after = int(features["timestamp"].search_sorted(_ms(OUTAGE_END)))
    gap = features.slice(after - 80, 80)
    assert all(gap[c].null_count() == 80 for c in names)  # no value is made up inside the hole
    assert all(features.slice(after + 3000)[c].null_count() == 0 for c in names)
    # right after the hole a window-w feature is null for exactly w - 1 rows, then known again
    for name in names:
        window = int(name.rsplit("_", 1)[1])
        column = features[name].slice(after, 100)
        assert column.null_count() == window - 1, name
        assert column.slice(window - 1).null_count() == 0, name
    before = features.slice(0, after - 80 - 1)  # ... and the rows before the hole are untouched
    assert all(before.slice(100)[c].null_count() == 0 for c in names)
