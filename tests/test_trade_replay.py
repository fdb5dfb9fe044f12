"""`itb serve --replay` with trader_binance on the sample: a dry run (simulated, said at start-up),
every order at a candle whose signal asked for it, at that candle's close, and `itb trade status`
reading what the replay left. Slow: it trains the sample config first."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from itb.storage import Storage
from itb.trade.journal import load_state

from tests.conftest import itb, load_default_config, write_config

pytestmark = pytest.mark.slow
TRADER: dict[str, Any] = {"percentage_used_for_trade": 50, "order_timeout_candles": 3, "stop_loss": 0.02,
                          "live": True, "caps": {"max_order_notional": 600}}  # fmt: skip


def test_a_replay_shows_the_orders_it_would_place(tmp_path: Path) -> None:
    data = copy.deepcopy(load_default_config())
    data["data_root"] = str(tmp_path / "data")
    data["merge"] = {"gaps": "fill", "start": "2024-03-09T00:00:00Z", "end": "2024-04-01T00:00:00Z"}
    data["train"]["algorithms"][0]["params"] = {"num_boost_round": 30}
    data["output_sets"] = [{"generator": "trader_binance", "config": TRADER}]
    path = write_config(tmp_path / "config.json", data)
    done = itb("run", str(path), "--backend", "inprocess", env={"ITB_FSYNC": "0"})
    assert done.returncode == 0, done.stderr
    # live: true in the config, --live given: a replay is still simulated.
    done = itb("serve", str(path), "--replay", "2024-03-25", "2024-03-26", "--quiet", "--live",
               env={"ITB_FSYNC": "0"})  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "DRY RUN: orders and fills simulated" in done.stdout
    state = load_state(Storage(str(tmp_path / "data")), "BTCUSDT", live=False)
    assert state is not None and state.orders and state.mode == "simulated"
    rows = pl.read_parquet(tmp_path / "data/live/BTCUSDT/2024-03-25.parquet")
    for order in state.orders:
        row = rows.filter(pl.col("timestamp") == order.candle_ms).row(0, named=True)
        assert row["buy_signal" if order.side == "BUY" else "sell_signal"] or order.reason == "stop_loss"
        assert order.price == Decimal(repr(row["close"]))  # limit_price_adjustment 0: the close
        assert f"simulated {order.side} {order.qty:f} at {order.price:f}" in done.stdout
    status = itb("trade", "status", str(path), "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["orders_today"] == state.orders_today
