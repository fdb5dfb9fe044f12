"""The download building blocks alone: planning, coverage, retries, pacing, archives, settings."""

from __future__ import annotations

import hashlib
import io
import zipfile
from typing import Any

import polars as pl
import pytest
from itb.config import parse_config
from itb.download.archive import archive_path, parse_archive_csv
from itb.download.endpoints import Series, binance_interval, plan_series, resolve_endpoints, with_overrides
from itb.download.engine import Unit, plan_units
from itb.download.errors import DownloadError, IpBanned
from itb.download.partitions import PartitionStore, holes, months_overlapping, rows_to_frame, runs_of
from itb.download.retry import (
    RetryAfter,
    RetryPolicy,
    Stats,
    Transient,
    WeightPacer,
    status_error,
    with_retries,
)
from itb.errors import ConfigError
from itb.storage import Storage
from itb.storage.sources import default_location

from tests.download.conftest import config_data
from tests.fakes.binance_server import ms

MIN = 60_000
BTC = Series("spot", "BTCUSDT", "1m", "1m", MIN)


def kline(ts: int, price: float = 1.5) -> list[Any]:
    return [
        ts,
        str(price),
        str(price),
        str(price),
        str(price),
        "2.25",
        ts + MIN - 1,
        "3.5",
        7,
        "1.0",
        "1.5",
        "0",
    ]


def test_months_holes_and_runs() -> None:
    assert months_overlapping(ms("2023-01-31T23:59"), ms("2023-03-01")) == ["2023-01", "2023-02"]
    assert months_overlapping(ms("2023-12-15"), ms("2024-01-02")) == ["2023-12", "2024-01"]
    ts = pl.Series([0, MIN, 2 * MIN, 5 * MIN, 6 * MIN])
    assert runs_of(ts, MIN) == [(0, 2 * MIN), (5 * MIN, 6 * MIN)]
    assert holes([(0, 2 * MIN), (5 * MIN, 6 * MIN)], 0, 10 * MIN, MIN) == [
        (3 * MIN, 5 * MIN),
        (7 * MIN, 10 * MIN),
    ]
    assert holes([], 0, 10 * MIN, MIN) == [(0, 10 * MIN)]


def test_plan_uses_archives_only_for_whole_past_months_worth_it() -> None:
    start, end = ms("2023-01-15"), ms("2023-04-10")
    units = plan_units([(start, end)], MIN, 1000, archive=True)
    assert units == [
        Unit(start, ms("2023-02-01")),
        Unit(ms("2023-02-01"), ms("2023-03-01"), ("monthly", "2023-02")),
        Unit(ms("2023-03-01"), ms("2023-04-01"), ("monthly", "2023-03")),
        Unit(ms("2023-04-01"), end),
    ]
    assert plan_units([(start, end)], MIN, 1000, archive=False) == [Unit(start, end)]
    # 1h candles: a month is one REST page, so archives would only add requests.
    assert plan_units([(start, end)], 3_600_000, 1000, archive=True) == [Unit(start, end)]
    # 1s candles: whole days inside the partial months come from the daily archives.
    days = plan_units([(ms("2023-01-30T12:00"), ms("2023-02-01"))], 1000, 1000, archive=True)
    assert days == [
        Unit(ms("2023-01-30T12:00"), ms("2023-01-31")),
        Unit(ms("2023-01-31"), ms("2023-02-01"), ("daily", "2023-01-31")),
    ]


def test_rest_rows_become_the_stored_schema() -> None:
    frame = rows_to_frame([kline(ms("2023-01-01")), kline(ms("2023-01-01T00:01"), 16541.77)])
    expected = pl.read_parquet(
        __import__("itb.sample", fromlist=["x"]).__path__[0] + "/BTCUSDT-1m-2024Q1.parquet", n_rows=1
    )
    assert frame.schema == expected.schema
    assert frame["close"].to_list() == [1.5, 16541.77]
    with pytest.raises(DownloadError.__mro__[1]):  # ItbError: a clear message, not a traceback
        rows_to_frame([["x", "nope"]])


def test_archive_csv_with_header_and_microseconds() -> None:
    us = ms("2025-01-01") * 1000
    text = (
        "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,"
        "taker_buy_quote_volume,ignore\n"
        f"{us},1.5,2.5,1.25,2,10,{us + 59_999_999},20,3,4,5,0\n"
    ).encode()
    frame = parse_archive_csv(text)
    assert frame["timestamp"].to_list() == [ms("2025-01-01")]
    assert frame["close_time"].to_list() == [ms("2025-01-01") + MIN - 1]
    assert frame["trades"].dtype == pl.Int64 and frame["high"].to_list() == [2.5]
    assert (
        archive_path(BTC, "monthly", "2024-01")
        == "/data/spot/monthly/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01.zip"
    )
    link = Series("futures-um", "LINKUSDT", "1m", "1m", MIN)
    assert archive_path(link, "daily", "2024-01-05").startswith("/data/futures/um/daily/klines/LINKUSDT/1m/")


def test_retries_are_bounded_and_say_why() -> None:
    slept: list[float] = []
    calls = {"n": 0}

    def flaky() -> str:
        calls["n"] += 1
        if calls["n"] < 3:
            raise Transient("GET klines: HTTP 502")
        return "ok"

    policy = RetryPolicy(max_retries=3, backoff_s=1.0, backoff_max_s=1.5)
    stats = Stats()
    assert with_retries(flaky, what="x", policy=policy, sleep=slept.append, stats=stats) == "ok"
    assert stats.retries == 2 and 0.5 <= slept[0] <= 1.0 and 0.75 <= slept[1] <= 1.5  # jittered, capped

    def dead() -> str:
        raise Transient("GET klines: HTTP 503")

    with pytest.raises(DownloadError, match=r"HTTP 503; gave up after 3 retries.*kept"):
        with_retries(dead, what="x", policy=policy, sleep=slept.append, stats=Stats())

    def limited() -> str:
        raise RetryAfter(900, "rate limited (HTTP 429), Retry-After 900 s")

    with pytest.raises(DownloadError, match=r"longer than download\.max_wait_s"):
        with_retries(limited, what="x", policy=policy, sleep=slept.append, stats=Stats())


def test_status_errors() -> None:
    ban = status_error(418, {"Retry-After": "120"}, "", "GET klines")
    assert isinstance(ban, IpBanned) and ban.until and "HTTP 418" in str(ban) and ban.until in str(ban)
    assert isinstance(status_error(429, {"Retry-After": "3"}, "", "x"), RetryAfter)
    assert isinstance(status_error(503, {}, "", "x"), Transient)
    assert type(status_error(400, {}, "(code -1121: Invalid symbol.)", "x")) is DownloadError


def test_weight_pacer_waits_for_the_next_minute() -> None:
    slept: list[float] = []
    pacer = WeightPacer(100, slept.append, clock=lambda: 1_000_040.0)
    pacer.observe({"X-MBX-USED-WEIGHT-1M": "80"})
    pacer.before(2)
    assert slept == []
    pacer.observe({"X-MBX-USED-WEIGHT-1M": "89"})
    pacer.before(2)
    assert slept == [pytest.approx(40.5)]


def test_endpoints_from_config_and_environment() -> None:
    config = parse_config(config_data("/tmp/x", api_url="http://127.0.0.1:1"))
    urls = resolve_endpoints(config.download, {})
    assert urls.api_url == "http://127.0.0.1:1" and urls.fapi_url == "https://fapi.binance.com"
    assert urls.data_url == "https://data.binance.vision"
    urls = resolve_endpoints(config.download, {"ITB_BINANCE_FAPI_URL": "http://127.0.0.1:2/"})
    assert urls.fapi_url == "http://127.0.0.1:2"
    with pytest.raises(ConfigError, match=r"ITB_BINANCE_DATA_URL.*scheme and host"):
        resolve_endpoints(config.download, {"ITB_BINANCE_DATA_URL": "http://host/data"})
    with pytest.raises(ConfigError, match="scheme and host"):
        parse_config(config_data("/tmp/x", api_url="api.binance.com"))


def test_series_and_overrides() -> None:
    sources = [
        {"symbol": "BTCUSDT", "market": "spot"},
        {"symbol": "BTCUSDT", "market": "spot", "column_prefix": "b_"},
        {"symbol": "LINKUSDT", "market": "futures-um"},
        {"symbol": "ETHUSDT", "market": "spot", "path": "sample:BTCUSDT-1m-2024Q1"},
    ]
    config = parse_config(config_data("/tmp/x", sources, intervals=["1m", "1h"]))
    labels = [s.label for s in plan_series(config)]
    assert labels == [
        "spot BTCUSDT 1m",
        "spot BTCUSDT 1h",
        "futures-um LINKUSDT 1m",
        "futures-um LINKUSDT 1h",
    ]
    narrowed = with_overrides(config, ["linkusdt"])
    assert [s.symbol for s in narrowed.data_sources] == ["LINKUSDT"]
    with pytest.raises(ConfigError, match="ETHUSDT are not data sources to download"):
        with_overrides(config, ["ETHUSDT"])
    with pytest.raises(ConfigError, match="not before end"):
        with_overrides(config, None, parse_config(config_data("/x", start="2023-02-01")).download.start,
                       parse_config(config_data("/x", start="2023-01-01")).download.start)  # fmt: skip
    with pytest.raises(ConfigError, match="not a Binance kline interval"):
        binance_interval("7m")


def test_partitions_land_where_merge_looks(tmp_path: Any) -> None:
    config = parse_config(config_data(str(tmp_path)))
    source = config.data_sources[0]
    store = PartitionStore(Storage(str(tmp_path)), plan_series(config)[0])
    assert store.storage.url(store.series.prefix).removeprefix("file://") == default_location(source, config)
    rows = [kline(ms("2023-01-31T23:58") + i * MIN) for i in range(4)]
    assert store.add(rows_to_frame(rows)) == 4
    assert store.stored_months() == ["2023-01", "2023-02"]
    assert store.add(rows_to_frame(rows[1:3] + rows[1:2])) == 0  # repeated rows merge, never double
    assert store.coverage(0, ms("2024-01-01")) == [(ms("2023-01-31T23:58"), ms("2023-02-01T00:01"))]


def test_partitions_in_memory_equal_local(tmp_path: Any) -> None:
    rows = [kline(ms("2023-01-31T23:00") + i * MIN, 1 + i / 7) for i in range(200)]
    for root in (str(tmp_path), "memory://itb-test-partitions"):
        PartitionStore(Storage(root), BTC).add(rows_to_frame(rows))
    local, memory = Storage(str(tmp_path)), Storage("memory://itb-test-partitions")
    names = local.list("klines")
    assert names == memory.list("klines") and len(names) == 2
    assert all(local.read_bytes(n) == memory.read_bytes(n) for n in names)


def test_checksum_file_format_matches_real_archives() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("BTCUSDT-1m-2023-01.csv", "")
    digest = hashlib.sha256(buffer.getvalue()).hexdigest()
    line = f"{digest}  BTCUSDT-1m-2023-01.zip\n".encode()
    assert line.decode().split()[0] == digest
