"""The incremental Account against the vectorised backtest on the bundled sample: same trades, same
equity bar by bar, for every direction, with fees and slippage; and the shared fill rules."""

from __future__ import annotations

from importlib import resources

import numpy as np
import polars as pl
import pytest
from itb.backtest.account import Account
from itb.backtest.fills import buy_cost, fee, fill_price, sell_proceeds
from itb.backtest.vectorised import Direction, run_backtest


@pytest.fixture(scope="module")
def sample_signals() -> pl.DataFrame:
    """A month of the sample with a mean-reversion rule around the 60-minute mean: hundreds of trades."""
    path = resources.files("itb") / "sample" / "BTCUSDT-1m-2024Q1.parquet"
    df = pl.read_parquet(str(path), columns=["timestamp", "close"]).head(31 * 1440)
    deviation = pl.col("close") / pl.col("close").rolling_mean(60) - 1
    return df.with_columns(
        buy=(deviation < -0.003).fill_null(False), sell=(deviation > 0.003).fill_null(False)
    )


@pytest.mark.parametrize("direction", ["long", "short", "both"])
def test_account_bar_by_bar_equals_the_vectorised_backtest(
    sample_signals: pl.DataFrame, direction: Direction
) -> None:
    prices = sample_signals["close"].to_numpy()
    buy, sell = sample_signals["buy"].to_numpy(), sample_signals["sell"].to_numpy()
    timestamps = sample_signals["timestamp"].to_numpy()
    fee_rate, slippage = 0.001, 0.0005
    expected = run_backtest(
        prices, buy, sell, timestamps, fee=fee_rate, slippage=slippage, direction=direction
    )
    account = Account(direction=direction, fee_rate=fee_rate, slippage=slippage)
    equity = np.array(
        [
            account.apply(bool(b), bool(s), float(p), int(t))
            for b, s, p, t in zip(buy, sell, prices, timestamps, strict=True)
        ]
    )
    equity[-1] = account.close_at_end(float(prices[-1]), int(timestamps[-1]))
    assert expected.summary["trades"] > 50
    np.testing.assert_allclose(equity, expected.equity, rtol=1e-11, atol=0)
    trades = [
        {
            "side": t.side,
            "entry_time": t.entry_time,
            "entry_price": t.entry_price,
            "exit_time": t.exit_time,
            "exit_price": t.exit_price,
            **({"open_at_end": True} if t.open_at_end else {}),
        }
        for t in account.trades
    ]
    assert trades == [{k: v for k, v in row.items() if k != "profit_pct"} for row in expected.ledger]
    profits = [t.profit_pct for t in account.trades]
    assert profits == pytest.approx([row["profit_pct"] for row in expected.ledger], abs=1e-6)
    # every trade is two fills, each paying the fee on its own notional
    assert len(account.fills) == 2 * len(account.trades)
    for f in account.fills:
        assert f.fee == pytest.approx(f.quantity * f.price * fee_rate, rel=1e-12)


def test_fill_rules() -> None:
    assert fill_price("buy", 100.0, 0.01) == pytest.approx(101.0)
    assert fill_price("sell", 100.0, 0.01) == pytest.approx(99.0)
    assert fee(2_000.0, 0.001) == pytest.approx(2.0)
    # a flat round trip loses slippage and fee on both sides
    assert sell_proceeds(0.002, 0.001) / buy_cost(0.002, 0.001) == pytest.approx(
        0.998 * 0.999 / (1.002 * 1.001)
    )
    prices = np.array([100.0, 200.0])
    np.testing.assert_array_equal(fill_price("buy", prices, 0.5), [150.0, 300.0])
