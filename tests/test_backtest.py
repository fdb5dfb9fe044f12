"""The long-only backtest against a ledger computed by hand."""

from __future__ import annotations

import polars as pl
import pytest
from itb.backtest.vectorised import backtest


def frame(prices: list[float], buys: list[int], sells: list[int]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "timestamp": [i * 60_000 for i in range(len(prices))],
            "close": prices,
            "buy_signal": [bool(b) for b in buys],
            "sell_signal": [bool(s) for s in sells],
        }
    )


def test_hand_computed_ledger() -> None:
    #        0    1    2    3    4    5    6    7    8
    prices = [100, 101, 102, 99, 98, 105, 110, 108, 120]
    buys = [0, 1, 1, 0, 0, 0, 0, 1, 0]  # second buy while long is ignored
    sells = [1, 0, 0, 0, 1, 1, 0, 0, 0]  # first sell while flat ignored; second sell while flat ignored
    fee = 0.01
    result = backtest(frame(prices, buys, sells), fee=fee)
    # trade 1: buy at 101 (row 1), sell at 98 (row 4); trade 2: buy at 108 (row 7), open at end -> 120
    r1 = 98 * 0.99 / (101 * 1.01) - 1
    r2 = 120 * 0.99 / (108 * 1.01) - 1
    assert result["trades"] == 2
    assert [t["entry_price"] for t in result["ledger"]] == [101, 108]
    assert [t["exit_price"] for t in result["ledger"]] == [98, 120]
    assert result["ledger"][1]["open_at_end"] is True
    assert result["ledger"][0]["profit_pct"] == pytest.approx(r1 * 100, abs=1e-6)
    assert result["profit_pct"] == pytest.approx(((1 + r1) * (1 + r2) - 1) * 100, abs=1e-6)
    assert result["win_rate"] == 0.5
    # drawdown: the peak is the starting 1.0 (row 2 marks 102/101/1.01 < 1); the lowest mark is
    # right after the second entry: (98/101) with both fees of trade 1, then the entry fee of trade 2
    peak = 1.0
    trough = (98 / 101) / 1.01 * 0.99 / 1.01
    assert result["max_drawdown_pct"] == pytest.approx((1 - trough / peak) * 100, abs=1e-6)


def test_conflicting_signals_change_nothing_and_no_trades() -> None:
    result = backtest(frame([1, 2, 3], [1, 0, 0], [1, 0, 0]), fee=0.0)
    assert result["trades"] == 0 and result["profit_pct"] == 0 and result["max_drawdown_pct"] == 0


def test_zero_fee_round_trip_equals_price_ratio() -> None:
    result = backtest(frame([10, 10, 12, 15, 9], [1, 0, 0, 0, 0], [0, 0, 0, 1, 0]), fee=0.0)
    assert result["trades"] == 1
    assert result["profit_pct"] == pytest.approx(50.0)
