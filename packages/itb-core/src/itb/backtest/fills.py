"""How an order fills: the price after slippage and the fee on the notional.

One definition for the vectorised backtest (:mod:`itb.backtest.vectorised`, which applies it to
whole arrays of trades) and the incremental :class:`itb.backtest.account.Account` (one bar at a
time, as a live service would), so the two cannot drift apart.

A buy fills ``slippage`` above the reference price and a sell below it; both pay ``fee_rate`` of the
notional. Per unit of reference price a buy therefore costs :func:`buy_cost` and a sell returns
:func:`sell_proceeds`.
"""

from __future__ import annotations

from typing import Literal, TypeVar

import numpy as np
from numpy.typing import NDArray

OrderSide = Literal["buy", "sell"]
Price = TypeVar("Price", float, NDArray[np.float64])


def fill_price(side: OrderSide, reference_price: Price, slippage: float) -> Price:
    """The price an order fills at: ``slippage`` (a fraction) worse than ``reference_price``."""
    return reference_price * (1 + slippage) if side == "buy" else reference_price * (1 - slippage)


def fee(notional: Price, fee_rate: float) -> Price:
    """The fee paid on a fill of ``notional`` (price times quantity)."""
    return notional * fee_rate


def buy_cost(slippage: float, fee_rate: float) -> float:
    """Cash paid per unit of reference price by a buy: fill price plus fee."""
    return fill_price("buy", 1.0, slippage) * (1 + fee_rate)


def sell_proceeds(slippage: float, fee_rate: float) -> float:
    """Cash received per unit of reference price by a sell: fill price minus fee."""
    return fill_price("sell", 1.0, slippage) * (1 - fee_rate)
