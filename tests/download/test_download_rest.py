"""REST downloads against the fake Binance: exact data, resume, still-open candle, every fault."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest
from itb.download import DownloadError, IpBanned, download_all
from itb.download.report import LogProgress
from itb.storage import Storage

from tests.download.conftest import GAP_FROM, GAP_TO, make_config, stored
from tests.fakes.binance_server import FakeBinance, ms

# Three days around the exchange's own 80-minute outage: 4 spot pages, the gap inside one of them.
START, END = "2023-03-23T12:00", "2023-03-25T00:00"


def download(fake: FakeBinance, root: Path | str, sources: Any = None, **settings: Any) -> dict[str, Any]:
    settings = {"start": START, "end": END, "archive": False, **settings}
    config = make_config(str(root), sources, **settings)
    slept: list[float] = []
    result = download_all(
        config, Storage(str(root)), progress=LogProgress(), environ=fake.env(), sleep=slept.append
    )
    report = result.as_dict()
    report["slept"] = slept
    return report


def assert_exact(fake: FakeBinance, root: Path, start: str = START, end: str = END, **series: str) -> None:
    market, symbol = series.get("market", "spot"), series.get("symbol", "BTCUSDT")
    expected = fake.expected(market, symbol, ms(start), ms(end))
    got = stored(root, market, symbol)
    assert got.schema == expected.schema
    assert got.height == expected.height
    assert got.equals(expected), "stored rows differ from the source"


def test_fresh_download_equals_source_with_the_exchange_gap(fake: FakeBinance, tmp_path: Path) -> None:
    report = download(fake, tmp_path)
    assert_exact(fake, tmp_path)
    got = stored(tmp_path)["timestamp"]
    assert not got.is_between(GAP_FROM, GAP_TO - 1).any()  # the outage is not filled...
    (series,) = report["series"]
    assert series["gaps"] == [{"from": "2023-03-24T12:40:00Z", "to": "2023-03-24T13:59:00Z", "missing": 80}]
    assert series["rows_added"] == got.len() == 36 * 60 - 80  # ...but reported
    assert series["range"] == ["2023-03-23T12:00:00Z", "2023-03-24T23:59:00Z"]
    assert series["added"] == series["range"]


def test_resume_fetches_only_what_is_new_and_never_the_open_candle(fake: FakeBinance, tmp_path: Path) -> None:
    fake.now_ms = ms("2023-03-24T06:00:30")  # the 06:00 candle is still open
    first = download(fake, tmp_path, end=None)
    got = stored(tmp_path)
    assert got["timestamp"].max() == ms("2023-03-24T05:59")
    assert_exact(fake, tmp_path, end="2023-03-24T06:00")
    assert first["series"][0]["rows_added"] == 18 * 60

    fake.now_ms = ms("2023-03-24T16:20:10")
    fake.clear()
    second = download(fake, tmp_path, end=None)
    assert_exact(fake, tmp_path, end="2023-03-24T16:20")
    klines = fake.requests("/klines")
    assert all(
        f"startTime={ms('2023-03-24T06:00')}" in path for path, _ in klines[1:2]
    )  # resumes right after
    assert second["series"][0]["rows_added"] == (10 * 60 + 20) - 80

    fake.clear()
    third = download(fake, tmp_path, end=None)  # nothing new: only the known exchange gap is re-checked
    assert third["series"][0]["rows_added"] == 0
    assert third["series"][0]["gaps_total"] == 1
    assert len(fake.requests("/klines")) <= 3


FAULTS = {
    "429": {"retry_after": 0.2},
    "500": {},
    "drop": {},
    "truncated": {},
    "empty": {},
    "repeat": {},
}


@pytest.mark.parametrize("kind", list(FAULTS))
def test_every_fault_still_gives_the_exact_data(fake: FakeBinance, tmp_path: Path, kind: str) -> None:
    fake.add_fault(kind, skip=2, times=2, **FAULTS[kind])  # the 2nd and 3rd pages go wrong
    report = download(fake, tmp_path)
    assert_exact(fake, tmp_path)
    series = report["series"][0]
    if kind in ("429", "500", "drop", "truncated"):
        assert series["retries"] == 2
    if kind == "empty":  # the empty page, then an empty probe: asked again once
        assert series["retries"] == 1
    if kind == "429":
        assert series["rate_limited"] == 2 and report["slept"][:2] == [0.2, 0.2]  # waits as told


def test_repeated_overlapping_pages_over_the_gap(fake: FakeBinance, tmp_path: Path) -> None:
    fake.add_fault("repeat", times=None)  # every page repeats its rows and those before startTime
    download(fake, tmp_path, page_limit=97)
    assert_exact(fake, tmp_path)


def test_ban_stops_at_once_and_keeps_what_was_stored(fake: FakeBinance, tmp_path: Path) -> None:
    fake.add_fault("418", skip=2, times=None, retry_after=7200)
    with pytest.raises(
        IpBanned, match=r"HTTP 418.*lifts at 2\d{3}-.*in 7200 s.*Data stored so far is kept"
    ) as err:
        download(fake, tmp_path)
    assert err.value.until
    assert len([1 for _, status in fake.requests("/klines") if status == 418]) == 1  # no retry into a ban
    kept = stored(tmp_path)
    assert kept.height == 1000 and kept.equals(
        fake.expected("spot", "BTCUSDT", ms(START), ms(END)).head(1000)
    )

    fake.clear()
    download(fake, tmp_path)  # after the ban: resumes and completes
    assert_exact(fake, tmp_path)


def test_persistent_server_errors_fail_clearly_after_bounded_retries(
    fake: FakeBinance, tmp_path: Path
) -> None:
    fake.add_fault("500", skip=2, times=None)
    with pytest.raises(DownloadError, match=r"HTTP 500.*gave up after 4 retries.*run the download again"):
        download(fake, tmp_path)
    assert len(fake.requests("/klines")) == 2 + 5  # first probe, one page, then 1 + 4 retries
    assert stored(tmp_path).height == 1000


def test_dropped_connections_exhaust_retries_with_a_clear_error(fake: FakeBinance, tmp_path: Path) -> None:
    fake.add_fault("drop", path="/time", times=None)
    expected = r"GET http://127\.0\.0\.1:\d+/api/v3/time: ConnectionError.*gave up after 4 retries"
    with pytest.raises(DownloadError, match=expected):
        download(fake, tmp_path)


def test_used_weight_near_the_limit_pauses(fake: FakeBinance, tmp_path: Path) -> None:
    fake.weight_floor = 5900  # spot limit 6000: stay under 90% of it
    report = download(fake, tmp_path)
    assert_exact(fake, tmp_path)
    assert report["slept"] and all(0.5 <= s <= 60.5 for s in report["slept"])
    assert len(report["slept"]) == len(fake.requests()) - 1  # before every request after the first answer


def test_futures_klines_and_unknown_symbols(fake: FakeBinance, tmp_path: Path) -> None:
    sources = [{"symbol": "LINKUSDT", "market": "futures-um"}]
    report = download(fake, tmp_path, sources, start="2023-02-10", end="2023-02-13")
    assert_exact(fake, tmp_path, "2023-02-10", "2023-02-13", market="futures-um", symbol="LINKUSDT")
    assert report["series"][0]["rest_pages"] == 3  # 4320 candles at 1500 per futures page
    assert all("/fapi/v1/" in path for path, _ in fake.requests("klines"))
    with pytest.raises(DownloadError, match=r"HTTP 400 \(code -1121: Invalid symbol\.\)"):
        download(fake, tmp_path, [{"symbol": "NOPEUSDT", "market": "spot"}])


def test_memory_and_local_storage_get_identical_files(fake: FakeBinance, tmp_path: Path) -> None:
    download(fake, tmp_path)
    download(fake, "memory://itb-download-test")
    local, memory = Storage(str(tmp_path)), Storage("memory://itb-download-test")
    names = local.list("klines")
    assert names == memory.list("klines") == ["klines/spot/BTCUSDT/1m/2023-03.parquet"]
    assert local.read_bytes(names[0]) == memory.read_bytes(names[0])
    assert pl.read_parquet(tmp_path / names[0]).height == 36 * 60 - 80
