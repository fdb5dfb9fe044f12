"""The archive path: checksummed monthly zips, falling back to REST, equal to the REST path."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from itb.download import download_all
from itb.download.report import LogProgress
from itb.storage import Storage

from tests.download.conftest import SPOT_FILE, make_config, stored
from tests.download.test_download_rest import assert_exact, download
from tests.fakes.binance_server import FakeBinance, load_klines, ms


def test_archive_months_then_rest_tail_equal_the_source(fake: FakeBinance, tmp_path: Path) -> None:
    report = download(fake, tmp_path, start="2023-02-25", end="2023-04-02T06:00", archive=True)
    assert_exact(fake, tmp_path, "2023-02-25", "2023-04-02T06:00")
    series = report["series"][0]
    assert series["archive_files"] == 1  # March; the partial months come from REST
    assert series["gaps"][0]["from"] == "2023-03-24T12:40:00Z"
    archives = fake.requests("/data/spot/monthly/klines/BTCUSDT/1m/BTCUSDT-1m-2023-03.zip")
    assert [status for _, status in archives] == [200, 200]  # .CHECKSUM, then the zip


def test_bad_checksum_is_retried_then_falls_back_to_rest(fake: FakeBinance, tmp_path: Path) -> None:
    fake.add_fault("bad_checksum", path=".CHECKSUM", times=None)
    report = download(fake, tmp_path, start="2023-03-01", end="2023-04-01", archive=True)
    assert_exact(fake, tmp_path, "2023-03-01", "2023-04-01")
    series = report["series"][0]
    assert series["archive_fallbacks"] == ["2023-03"] and series["archive_files"] == 0
    assert series["rest_pages"] >= 44


def test_missing_and_flaky_archives(fake: FakeBinance, tmp_path: Path) -> None:
    fake.add_fault("404", path="2023-03.zip.CHECKSUM")  # March not published yet
    fake.add_fault("500", path="2023-04.zip", times=2)  # April's server hiccups twice
    report = download(fake, tmp_path, start="2023-03-01", end="2023-05-01", archive=True)
    assert_exact(fake, tmp_path, "2023-03-01", "2023-05-01")
    series = report["series"][0]
    assert series["archive_missing"] == ["2023-03"] and series["archive_files"] == 1
    assert series["retries"] == 2


def test_futures_archive_with_header(fake: FakeBinance, tmp_path: Path) -> None:
    sources = [{"symbol": "LINKUSDT", "market": "futures-um"}]
    report = download(fake, tmp_path, sources, start="2023-02-01", end="2023-03-01", archive=True)
    assert_exact(fake, tmp_path, "2023-02-01", "2023-03-01", market="futures-um", symbol="LINKUSDT")
    assert report["series"][0]["archive_files"] == 1
    assert fake.requests("/data/futures/um/monthly/klines/LINKUSDT/1m/LINKUSDT-1m-2023-02.zip")


def test_microsecond_spot_archives_from_2025_are_normalised(tmp_path: Path) -> None:
    if not SPOT_FILE.exists():
        pytest.skip(f"shared test data not found at {SPOT_FILE} (CI has it)")
    data = load_klines(SPOT_FILE, "2025-01-01", "2025-02-01")
    server = FakeBinance({("spot", "BTCUSDT"): data}, ms("2025-02-01T00:00:30")).start()
    try:
        config = make_config(str(tmp_path), start="2025-01-01", archive=True)
        result = download_all(config, Storage(str(tmp_path)), progress=LogProgress(), environ=server.env())
        assert result.reports[0].archive_files == 1
        zipped = server.requests(".zip")
        assert zipped and all(status == 200 for _, status in zipped)
        got = stored(tmp_path)
        assert got.equals(data), "microsecond archive rows differ from the source"
        assert got["close_time"].to_list()[0] == ms("2025-01-01") + 59_999
        assert pl.read_parquet(tmp_path / "klines/spot/BTCUSDT/1m/2025-01.parquet").height == data.height
    finally:
        server.stop()
