"""A vectorised backtest of buy/sell signals: long, short or both, with fees and slippage.

Position. A row with a buy signal and no sell signal is a *buy*, the reverse a *sell*; a row with both
or neither changes nothing. The wanted position is the last buy/sell carried forward:

- ``long``: buy -> long, sell -> flat (a buy while long and a sell while flat are ignored);
- ``short``: sell -> short, buy -> flat;
- ``both``: buy -> long, sell -> short (each signal closes the open trade and opens the opposite one).

Trades. Every trade opens at the close of its signal row and closes at the close of the row whose
signal ends it (the opposite signal), its profit measured from its *own* entry price. Fills are
``slippage`` worse than the close and pay ``fee`` on each side (:mod:`itb.backtest.fills`):

- long: ``r = exit * (1 - s) * (1 - f) / (entry * (1 + s) * (1 + f)) - 1``
- short: ``r = (1 - s) * (1 - f) - exit / entry * (1 + s) * (1 + f)`` (per unit of entry notional)

An open trade at the end is closed at the last price (with costs) and flagged ``open_at_end``.

Equity starts at 1 and compounds trade by trade; between entry and exit it is marked to market
(entry costs paid, exit costs not yet), which gives the drawdown, the per-bar returns for the Sharpe
ratio (annualised from the bar frequency) and the per-month table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import polars as pl
from numpy.typing import NDArray

from itb.backtest.fills import buy_cost, sell_proceeds

Direction = Literal["long", "short", "both"]
MONTH_MS = 30.4375 * 86_400_000
#: The position a buy and a sell signal ask for, per direction.
POSITION_TARGETS: dict[str, tuple[int, int]] = {"long": (1, 0), "short": (0, -1), "both": (1, -1)}


@dataclass
class Backtest:
    summary: dict[str, Any]
    ledger: list[dict[str, Any]]
    months: list[dict[str, Any]]
    equity: NDArray[np.float64]
    position: NDArray[np.int8]
    entries: NDArray[np.int64] = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    exits: NDArray[np.int64] = field(default_factory=lambda: np.empty(0, dtype=np.int64))

    def as_dict(self) -> dict[str, Any]:
        return {**self.summary, "months": self.months, "ledger": self.ledger}


def positions(buy: NDArray[np.bool_], sell: NDArray[np.bool_], direction: Direction) -> NDArray[np.int8]:
    """The wanted position per row (1 long, -1 short, 0 flat): the last clean signal carried forward."""
    return _events(buy, sell, direction)[0]


def _events(
    buy: NDArray[np.bool_], sell: NDArray[np.bool_], direction: Direction
) -> tuple[NDArray[np.int8], NDArray[np.intp]]:
    """``(position per row, rows where the position changes)``. Only rows with exactly one signal
    (events) can change it, so the work beyond one pass over the rows scales with the events."""
    on_buy, on_sell = POSITION_TARGETS[direction]
    n = buy.size
    at = np.flatnonzero(buy ^ sell)
    wanted = np.where(buy[at], on_buy, on_sell).astype(np.int8)
    position = np.zeros(n, dtype=np.int8)
    if at.size:
        position[at[0] :] = np.repeat(wanted, np.diff(at, append=n))
    before = np.concatenate([np.zeros(1, dtype=np.int8), wanted[:-1]])
    return position, at[wanted != before]


def run_backtest(
    prices: NDArray[np.float64],
    buy: NDArray[np.bool_],
    sell: NDArray[np.bool_],
    timestamps: NDArray[np.int64],
    *,
    fee: float = 0.001,
    slippage: float = 0.0,
    direction: Direction = "long",
    bars_per_year: float | None = None,
    with_ledger: bool = True,
) -> Backtest:
    """Backtest one series of signals; ``with_ledger=False`` skips the per-trade and per-month lists
    (the grid search needs only the summary)."""
    n = prices.size
    if n == 0:
        empty = {"trades": 0, "long_trades": 0, "short_trades": 0, "profit_pct": 0.0, "win_rate": None,
                 "max_drawdown_pct": 0.0, "buy_and_hold_pct": 0.0, "sharpe": None,
                 "profit_per_month_pct": None, "exposure": 0.0}  # fmt: skip
        return Backtest(empty, [], [], np.ones(0), np.zeros(0, dtype=np.int8))
    position, changes = _events(buy, sell, direction)
    entries = changes[position[changes] != 0]
    following = np.searchsorted(changes, entries, side="right")
    open_at_end = following >= changes.size
    exits = np.where(open_at_end, n - 1, changes[np.minimum(following, changes.size - 1)])
    side = position[entries]

    cost_in, cost_out = buy_cost(slippage, fee), sell_proceeds(slippage, fee)
    entry_prices, exit_prices = prices[entries], prices[exits]
    long_returns = exit_prices * cost_out / (entry_prices * cost_in) - 1
    short_returns = cost_out - exit_prices / entry_prices * cost_in
    returns = np.where(side > 0, long_returns, short_returns)
    after = np.cumprod(1 + returns)
    before = np.concatenate([[1.0], after[:-1]])

    # equity per row: the trade entered last at or before the row, marked to market until its exit
    if entries.size:
        # the trade of each row from the first entry on (rows before it have equity 1)
        first = int(entries[0])
        k = np.repeat(np.arange(entries.size), np.diff(entries, append=n))
        rows = np.arange(first, n)
        prices_k = prices[first:]
        entry_price = entry_prices[k]
        if (side > 0).all():
            mark = prices_k / (entry_price * cost_in)
        elif (side < 0).all():
            mark = 1 + cost_out - prices_k / entry_price
        else:
            mark = np.where(
                side[k] > 0, prices_k / (entry_price * cost_in), 1 + cost_out - prices_k / entry_price
            )
        held = rows < exits[k]
        equity = np.ones(n)
        equity[first:] = np.where(held, before[k] * mark, after[k])
    else:
        equity = np.ones(n)
    shifted = np.concatenate([[1.0], equity])  # equity before each row
    peak = np.maximum.accumulate(shifted)[1:]
    drawdown = 1 - equity / peak
    bar_returns = (shifted[1:] - shifted[:-1]) / shifted[:-1]
    std = float(bar_returns.std())
    sharpe = (
        round(float(bar_returns.mean()) / std * math.sqrt(bars_per_year), 6)
        if bars_per_year and std > 0 and n > 1
        else None
    )
    span_months = (int(timestamps[-1]) - int(timestamps[0])) / MONTH_MS if n > 1 else 0.0
    final = float(equity[-1])
    summary = {
        "trades": int(entries.size),
        "long_trades": int((side > 0).sum()),
        "short_trades": int((side < 0).sum()),
        "profit_pct": _r((final - 1) * 100),
        "win_rate": _r(float((returns > 0).mean())) if returns.size else None,
        "mean_trade_pct": _r(float(returns.mean()) * 100) if returns.size else None,
        "max_drawdown_pct": _r(float(drawdown.max()) * 100),
        "buy_and_hold_pct": _r(float(prices[-1] / prices[0] - 1) * 100),
        "sharpe": sharpe,
        "profit_per_month_pct": _r((final ** (1 / span_months) - 1) * 100) if span_months >= 1 / 30 else None,
        "trades_per_month": _r(entries.size / span_months) if span_months >= 1 / 30 else None,
        "exposure": _r(float((position != 0).mean())),
    }
    ledger: list[dict[str, Any]] = []
    months: list[dict[str, Any]] = []
    if with_ledger:
        for t, (i, j, r) in enumerate(zip(entries, exits, returns, strict=True)):
            entry = {
                "side": "long" if side[t] > 0 else "short",
                "entry_time": int(timestamps[i]),
                "entry_price": float(prices[i]),
                "exit_time": int(timestamps[j]),
                "exit_price": float(prices[j]),
                "profit_pct": _r(float(r) * 100),
            }
            if open_at_end[t]:
                entry["open_at_end"] = True
            ledger.append(entry)
        months = monthly_table(timestamps, equity, exits, returns)
    return Backtest(summary, ledger, months, equity, position, entries, exits)


def monthly_table(
    timestamps: NDArray[np.int64],
    equity: NDArray[np.float64],
    exits: NDArray[np.int64],
    returns: NDArray[np.float64],
) -> list[dict[str, Any]]:
    """Per calendar month (UTC): equity change over the month, trades closed in it and their wins."""
    month = timestamps.astype("datetime64[ms]").astype("datetime64[M]")
    last = np.flatnonzero(np.concatenate([month[1:] != month[:-1], [True]]))
    closing = equity[last]
    opening = np.concatenate([[1.0], closing[:-1]])
    first = np.concatenate([[0], last[:-1] + 1])
    bucket = np.searchsorted(last, exits, side="left")
    trades = np.bincount(bucket, minlength=last.size)
    wins = np.bincount(bucket, weights=(returns > 0).astype(float), minlength=last.size)
    return [
        {
            "month": str(month[first[m]]),
            "trades": int(trades[m]),
            "wins": int(wins[m]),
            "profit_pct": _r((closing[m] / opening[m] - 1) * 100),
            "equity": _r(float(closing[m])),
        }
        for m in range(last.size)
    ]


def backtest(
    df: pl.DataFrame,
    *,
    price: str = "close",
    buy: str = "buy_signal",
    sell: str = "sell_signal",
    fee: float = 0.001,
    slippage: float = 0.0,
    direction: Direction = "long",
    bars_per_year: float | None = None,
) -> dict[str, Any]:
    """Backtest a frame with ``timestamp``, a price and two boolean signal columns (nulls: no signal)."""
    result = run_backtest(
        df[price].cast(pl.Float64).to_numpy(),
        df[buy].fill_null(False).to_numpy().astype(bool),
        df[sell].fill_null(False).to_numpy().astype(bool),
        df["timestamp"].to_numpy(),
        fee=fee,
        slippage=slippage,
        direction=direction,
        bars_per_year=bars_per_year,
    )
    return result.as_dict()


def _r(value: float) -> float:
    return round(float(value), 6)
