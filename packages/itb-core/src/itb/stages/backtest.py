"""A long-only backtest, vectorised: enter on a buy signal when flat, exit on a sell signal when long.

The position is the last non-conflicting signal carried forward (a row with both or neither signal
changes nothing), so "buy while long" and "sell while flat" are ignored exactly as a state machine
would. Each trade pays ``fee`` on entry and on exit; an open position at the end is closed at the
last price and flagged. Equity is marked to market every row for the drawdown.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl


def backtest(
    df: pl.DataFrame,
    *,
    price: str = "close",
    buy: str = "buy_signal",
    sell: str = "sell_signal",
    fee: float = 0.001,
) -> dict[str, Any]:
    prices = df[price].cast(pl.Float64).to_numpy()
    if df.height == 0:
        return {"trades": 0, "profit_pct": 0.0, "win_rate": None, "max_drawdown_pct": 0.0, "ledger": []}
    signal = (
        df.select(
            pl.when(pl.col(buy) & ~pl.col(sell))
            .then(1)
            .when(pl.col(sell) & ~pl.col(buy))
            .then(0)
            .otherwise(None)
            .forward_fill()
            .fill_null(0)
            .alias("long")
        )
        .to_series()
        .to_numpy()
        .astype(bool)
    )
    previous = np.concatenate([[False], signal[:-1]])
    entries = np.flatnonzero(signal & ~previous)
    exits = np.flatnonzero(~signal & previous)
    open_at_end = len(exits) < len(entries)
    if open_at_end:
        exits = np.append(exits, df.height - 1)
    entry_prices, exit_prices = prices[entries], prices[exits]
    returns = exit_prices * (1 - fee) / (entry_prices * (1 + fee)) - 1

    # mark-to-market equity: hold during rows after entry up to and including exit
    held = previous.copy()
    if open_at_end:
        held[-1] = held[-1] or bool(signal[-1])
    growth = np.ones(df.height)
    growth[1:] = np.where(held[1:], prices[1:] / prices[:-1], 1.0)
    growth[entries] /= 1 + fee
    growth[exits] *= 1 - fee
    equity = np.cumprod(growth)
    drawdown = 1 - equity / np.maximum.accumulate(equity)

    timestamps = df["timestamp"].to_numpy()
    ledger = [
        {
            "entry_time": int(timestamps[i]),
            "entry_price": float(prices[i]),
            "exit_time": int(timestamps[j]),
            "exit_price": float(prices[j]),
            "profit_pct": round(float(r) * 100, 6),
        }
        for i, j, r in zip(entries, exits, returns, strict=True)
    ]
    if open_at_end and ledger:
        ledger[-1]["open_at_end"] = True
    return {
        "trades": len(ledger),
        "profit_pct": round(float(np.prod(1 + returns) - 1) * 100, 6),
        "win_rate": round(float((returns > 0).mean()), 6) if len(returns) else None,
        "max_drawdown_pct": round(float(drawdown.max()) * 100, 6),
        "buy_and_hold_pct": round(float(prices[-1] / prices[0] - 1) * 100, 6),
        "ledger": ledger,
    }
