"""The trader's state in the data root, as atomic JSON files through itb's storage:

- ``trade/<SYMBOL>/journal.json`` (``journal-dry-run.json`` for a dry run): every order of the last
  :data:`KEEP_DAYS` days with its state, the position (base held, its cost), the balances as the
  trader believes them, today's order count and realised PnL, the mode. Written before an order is
  sent (state ``pending``) and after every change the exchange reports.
- ``trade/<SYMBOL>/control.json``: the kill switch (``running`` / ``stopped``, why, by whom), written
  by ``itb trade stop|resume``, ``/stop`` and ``/resume`` and read by the service every candle.

Why JSON through :class:`~itb.storage.store.Storage` and not SQLite: the data root may be an object
store (Azure Blob), where SQLite cannot live, and the journal then sits beside the models and live
log it belongs to; the trader writes at most a few small documents per candle, each write atomic
(a temporary name and a rename, one PUT on object stores), so a crash leaves the previous or the new
journal, never half of one. The kill switch is a separate file so the CLI and the service never
rewrite each other's document.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from itb.storage.store import Storage
from itb.trade.orders import Order

KEEP_DAYS = 7
DAY_MS = 86_400_000


class TradeState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    symbol: str
    mode: str = "simulated"
    orders: list[Order] = Field(default_factory=list)
    #: Base bought by the trader and not sold yet (net of fees), and what it cost (quote, with fees).
    held_base: Decimal = Decimal(0)
    cost_quote: Decimal = Decimal(0)
    #: Account balances (free + locked) as the trader believes them; None before the first read.
    base: Decimal | None = None
    quote: Decimal | None = None
    day: str | None = None
    orders_today: int = 0
    pnl_today: Decimal = Decimal(0)
    last_candle: int | None = None

    def open_orders(self) -> list[Order]:
        return [o for o in self.orders if o.status.open]

    def replace(self, order: Order) -> None:
        self.orders = [order if o.client_id == order.client_id else o for o in self.orders]

    def prune(self, now_ms: int) -> None:
        """Drop final orders older than :data:`KEEP_DAYS` (open ones are kept whatever their age)."""
        keep_from = now_ms - KEEP_DAYS * DAY_MS
        self.orders = [o for o in self.orders if o.status.open or o.candle_ms >= keep_from]


class Control(BaseModel):
    """The kill switch."""

    model_config = ConfigDict(extra="forbid")

    state: Literal["running", "stopped"] = "running"
    reason: str = ""
    #: Who set it: "cli", "http", "reconciliation".
    by: str = ""
    at_ms: int = 0


def trade_dir(symbol: str) -> str:
    return f"trade/{symbol}"


def journal_name(symbol: str, live: bool) -> str:
    """Live orders and dry runs keep separate journals: a replay or a dry run on the production data
    root never touches what the live trader knows about its real orders and balances."""
    return f"{trade_dir(symbol)}/{'journal' if live else 'journal-dry-run'}.json"


def load_state(storage: Storage, symbol: str, live: bool = True) -> TradeState | None:
    try:  # one request, not an exists() and a read: this runs on every candle
        return TradeState.model_validate(storage.read_json(journal_name(symbol, live)))
    except FileNotFoundError:
        return None


def save_state(storage: Storage, state: TradeState) -> None:
    storage.write_json(journal_name(state.symbol, state.mode == "live"), state.model_dump(mode="json"))


def load_control(storage: Storage, symbol: str) -> Control:
    try:  # one request, not an exists() and a read: this runs on every candle
        return Control.model_validate(storage.read_json(f"{trade_dir(symbol)}/control.json"))
    except FileNotFoundError:
        return Control()


def save_control(storage: Storage, symbol: str, control: Control) -> None:
    storage.write_json(f"{trade_dir(symbol)}/control.json", control.model_dump(mode="json"))
