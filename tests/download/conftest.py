"""Fixtures for the download tests: real klines from ``../shared/data`` behind a fake Binance server.

Everything talks to 127.0.0.1 only. The fake's clock ("now") is set in mid-June 2023, so the months
around BTCUSDT's real 80-minute outage (2023-03-24 12:40..13:59 UTC) are history with archives.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from itb.config import parse_config
from itb.config.models import PipelineConfig

from tests.conftest import SHARED_DATA, load_default_config
from tests.fakes.binance_server import FakeBinance, load_klines, ms

SPOT_FILE = SHARED_DATA / "binance" / "spot" / "BTCUSDT-1m.parquet"
FUTURES_FILE = SHARED_DATA / "binance" / "futures-um" / "LINKUSDT-1m.parquet"
NOW = "2023-06-15T10:30:30"
GAP_FROM, GAP_TO = ms("2023-03-24T12:40"), ms("2023-03-24T14:00")  # the exchange's own outage
#: Fast retries for tests: the retry logic is the same, only the waits are short.
FAST = {"backoff_s": 0.01, "backoff_max_s": 0.05, "max_retries": 4}


def _need(path: Path) -> None:
    if not path.exists():
        pytest.skip(f"shared test data not found at {path} (expected <repo>/../shared/data; CI has it)")


@pytest.fixture(scope="session")
def btc_1m() -> pl.DataFrame:
    _need(SPOT_FILE)
    return load_klines(SPOT_FILE, "2023-02-01", "2023-06-16")


@pytest.fixture(scope="session")
def link_1m() -> pl.DataFrame:
    _need(FUTURES_FILE)
    return load_klines(FUTURES_FILE, "2023-02-01", "2023-03-01")


@pytest.fixture
def fake(btc_1m: pl.DataFrame, link_1m: pl.DataFrame) -> Iterator[FakeBinance]:
    server = FakeBinance({("spot", "BTCUSDT"): btc_1m, ("futures-um", "LINKUSDT"): link_1m}, ms(NOW)).start()
    try:
        yield server
    finally:
        server.stop()


def config_data(
    data_root: str, sources: list[dict[str, Any]] | None = None, **download: Any
) -> dict[str, Any]:
    """The default pipeline, but downloading its sources (no ``path``) into ``data_root``."""
    data = copy.deepcopy(load_default_config())
    data["data_root"] = data_root
    data["data_sources"] = sources or [{"symbol": "BTCUSDT", "market": "spot"}]
    data["download"] = {**FAST, **download}
    return data


def make_config(
    data_root: str, sources: list[dict[str, Any]] | None = None, **download: Any
) -> PipelineConfig:
    return parse_config(config_data(data_root, sources, **download))


def stored(root: Path | str, market: str = "spot", symbol: str = "BTCUSDT", freq: str = "1m") -> pl.DataFrame:
    """Every stored partition of a series, concatenated (local folders only)."""
    folder = Path(root) / "klines" / market / symbol / freq
    files = sorted(folder.glob("*.parquet"))
    if not files:
        return pl.DataFrame()
    return pl.concat([pl.read_parquet(f) for f in files])
