"""The order state machine: one :class:`Order` record per client order id, advanced only by what the
exchange reports about it (never by what the trader expected).

States: ``pending`` (written to the journal before the request is sent: a crash or a timeout leaves a
record whose outcome is asked from the exchange), then the exchange's ``new``, ``partially_filled``,
``filled``, ``cancelled``, ``rejected``, ``expired``. The last four are final. The executed quantity
never decreases and a final order never reopens: a report that says otherwise is an
:class:`IllegalTransition` (the trader stops and asks for a look, it does not guess).
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict


class OrderStatus(StrEnum):
    PENDING = "pending"
    NEW = "new"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    EXPIRED = "expired"

    @property
    def final(self) -> bool:
        return self in FINAL

    @property
    def open(self) -> bool:
        return not self.final


FINAL = frozenset({OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED})

#: Binance's order statuses.
EXCHANGE_STATUS = {
    "NEW": OrderStatus.NEW,
    "PARTIALLY_FILLED": OrderStatus.PARTIALLY_FILLED,
    "FILLED": OrderStatus.FILLED,
    "CANCELED": OrderStatus.CANCELLED,
    "PENDING_CANCEL": OrderStatus.PARTIALLY_FILLED,
    "REJECTED": OrderStatus.REJECTED,
    "EXPIRED": OrderStatus.EXPIRED,
    "EXPIRED_IN_MATCH": OrderStatus.EXPIRED,
}


class IllegalTransition(Exception):
    """A report that contradicts what the journal knows about the order."""


class Order(BaseModel):
    """One order as the journal holds it (decimals as strings in JSON)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    client_id: str
    symbol: str
    side: str  # BUY or SELL
    price: Decimal
    qty: Decimal
    #: Open time of the candle whose signal made the order.
    candle_ms: int
    attempt: int = 0
    status: OrderStatus = OrderStatus.PENDING
    exchange_id: int | None = None
    executed: Decimal = Decimal(0)
    #: Quote amount of the executed part.
    quote: Decimal = Decimal(0)
    #: Executed quantity already booked into the position (fills are booked once).
    booked: Decimal = Decimal(0)
    booked_quote: Decimal = Decimal(0)
    #: Why: "signal", "stop_loss"; and why it ended if it did not fill ("timeout", "kill switch", ...).
    reason: str = "signal"
    note: str = ""
    #: Whether a real order (False: dry run, simulated).
    live: bool = True


class Report(BaseModel):
    """What the exchange says about an order (``GET /api/v3/order`` and friends)."""

    model_config = ConfigDict(frozen=True)

    client_id: str
    status: OrderStatus
    exchange_id: int | None
    executed: Decimal
    quote: Decimal

    @classmethod
    def from_binance(cls, answer: dict[str, Any]) -> Report:
        return cls(
            client_id=str(answer["clientOrderId"]),
            status=EXCHANGE_STATUS[str(answer["status"])],
            exchange_id=int(answer["orderId"]),
            executed=Decimal(str(answer["executedQty"])),
            quote=Decimal(str(answer["cummulativeQuoteQty"])),
        )


def apply_report(order: Order, report: Report) -> Order:
    """``order`` as the exchange now reports it; raises :class:`IllegalTransition` on a contradiction."""
    if report.client_id != order.client_id:
        raise IllegalTransition(f"report for {report.client_id} applied to {order.client_id}")
    if report.executed < order.executed:
        raise IllegalTransition(
            f"{order.client_id}: executed quantity went back from {order.executed} to {report.executed}"
        )
    if report.executed > order.qty:
        raise IllegalTransition(f"{order.client_id}: executed {report.executed} of {order.qty}")
    if order.status.final and report.status != order.status:
        raise IllegalTransition(f"{order.client_id}: {order.status} is final, exchange says {report.status}")
    return order.model_copy(
        update={
            "status": report.status,
            "exchange_id": report.exchange_id,
            "executed": report.executed,
            "quote": report.quote,
        }
    )


def mark(order: Order, status: OrderStatus, note: str) -> Order:
    """``order`` ended locally (rejected by the exchange, or never reached it)."""
    if order.status.final:
        raise IllegalTransition(f"{order.client_id}: {order.status} is final")
    return order.model_copy(update={"status": status, "note": note})
