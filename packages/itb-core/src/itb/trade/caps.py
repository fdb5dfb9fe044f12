"""The caps every order passes before it is sent (pure). Caps limit the risk taken on: a buy is
checked against all of them; a sell only reduces the position, so it is checked against
``max_orders_per_day`` alone, and a stop-loss sell not even that (a cap must never keep a losing
position open)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from itb.trade.config import Caps


@dataclass(frozen=True)
class OrderIntent:
    side: str  # BUY or SELL
    price: Decimal
    qty: Decimal
    reason: str  # signal or stop_loss


@dataclass(frozen=True)
class Exposure:
    """What the caps compare against (quote amounts)."""

    held_base: Decimal
    free_quote: Decimal
    orders_today: int
    pnl_today: Decimal


@dataclass(frozen=True)
class Refusal:
    cap: str
    reason: str


def check_caps(intent: OrderIntent, exposure: Exposure, caps: Caps) -> Refusal | None:
    """The first cap ``intent`` would break, or None."""
    notional = intent.price * intent.qty
    if intent.side == "SELL":
        limit = caps.max_orders_per_day if intent.reason != "stop_loss" else None
        if limit is not None and exposure.orders_today >= limit:
            return Refusal("max_orders_per_day", f"{exposure.orders_today} orders today already")
        return None
    if caps.max_orders_per_day is not None and exposure.orders_today >= caps.max_orders_per_day:
        return Refusal("max_orders_per_day", f"{exposure.orders_today} orders today already")
    if caps.max_order_notional is not None and notional > Decimal(str(caps.max_order_notional)):
        return Refusal("max_order_notional", f"order notional {notional:.2f} > {caps.max_order_notional:g}")
    if caps.max_position_notional is not None:
        after = (exposure.held_base + intent.qty) * intent.price
        if after > Decimal(str(caps.max_position_notional)):
            return Refusal(
                "max_position_notional",
                f"position after the buy {after:.2f} > {caps.max_position_notional:g}",
            )
    if caps.daily_loss_limit is not None and -exposure.pnl_today >= Decimal(str(caps.daily_loss_limit)):
        return Refusal("daily_loss_limit", f"realised PnL today {exposure.pnl_today:.2f}")
    if caps.min_free_quote is not None:
        left = exposure.free_quote - notional
        if left < Decimal(str(caps.min_free_quote)):
            return Refusal("min_free_quote", f"free quote after the buy {left:.2f} < {caps.min_free_quote:g}")
    return None
