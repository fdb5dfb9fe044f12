"""``trader_binance``: limit orders on Binance spot from each candle's signals, with a persisted order
state machine, caps, a stop-loss, order timeouts, reconciliation and a kill switch.

Per candle (:meth:`BinanceTrader.send`, on the trader's own event-loop thread; the caller waits):

1. sync the signing clock with the exchange (``recvWindow`` and drift), re-read the filters daily;
2. reconcile if this is the first candle or an exchange call failed since the last one
   (:meth:`reconcile`: the exchange is the truth; fills that happened while down are booked; an
   order or balance it cannot explain stops trading through the kill switch, notified);
3. read every open order back and book new fills (fees from ``myTrades``);
4. kill switch stopped: cancel the open orders, place nothing;
5. cancel orders older than ``order_timeout_candles`` (a partial fill is kept); a cancel is always
   followed by reading the order again, so a fill racing the cancel is booked, not lost;
6. the signals: a sell (or the stop-loss, checked on each candle's close against the average entry
   price: not an exchange-side OCO, which would lock the base a signal sell needs) cancels open buys
   and sells what the trader holds; a buy when flat spends ``percentage_used_for_trade`` of the free
   quote; limit price = close adjusted by ``limit_price_adjustment``, rounded to the filters;
7. caps (:func:`itb.trade.caps.check_caps`): a refusal is logged and notified;
8. the order is written to the journal (``pending``) before it is sent, with a client id from
   (symbol, candle, side, attempt): a request that times out is read back by that id and, if the
   exchange never got it, sent again with the same id, so it is placed once.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Coroutine, Mapping
from decimal import Decimal
from typing import Any, TypeVar

from itb.secret_refs import SecretScope
from itb.serve.messages import MessageSink
from itb.storage.store import Storage
from itb.timefmt import utc_day, utc_minute
from itb.trade.book import (
    balance_problems,
    book_fills,
    free_quote,
    plan_candle,
    reconcile_orders,
    timed_out,
)
from itb.trade.caps import Exposure, OrderIntent, check_caps
from itb.trade.config import TraderBinanceConfig
from itb.trade.filters import SymbolFilters
from itb.trade.ids import client_order_id
from itb.trade.journal import Control, TradeState, load_control, load_state, save_control, save_state
from itb.trade.orders import IllegalTransition, Order, OrderStatus, apply_report, mark
from itb.trade.status import trade_status
from itb.trade.venue import SimulatedVenue, Venue, VenueError

log = logging.getLogger("itb.trade")
T = TypeVar("T")
#: Longest a candle's trading work may take before the caller stops waiting (s).
CANDLE_BUDGET_S = 60.0


class _LoopThread:
    """An event loop on a daemon thread: the trader's async client lives there, whichever thread
    (or running loop) calls :meth:`run`."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="itb-trader", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(CANDLE_BUDGET_S)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


class BinanceTrader:
    """The output: :meth:`send` each candle's row (``timestamp``, ``close``, ``high``/``low``, signals)."""

    def __init__(
        self,
        config: TraderBinanceConfig,
        symbol: str,
        storage: Storage,
        venue: Venue,
        sink: MessageSink | None,
        freq_ms: int,
        buy_column: str,
        sell_column: str,
        secrets: SecretScope | None = None,
    ) -> None:
        self.config = config
        #: The scope holding the API key and secret (left on :meth:`close`, which stops masking them).
        self._secrets = secrets
        self.symbol = symbol
        self.storage = storage
        self.venue = venue
        self.sink = sink
        self.freq_ms = freq_ms
        self.buy_column, self.sell_column = buy_column, sell_column
        live = venue.mode == "live"
        self.state = load_state(storage, symbol, live) or TradeState(symbol=symbol, mode=venue.mode)
        self.state.mode = venue.mode  # test-order and simulated share the dry-run journal
        if isinstance(venue, SimulatedVenue) and self.state.quote is not None:
            venue.restore(self.state)
        self._loop = _LoopThread()
        self._lock: asyncio.Lock | None = None
        self._reconciled = False
        self._dirty = False
        self._failing = False
        self._say(
            f"trader_binance {symbol}: {describe_mode(venue.mode)}", f"trade-start:{symbol}:{time.time()}"
        )

    # --- the output ---------------------------------------------------------------------------------
    def send(self, row: Mapping[str, Any]) -> None:
        timestamp = int(row["timestamp"])
        if self.state.last_candle is not None and timestamp <= self.state.last_candle:
            return  # delivered again after a restart: already acted on
        self._loop.run(self._locked(self._candle(row)))

    def snapshot(self) -> dict[str, Any]:
        """The last candle acted on, persisted by the service with its live log (the journal is written
        only when something changed)."""
        return {"last_candle": self.state.last_candle}

    def restore(self, data: dict[str, Any]) -> None:
        last = data.get("last_candle")
        if isinstance(last, int) and (self.state.last_candle is None or last > self.state.last_candle):
            self.state.last_candle = last

    def close(self) -> None:
        try:
            self._loop.run(self.venue.close())
        finally:
            self._loop.stop()
            if self._secrets is not None:
                self._secrets.__exit__(None, None, None)

    def status(self) -> dict[str, Any]:
        return trade_status(self.symbol, self.state, load_control(self.storage, self.symbol))

    def stop_trading(self, reason: str, by: str) -> None:
        """The kill switch: persisted first, then the open orders cancelled (blocking)."""
        save_control(self.storage, self.symbol, Control(state="stopped", reason=reason, by=by,
                                                        at_ms=int(time.time() * 1000)))  # fmt: skip
        self._loop.run(self._locked(self._cancel_all("kill switch")))

    def resume_trading(self, by: str) -> None:
        save_control(
            self.storage, self.symbol, Control(state="running", by=by, at_ms=int(time.time() * 1000))
        )

    async def _locked(self, coro: Coroutine[Any, Any, None]) -> None:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            await coro

    # --- one candle ---------------------------------------------------------------------------------
    async def _candle(self, row: Mapping[str, Any]) -> None:
        timestamp = int(row["timestamp"])
        state = self.state
        self.venue.observe(row)
        try:
            day = utc_day(timestamp)
            filters = await self.venue.prepare(day)
            reconciled_now = not self._reconciled
            if reconciled_now:
                problems = await self.reconcile(filters)
                self._reconciled = True
                if self._failing:  # one message per outage: its start and its end
                    after = "; ".join(problems) or "nothing unexplained"
                    self._say(f"trader_binance {self.symbol}: exchange reachable again, reconciled ({after})",
                              f"trade-back:{self.symbol}:{timestamp}")  # fmt: skip
                    self._failing = False
            if state.day != day:
                state.day, state.orders_today, state.pnl_today = day, 0, Decimal(0)
                self._dirty = True
            if not reconciled_now:  # a reconciliation has just read every open order
                await self._refresh()
            if load_control(self.storage, self.symbol).state == "stopped":
                await self._cancel_all("kill switch")
                return
            for order in timed_out(state, timestamp, self.freq_ms, self.config.order_timeout_candles):
                await self._cancel(order, "timeout")
            close = Decimal(repr(float(row["close"])))
            buy, sell = bool(row.get(self.buy_column)), bool(row.get(self.sell_column))
            plan = plan_candle(state, close, buy, sell, self.config, filters)
            for order in plan.cancels:
                await self._cancel(order, "opposite signal")
            if plan.cancels:  # the cancelled orders may have filled: plan again on the booked state
                plan = plan_candle(state, close, buy, sell, self.config, filters)
            if plan.note and (buy or sell):
                log.info("%s %s: %s", self.symbol, utc_minute(timestamp), plan.note)
            if plan.intent is not None:
                await self._order(plan.intent, timestamp)
        except VenueError as exc:
            self._reconciled = False  # whatever happened, ask the exchange before the next order
            log.warning("%s %s: exchange error (%s): %s; reconciling on the next candle",
                        self.symbol, utc_minute(timestamp), exc.kind, exc)  # fmt: skip
            if not self._failing:
                self._say(f"trader_binance {self.symbol}: exchange error ({exc.kind}): {exc}",
                          f"trade-error:{self.symbol}:{timestamp}")  # fmt: skip
            self._failing = True
        except IllegalTransition as exc:
            self._halt(f"order state contradiction: {exc}", timestamp)
        finally:
            state.last_candle = timestamp
            if self._dirty:  # a candle that changed nothing is not written (its time is in the live log)
                state.prune(timestamp)
                save_state(self.storage, state)
                self._dirty = False

    async def reconcile(self, filters: SymbolFilters) -> list[str]:
        """Align the journal with the exchange (the truth); returns the problems it could not explain
        (trading is then stopped)."""
        state = self.state
        reports = {o.client_id: await self.venue.get(o) for o in state.open_orders()}
        exchange_open = await self.venue.open_orders()
        result = reconcile_orders(state, reports, exchange_open)
        for order in result.orders.values():
            state.replace(order)
            await self._book(order)
        base, quote = await self.venue.balances()
        problems = result.problems + balance_problems(state, base, quote, filters)
        state.base, state.quote = base, quote
        save_state(self.storage, state)
        if problems:
            self._halt("reconciliation: " + "; ".join(problems), state.last_candle or 0)
        return problems

    async def _refresh(self) -> None:
        for order in self.state.open_orders():
            if order.status == OrderStatus.PENDING:
                continue  # resolved by the reconciliation that follows a failed send
            report = await self.venue.get(order)
            if report is None:
                raise IllegalTransition(
                    f"order {order.client_id} ({order.status}) is unknown to the exchange"
                )
            updated = apply_report(order, report)
            if updated != order:
                self.state.replace(updated)
                self._dirty = True
            await self._book(self._find(order.client_id))

    async def _book(self, order: Order) -> None:
        if order.executed <= order.booked:
            return
        fee_base, fee_quote = await self.venue.fees(order)
        new_qty = order.executed - order.booked
        booked = book_fills(self.state, order, fee_base, fee_quote)
        self.state.replace(booked)
        self._dirty = True  # written once at the end of the candle (a crash before: reconciled again)
        avg = order.quote / order.executed
        self._say(
            f"trader_binance {self.symbol}: {order.side} {new_qty:f} filled at {avg:.2f} "
            f"({order.status}, {order.executed:f} of {order.qty:f}); held {self.state.held_base:f}, "
            f"PnL today {self.state.pnl_today:+.2f}",
            f"trade-fill:{order.client_id}:{order.executed}",
        )

    def _find(self, client_id: str) -> Order:
        return next(o for o in self.state.orders if o.client_id == client_id)

    async def _cancel(self, order: Order, reason: str) -> None:
        """Cancel, then read the order again: a fill that raced the cancel is booked either way."""
        if order.status == OrderStatus.PENDING:
            return
        await self.venue.cancel(order)
        report = await self.venue.get(order)
        if report is None:
            raise IllegalTransition(f"order {order.client_id} vanished from the exchange while cancelled")
        updated = apply_report(self._find(order.client_id), report).model_copy(update={"note": reason})
        self.state.replace(updated)
        self._dirty = True
        await self._book(self._find(order.client_id))
        log.info("%s: order %s cancelled (%s), %s of %s executed", self.symbol, order.client_id, reason,
                 updated.executed, updated.qty)  # fmt: skip

    async def _cancel_all(self, reason: str) -> None:
        for order in self.state.open_orders():
            await self._cancel(order, reason)  # marks the state for the end-of-candle write

    async def _order(self, intent: OrderIntent, candle_ms: int) -> None:
        state = self.state
        exposure = Exposure(state.held_base, free_quote(state), state.orders_today, state.pnl_today)
        refusal = check_caps(intent, exposure, self.config.caps)
        if refusal is not None:
            text = (
                f"trader_binance {self.symbol}: {intent.side} {intent.qty:f} at {intent.price:f} "
                f"refused by {refusal.cap}: {refusal.reason}"
            )
            log.warning("%s", text)
            self._say(text, f"trade-refused:{self.symbol}:{candle_ms}:{intent.side}")
            return
        attempt = sum(1 for o in state.orders if o.candle_ms == candle_ms and o.side == intent.side)
        order = Order(
            client_id=client_order_id(self.symbol, candle_ms, intent.side, attempt), symbol=self.symbol,
            side=intent.side, price=intent.price, qty=intent.qty, candle_ms=candle_ms, attempt=attempt,
            reason=intent.reason, live=self.venue.mode == "live",
        )  # fmt: skip
        state.orders.append(order)
        state.orders_today += 1
        save_state(self.storage, state)  # written ahead: a crash from here on is reconciled by client id
        try:
            report = await self.venue.place(order)
        except VenueError as exc:
            if exc.kind == "rejected":
                state.replace(mark(order, OrderStatus.REJECTED, str(exc)))
                self._dirty = True
                self._say(f"trader_binance {self.symbol}: {intent.side} rejected: {exc}",
                          f"trade-rejected:{order.client_id}")  # fmt: skip
                return
            if exc.kind != "unknown":
                raise
            log.warning(
                "%s: order %s outcome unknown (%s); reading it back", self.symbol, order.client_id, exc
            )
            found = await self.venue.get(order)
            if found is None:  # never reached the exchange: send again, same id (placed at most once)
                try:
                    found = await self.venue.place(order)
                except VenueError as again:
                    if again.code != -2010 or "Duplicate" not in str(again):
                        raise
                    found = await self.venue.get(order)
            if found is None:
                raise VenueError("unknown", f"order {order.client_id}: outcome still unknown") from None
            report = found
        state.replace(apply_report(order, report))
        save_state(self.storage, state)
        self._say(
            f"trader_binance {self.symbol} {utc_minute(candle_ms)}: {self.venue.mode} {intent.side} "
            f"{intent.qty:f} at {intent.price:f} ({intent.reason}) {order.client_id}",
            f"trade-order:{order.client_id}",
        )

    def _halt(self, reason: str, timestamp: int) -> None:
        save_control(self.storage, self.symbol, Control(state="stopped", reason=reason, by="reconciliation",
                                                        at_ms=int(time.time() * 1000)))  # fmt: skip
        log.error("%s: trading stopped: %s", self.symbol, reason)
        self._say(
            f"trader_binance {self.symbol}: trading STOPPED: {reason}",
            f"trade-halt:{self.symbol}:{timestamp}",
        )

    def _say(self, text: str, key: str) -> None:
        log.info("%s", text)
        if self.sink is not None:
            self.sink.post(text, key)


def describe_mode(mode: str) -> str:
    return {
        "live": "LIVE: real orders on the exchange",
        "test-order": "DRY RUN: orders checked by the exchange's test-order endpoint, fills simulated",
        "simulated": "DRY RUN: orders and fills simulated (no exchange calls for orders)",
    }[mode]
