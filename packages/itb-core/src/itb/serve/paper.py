"""``trader_simulation``: paper trading on the live signals, through the backtest's own account.

Each candle's row carries the signal columns (``buy_signal_column``, ``sell_signal_column``; default
the config's ``simulate.buy_column`` / ``sell_column``). A candle's signals are acted on at the
*next* candle's open (the first price a live order could get): :class:`~itb.backtest.account.Account`
applies them with the fee and slippage of :mod:`itb.backtest.fills` (default the ``simulate``
section's), so the trades are the vectorised backtest's over the same signals priced at the next
open. The position, the ledger (trades and fills) and the equity marked at the last close are
persisted after every candle in ``<data_root>/paper/<SYMBOL>/``: ``ledger.json`` (written only when a
fill happened) and then ``state.json`` (atomic writes; the state counts the ledger's entries, so a
ledger written just before a crash is cut back to the state on restart). A row at or before the last
processed candle is ignored, so a restarted service that delivers a candle again does not trade it
twice: a restart resumes exactly.

Messages (to the service's :class:`~itb.serve.messages.MessageSink`): one per fill, and a summary
of each UTC day when the first candle of the next day arrives. Fills on backfilled candles (caught up
after a restart or an outage) are not announced one by one: :meth:`PaperTrader.end_batch` (after each
tick's candles) or the next live candle sends one summary of them. Which fills were announced is part
of the persisted state (``announced``), so a kill before the summary only delays it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from itb.backtest.account import Account, Fill, Trade
from itb.config.models import SimulateConfig
from itb.errors import DataError
from itb.serve.messages import MessageSink
from itb.storage.store import Storage
from itb.timefmt import utc_day, utc_minute


class PaperTraderConfig(BaseModel):
    """``output_sets[].config`` of ``trader_simulation`` (the reference project's keys, plus costs)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    buy_signal_column: str | None = Field(default=None, description="Default: simulate.buy_column.")
    sell_signal_column: str | None = Field(default=None, description="Default: simulate.sell_column.")
    fee: float | None = Field(default=None, ge=0, lt=0.1, description="Default: simulate.fee.")
    slippage: float | None = Field(default=None, ge=0, lt=0.1, description="Default: simulate.slippage.")
    direction: Literal["long", "short", "both"] | None = Field(
        default=None, description="Default: simulate.direction."
    )
    initial_cash: float = Field(default=1.0, gt=0, description="Equity before the first trade.")
    trade_message: bool = Field(default=True, description="A message per fill.")
    daily_summary: bool = Field(default=True, description="A message when a UTC day is over.")


class PaperState(BaseModel):
    """The account after the last processed candle (``paper/<SYMBOL>/state.json``)."""

    model_config = ConfigDict(extra="forbid")

    last_timestamp: int | None = None
    #: The last candle's signals, acted on at the next candle's open.
    pending_buy: bool = False
    pending_sell: bool = False
    cash: float
    quantity: float = 0.0
    #: The open trade: (entry time, entry reference price, equity before it).
    entry: tuple[int, float, float] | None = None
    #: Entries of ``ledger.json`` that belong to this state.
    trades: int = 0
    fills: int = 0
    #: Equity marked at the last close.
    equity: float
    day: str | None = None
    day_start_equity: float | None = None
    day_start_trades: int = 0
    #: Fills of the ledger announced so far (the rest wait for a backfill summary); None: all.
    announced: int | None = None


def _flag(value: Any) -> bool:
    return bool(value) if value is not None else False


class PaperTrader:
    """The output: :meth:`send` each candle's row (with ``open`` and ``close``) in order."""

    def __init__(
        self,
        config: PaperTraderConfig,
        symbol: str,
        storage: Storage,
        simulate: SimulateConfig | None = None,
        sink: MessageSink | None = None,
    ) -> None:
        simulate = simulate or SimulateConfig()
        self.config = config
        self.symbol = symbol
        self.storage = storage
        self.sink = sink
        self.buy_column = config.buy_signal_column or simulate.buy_column
        self.sell_column = config.sell_signal_column or simulate.sell_column
        self.dir = f"paper/{symbol}"
        self.account = Account(
            direction=config.direction or simulate.direction,
            fee_rate=simulate.fee if config.fee is None else config.fee,
            slippage=simulate.slippage if config.slippage is None else config.slippage,
            cash=config.initial_cash,
        )
        self.state = PaperState(cash=config.initial_cash, equity=config.initial_cash)
        self._load()

    # --- persistence ----------------------------------------------------------------------------
    def _load(self) -> None:
        name = f"{self.dir}/state.json"
        if not self.storage.exists(name):
            return
        state = PaperState.model_validate(self.storage.read_json(name))
        ledger = (
            self.storage.read_json(f"{self.dir}/ledger.json") if state.fills else {"trades": [], "fills": []}
        )
        if len(ledger["trades"]) < state.trades or len(ledger["fills"]) < state.fills:
            raise DataError(f"{self.storage.url(self.dir)}/ledger.json: fewer entries than state.json counts")
        self.account.cash, self.account.quantity = state.cash, state.quantity
        self.account.entry = state.entry
        self.account.trades = [Trade(**t) for t in ledger["trades"][: state.trades]]
        self.account.fills = [Fill(**f) for f in ledger["fills"][: state.fills]]
        self.state = state

    def _save(self, ledger_changed: bool) -> None:
        if ledger_changed:
            ledger = {"trades": [asdict(t) for t in self.account.trades],
                      "fills": [asdict(f) for f in self.account.fills]}  # fmt: skip
            self.storage.write_json(f"{self.dir}/ledger.json", ledger)
        self.storage.write_json(f"{self.dir}/state.json", self.state.model_dump(mode="json"))

    # --- the output -----------------------------------------------------------------------------
    def send(self, row: Mapping[str, Any]) -> None:
        timestamp = int(row["timestamp"])
        state = self.state
        if state.last_timestamp is not None and timestamp <= state.last_timestamp:
            return  # delivered again after a restart: already traded
        backfilled = bool(row.get("backfilled", False))
        if not backfilled:
            self.end_batch()  # fills caught up before this live candle are summarised first
            state = self.state
        fills_before = len(self.account.fills)
        if state.pending_buy != state.pending_sell:
            if row.get("open") is None:
                raise DataError(
                    f"trader_simulation: the row of {utc_minute(timestamp)} has no 'open' price to fill at"
                )
            self.account.apply(state.pending_buy, state.pending_sell, float(row["open"]), timestamp)
        equity = self.account.equity(float(row["close"]))
        day = utc_day(timestamp)
        if state.day is not None and day != state.day:
            self._day_summary(state)
        new_day = state.day is None or day != state.day
        self.state = PaperState(
            last_timestamp=timestamp,
            pending_buy=_flag(row.get(self.buy_column)),
            pending_sell=_flag(row.get(self.sell_column)),
            cash=self.account.cash,
            quantity=self.account.quantity,
            entry=self.account.entry,
            trades=len(self.account.trades),
            fills=len(self.account.fills),
            equity=equity,
            day=day,
            day_start_equity=state.equity if new_day else state.day_start_equity,
            day_start_trades=len(self.account.trades) if new_day else state.day_start_trades,
            announced=(state.announced if state.announced is not None else fills_before)
            if backfilled
            else None,
        )
        new_fills = self.account.fills[fills_before:]
        self._save(ledger_changed=bool(new_fills))
        if self.config.trade_message and not backfilled:
            for i, fill in enumerate(new_fills):
                self._post(self._fill_message(fill, equity), f"paper:{self.symbol}:{timestamp}:{i}")

    def end_batch(self) -> None:
        """Announce the fills of backfilled candles not announced yet, in one message."""
        state = self.state
        if state.announced is None:
            return
        caught_up = self.account.fills[state.announced :]
        if caught_up and self.config.trade_message:
            first, last = caught_up[0].timestamp, caught_up[-1].timestamp
            buys = sum(f.side == "buy" for f in caught_up)
            position = {1: "long", -1: "short", 0: "flat"}[self.account.position]
            self._post(
                f"{utc_minute(first)} paper {self.symbol}: {len(caught_up)} fill(s) on backfilled candles "
                f"{utc_minute(first)} .. {utc_minute(last)[-5:]} UTC ({buys} buy, {len(caught_up) - buys} "
                f"sell); equity {state.equity:.6g}, {position}",
                f"paper-backfill:{self.symbol}:{first}:{last}",
            )
        self.state = state.model_copy(update={"announced": None})
        self._save(ledger_changed=False)

    def _fill_message(self, fill: Fill, equity: float) -> str:
        trade = self.account.trades[-1] if self.account.trades else None
        closed = (
            trade is not None
            and trade.exit_time == fill.timestamp
            and fill.side == ("sell" if trade.side == "long" else "buy")
        )
        text = (
            f"{utc_minute(fill.timestamp)} paper {self.symbol} {fill.side.upper()} {fill.quantity:.6g} "
            f"at {fill.price:,.2f} (fee {fill.fee:.6g})"
        )
        if closed and trade is not None:
            text += f", {trade.side} trade closed {trade.profit_pct:+.2f}%"
        return f"{text}; equity {equity:.6g}"

    def _day_summary(self, state: PaperState) -> None:
        if not self.config.daily_summary or state.day is None:
            return
        start = state.day_start_equity or self.config.initial_cash
        closed = len(self.account.trades) - state.day_start_trades
        position = {1: "long", -1: "short", 0: "flat"}[self.account.position]
        self._post(
            f"{state.day} paper {self.symbol}: {closed} trades closed, equity {state.equity:.6g} "
            f"({(state.equity / start - 1) * 100:+.2f}% on the day), {position}",
            f"paper-day:{self.symbol}:{state.day}",
        )

    def _post(self, text: str, key: str) -> None:
        if self.sink is not None:
            self.sink.post(text, key)

    def close(self) -> None:
        """Nothing to release: the state is saved after every candle; the sink is the service's."""
