"""An incremental account: one bar at a time, the same trades and equity as the vectorised backtest.

A live service sees one bar after another and cannot run :func:`itb.backtest.vectorised.run_backtest`
over the future; it keeps an :class:`Account` and calls :meth:`Account.apply` with each bar's signals
and the price its order fills at (the vectorised backtest uses the signal row's close; a live
service the next bar's open). Fills and fees come from :mod:`itb.backtest.fills`, as in the
vectorised backtest, and the position rules are the same (see that module's docstring):

- a bar with exactly one of buy/sell asks for the position its direction maps it to (``long``: buy
  -> long, sell -> flat; ``short``: sell -> short, buy -> flat; ``both``: buy -> long, sell -> short);
- a change closes the open trade and opens the new one at the same price;
- equity is marked to market (entry costs paid, exit costs not yet).

A long trade spends all the equity on the entry; a short one sells the equity's worth at the
reference price and buys it back on exit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from itb.backtest.fills import OrderSide, fee, fill_price
from itb.backtest.vectorised import POSITION_TARGETS, Direction


@dataclass(frozen=True)
class Fill:
    """One order filled: at ``price`` (the reference price after slippage), ``fee`` paid in cash."""

    timestamp: int
    side: OrderSide
    reference_price: float
    price: float
    quantity: float
    fee: float


@dataclass(frozen=True)
class Trade:
    """A closed trade, as the vectorised backtest's ledger lists it (reference prices)."""

    side: Literal["long", "short"]
    entry_time: int
    entry_price: float
    exit_time: int
    exit_price: float
    profit_pct: float
    open_at_end: bool = False


@dataclass
class Account:
    direction: Direction = "long"
    fee_rate: float = 0.001
    slippage: float = 0.0
    cash: float = 1.0
    #: Units held: positive long, negative short, 0 flat.
    quantity: float = 0.0
    fills: list[Fill] = field(default_factory=list)
    trades: list[Trade] = field(default_factory=list)
    #: The open trade as (entry time, reference price, equity before), None when flat: part of the
    #: account's state (a paper trader persists it with cash and quantity).
    entry: tuple[int, float, float] | None = None

    @property
    def position(self) -> int:
        """1 long, -1 short, 0 flat."""
        return (self.quantity > 0) - (self.quantity < 0)

    def equity(self, price: float) -> float:
        """The account's value at ``price``: cash plus the position marked to market."""
        return self.cash + self.quantity * price

    def apply(self, buy: bool, sell: bool, price: float, timestamp: int) -> float:
        """Act on one bar's signals, filling any order at reference ``price``; the equity after it."""
        if buy != sell:
            on_buy, on_sell = POSITION_TARGETS[self.direction]
            wanted = on_buy if buy else on_sell
            if wanted != self.position:
                if self.position:
                    self._close(price, timestamp, open_at_end=False)
                if wanted:
                    self._open(wanted, price, timestamp)
        return self.equity(price)

    def close_at_end(self, price: float, timestamp: int) -> float:
        """Close an open trade at the last price (flagged ``open_at_end``); the final equity."""
        if self.position:
            self._close(price, timestamp, open_at_end=True)
        return self.cash

    def _order(self, side: OrderSide, quantity: float, price: float, timestamp: int) -> None:
        filled = fill_price(side, price, self.slippage)
        paid = fee(quantity * filled, self.fee_rate)
        self.cash += (quantity * filled if side == "sell" else -quantity * filled) - paid
        self.quantity += quantity if side == "buy" else -quantity
        self.fills.append(Fill(timestamp, side, price, filled, quantity, paid))

    def _open(self, side: int, price: float, timestamp: int) -> None:
        equity = self.cash
        self.entry = (timestamp, price, equity)
        if side > 0:  # spend everything: quantity * fill * (1 + fee) == cash
            units = equity / (fill_price("buy", price, self.slippage) * (1 + self.fee_rate))
            self._order("buy", units, price, timestamp)
        else:
            self._order("sell", equity / price, price, timestamp)

    def _close(self, price: float, timestamp: int, *, open_at_end: bool) -> None:
        assert self.entry is not None
        side = self.position
        self._order("sell" if side > 0 else "buy", abs(self.quantity), price, timestamp)
        self.quantity = 0.0  # no residue of floating point from the two fills
        entry_time, entry_price, before = self.entry
        self.trades.append(
            Trade(
                side="long" if side > 0 else "short",
                entry_time=entry_time,
                entry_price=entry_price,
                exit_time=timestamp,
                exit_price=price,
                profit_pct=(self.cash / before - 1) * 100,
                open_at_end=open_at_end,
            )
        )
        self.entry = None
