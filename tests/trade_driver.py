"""Driving trader_binance against the fake exchange candle by candle (shared by the trade tests):
recorded klines, a start candle found in them, a trader on the real python-binance client, and
``deliver`` (the fake's clock set to 1 s after a candle's close, then its row sent)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
from itb.serve.messages import ListSink
from itb.storage import Storage
from itb.trade.config import TraderBinanceConfig
from itb.trade.trader import BinanceTrader
from itb.trade.venue import BinanceVenue

from tests.conftest import SHARED_DATA
from tests.fakes.binance_server import FakeBinance, load_klines
from tests.fakes.binance_spot import SpotBook

KLINES = load_klines(SHARED_DATA / "binance/spot/BTCUSDT-1m.parquet", "2024-01-02T00:00", "2024-01-02T04:00")
MINUTE = 60_000


def _cycle_start() -> int:
    """Index i of a candle whose close the next low reaches (a buy at it fills), and two candles
    later a close the next high reaches (a sell fills): found in the data, not assumed."""
    k = KLINES
    ok = (
        (k["low"].shift(-1) <= k["close"])
        & (k["high"].shift(-3) >= k["close"].shift(-2))
        & (k["low"].shift(-3) > k["close"].shift(-2) * 0.99)  # no stop-loss noise
    )
    return int(pl.arg_where(ok.fill_null(False), eager=True)[5])


START = _cycle_start()


def make_trader(
    fake: FakeBinance, root: Path, sink: ListSink | None = None, timeout_s: float = 2.0, **config: Any
) -> BinanceTrader:
    venue = BinanceVenue("BTCUSDT", fake.url, "fake-key", "fake-secret", timeout_s)
    settings = TraderBinanceConfig.model_validate({"live": True, **config})
    return BinanceTrader(settings, "BTCUSDT", Storage(str(root)), venue, sink, MINUTE, "buy", "sell")


def deliver(trader: BinanceTrader, fake: FakeBinance, i: int, buy: bool = False, sell: bool = False) -> None:
    """Candle ``i`` closes (the fake's clock 1 s after its close) and its row reaches the trader."""
    row = KLINES.row(i, named=True)
    fake.now_ms = int(row["timestamp"]) + MINUTE + 1000
    trader.send({**row, "buy": buy, "sell": sell})


def balances(fake: FakeBinance) -> tuple[Decimal, Decimal]:
    return fake.spot.balances["BTC"], fake.spot.balances["USDT"]


def spot_exchange() -> FakeBinance:
    """A started fake exchange serving :data:`KLINES`, with 1000 USDT on the account."""
    server = FakeBinance({("spot", "BTCUSDT"): KLINES}, now_ms=int(KLINES["timestamp"][0])).start()
    server.spot = SpotBook({"BTCUSDT": KLINES}, {"USDT": Decimal(1000), "BTC": Decimal(0)})
    return server
