"""A symbol's exchange filters (``exchangeInfo``) and the rounding every order goes through.

Prices are rounded to the ``PRICE_FILTER`` tick (down for a buy, up for a sell: never a worse price
than the one asked for), quantities down to the ``LOT_SIZE`` step (never more than the balance
allows); an order below the minimum quantity or the ``NOTIONAL``/``MIN_NOTIONAL`` minimum is not
sent. Decimal arithmetic throughout: a float price like 0.1 + 0.2 is not on any tick.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any, Literal

Side = Literal["BUY", "SELL"]


@dataclass(frozen=True)
class SymbolFilters:
    symbol: str
    base_asset: str
    quote_asset: str
    tick_size: Decimal
    min_price: Decimal
    max_price: Decimal
    step_size: Decimal
    min_qty: Decimal
    max_qty: Decimal
    min_notional: Decimal

    @classmethod
    def from_exchange_info(cls, info: Mapping[str, Any], symbol: str) -> SymbolFilters:
        """The filters of ``symbol`` in an ``exchangeInfo`` answer (KeyError if it is not there)."""
        entry = next((s for s in info.get("symbols", []) if s.get("symbol") == symbol), None)
        if entry is None:
            raise KeyError(f"{symbol} is not in the exchange's symbol list")
        by_type = {f["filterType"]: f for f in entry.get("filters", [])}
        price, lot = by_type["PRICE_FILTER"], by_type["LOT_SIZE"]
        notional = by_type.get("NOTIONAL") or by_type.get("MIN_NOTIONAL") or {"minNotional": "0"}
        return cls(
            symbol=symbol,
            base_asset=str(entry["baseAsset"]),
            quote_asset=str(entry["quoteAsset"]),
            tick_size=Decimal(price["tickSize"]),
            min_price=Decimal(price["minPrice"]),
            max_price=Decimal(price["maxPrice"]),
            step_size=Decimal(lot["stepSize"]),
            min_qty=Decimal(lot["minQty"]),
            max_qty=Decimal(lot["maxQty"]),
            min_notional=Decimal(notional["minNotional"]),
        )

    @classmethod
    def default_for(cls, symbol: str, quote: str = "USDT") -> SymbolFilters:
        """Filters for a simulated run without an exchange (BTCUSDT's as of 2024)."""
        return cls(symbol, symbol.removesuffix(quote), quote, Decimal("0.01"), Decimal("0.01"),
                   Decimal("1000000"), Decimal("0.00001"), Decimal("0.00001"), Decimal("9000"),
                   Decimal("5"))  # fmt: skip


def round_price(price: Decimal, tick: Decimal, side: Side) -> Decimal:
    """``price`` on the tick grid: down for a buy, up for a sell."""
    mode = ROUND_FLOOR if side == "BUY" else ROUND_CEILING
    return (price / tick).to_integral_value(rounding=mode) * tick


def round_qty(qty: Decimal, step: Decimal) -> Decimal:
    """``qty`` down to the step grid."""
    return (qty / step).to_integral_value(rounding=ROUND_FLOOR) * step


def order_problem(price: Decimal, qty: Decimal, f: SymbolFilters) -> str | None:
    """Why the exchange would refuse a limit order of ``qty`` at ``price`` (already rounded), or None."""
    if not f.min_price <= price <= f.max_price:
        return f"price {price} outside [{f.min_price}, {f.max_price}] (PRICE_FILTER)"
    if qty < f.min_qty:
        return f"quantity {qty} below the minimum {f.min_qty} (LOT_SIZE)"
    if qty > f.max_qty:
        return f"quantity {qty} above the maximum {f.max_qty} (LOT_SIZE)"
    if price * qty < f.min_notional:
        return f"notional {price * qty:.2f} below the minimum {f.min_notional} (NOTIONAL)"
    return None
