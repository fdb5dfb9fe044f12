"""What ``itb trade status`` and ``/status`` show, from the journal and the kill switch (pure)."""

from __future__ import annotations

from typing import Any

from itb.trade.journal import Control, TradeState


def trade_status(symbol: str, state: TradeState | None, control: Control) -> dict[str, Any]:
    """One JSON object: ``state``, ``mode``, ``position`` (``base``, ``quote``: the account balances the
    trader believes, ``held``: what it bought and holds), ``open_orders``, ``orders_today``, ``pnl_today``."""
    s = state or TradeState(symbol=symbol)
    return {
        "symbol": symbol,
        "state": control.state,
        "reason": control.reason,
        "mode": s.mode,
        "position": {"base": float(s.base or 0), "quote": float(s.quote or 0), "held": float(s.held_base)},
        "open_orders": [
            {
                "client_id": o.client_id,
                "side": o.side,
                "price": float(o.price),
                "qty": float(o.qty),
                "executed": float(o.executed),
                "status": str(o.status),
            }
            for o in s.open_orders()
        ],
        "orders_today": s.orders_today,
        "pnl_today": float(s.pnl_today),
        "day": s.day,
    }


def status_lines(status: dict[str, Any]) -> list[str]:
    p = status["position"]
    lines = [
        f"{status['symbol']}: {status['state']}"
        + (f" ({status['reason']})" if status["reason"] else "")
        + f", {status['mode']}",
        f"  position: base {p['base']:.8g}, quote {p['quote']:.8g} (held by the trader {p['held']:.8g})",
        f"  today ({status['day'] or '-'}): {status['orders_today']} orders, "
        f"realised PnL {status['pnl_today']:+.2f}",
    ]
    for o in status["open_orders"]:
        lines.append(f"  open {o['side']} {o['qty']:.8g} at {o['price']:.2f} ({o['status']}, executed "
                     f"{o['executed']:.8g}) {o['client_id']}")  # fmt: skip
    if not status["open_orders"]:
        lines.append("  no open orders")
    return lines
