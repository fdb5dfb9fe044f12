"""Where orders go: :class:`BinanceVenue` (signed REST calls through python-binance's ``AsyncClient``)
or :class:`SimulatedVenue` (a dry run: fills from the candles the service delivers; optionally each
order checked by Binance's test-order endpoint first, :class:`TestOrderVenue`).

Every exchange failure becomes one :class:`VenueError` whose ``kind`` decides what the trader does:
``rejected`` (the exchange said no: filters, -2010 balance or duplicate), ``missing`` (-2013/-2011:
no such order), ``clock`` (-1021: the request's timestamp is outside ``recvWindow``; the clock offset
is read again and the call repeated once), ``unknown`` (timeout, 5xx, dropped connection: the request
may or may not have been executed, so the order is read back by its client id), ``outage`` (418/429:
stop calling until the next candle, then reconcile). Messages never carry the API key or secret.
"""

from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from typing import Any, Literal, Protocol

import aiohttp

from itb.trade.filters import SymbolFilters
from itb.trade.journal import TradeState
from itb.trade.orders import Order, OrderStatus, Report

VenueErrorKind = Literal["rejected", "missing", "clock", "unknown", "outage"]
RECV_WINDOW_MS = 5000


#: How long to keep quiet after a 418/429 that carries no usable Retry-After (s).
DEFAULT_RETRY_AFTER_S = 60.0
#: How often the clock offset to the exchange is measured again (a -1021 answer measures it at once).
TIME_SYNC_EVERY_S = 600.0


def retry_after_s(headers: Mapping[str, str] | None) -> float:
    """The answer's ``Retry-After`` in seconds (:data:`DEFAULT_RETRY_AFTER_S` when missing or not a
    number of seconds)."""
    try:
        value = float((headers or {}).get("Retry-After", ""))
    except ValueError:
        return DEFAULT_RETRY_AFTER_S
    return value if value >= 0 else DEFAULT_RETRY_AFTER_S


class VenueError(Exception):
    def __init__(self, kind: VenueErrorKind, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.code = code


class Venue(Protocol):
    """What the trader needs from an exchange (all amounts Decimal)."""

    #: "live", "test-order" or "simulated": said at start-up and in the status.
    mode: str

    async def prepare(self, day: str) -> SymbolFilters: ...
    def observe(self, row: Mapping[str, Any]) -> None: ...
    async def place(self, order: Order) -> Report: ...
    async def get(self, order: Order) -> Report | None: ...
    async def cancel(self, order: Order) -> Report | None: ...
    async def open_orders(self) -> list[Report]: ...
    async def fees(self, order: Order) -> tuple[Decimal, Decimal]: ...
    async def balances(self) -> tuple[Decimal, Decimal]: ...
    async def close(self) -> None: ...


class BinanceVenue:
    """Signed spot calls for one symbol (the client is created on the running event loop)."""

    mode = "live"

    def __init__(
        self,
        symbol: str,
        api_url: str,
        api_key: str,
        api_secret: str,
        timeout_s: float,
        test_first: bool = False,
    ) -> None:
        self.symbol = symbol
        self.test_first = test_first
        self.api_url = api_url
        self._credentials = (api_key, api_secret)
        self.timeout_s = timeout_s
        self.filters: SymbolFilters | None = None
        self._synced_at: float | None = None
        self._filters_day: str | None = None
        self._client: Any = None
        #: After a 418/429, no request before this (``time.monotonic()``): calling during a ban is
        #: what makes Binance lengthen it.
        self._quiet_until = 0.0

    @property
    def client(self) -> Any:
        """python-binance's ``AsyncClient``, made on first use on the running loop (its session binds
        to that loop)."""
        if self._client is None:
            with warnings.catch_warnings():  # python-binance imports deprecated websockets APIs
                warnings.simplefilter("ignore", DeprecationWarning)
                from binance import AsyncClient  # type: ignore[import-untyped]

            client = AsyncClient(api_key=self._credentials[0], api_secret=self._credentials[1])
            client.API_URL = f"{self.api_url}/api"
            client.REQUEST_RECVWINDOW = RECV_WINDOW_MS
            self._client = client
        return self._client

    async def _call(self, what: str, fn: Callable[[], Awaitable[Any]], resync: bool = True) -> Any:
        from binance.exceptions import (  # type: ignore[import-untyped]
            BinanceAPIException,
            BinanceRequestException,
        )

        left = self._quiet_until - time.monotonic()
        if left > 0:
            raise VenueError(
                "outage", f"{what}: not sent, waiting out the exchange's Retry-After ({left:.1f} s left)"
            )
        try:
            return await asyncio.wait_for(fn(), self.timeout_s)
        except BinanceAPIException as exc:
            code, status = int(exc.code or 0), int(exc.status_code)
            message = f"{what}: HTTP {status} (code {code}: {exc.message})"
            if status in (418, 429):
                wait = retry_after_s(getattr(exc.response, "headers", None))
                self._quiet_until = time.monotonic() + wait
                message += f"; no request for {wait:g} s (Retry-After)"
            if code == -1021 and resync:
                await self.sync_time()
                return await self._call(what, fn, resync=False)
            if code == -1021:
                raise VenueError("clock", message, code) from None
            if code in (-2013, -2011):
                raise VenueError("missing", message, code) from None
            if status in (418, 429):
                raise VenueError("outage", message, code) from None
            if status >= 500:
                raise VenueError("unknown", message, code) from None
            raise VenueError("rejected", message, code) from None
        except BinanceRequestException as exc:
            raise VenueError("unknown", f"{what}: unreadable answer ({str(exc.message)[:80]!r})") from None
        except TimeoutError:
            raise VenueError("unknown", f"{what}: no answer within {self.timeout_s:g} s") from None
        except (aiohttp.ClientError, ValueError) as exc:
            raise VenueError("unknown", f"{what}: {type(exc).__name__}") from None

    async def sync_time(self) -> None:
        """Sign with the exchange's clock: the offset between it and the local clock."""
        answer = await self._call("time", self.client.get_server_time, resync=False)
        self.client.timestamp_offset = int(answer["serverTime"]) - int(time.time() * 1000)

    async def prepare(self, day: str) -> SymbolFilters:
        now = time.monotonic()
        if self._synced_at is None or now - self._synced_at >= TIME_SYNC_EVERY_S:
            await self.sync_time()  # a -1021 (timestamp outside recvWindow) resyncs at once as well
            self._synced_at = now
        if self.filters is None or self._filters_day != day:  # filters re-read daily
            info = await self._call("exchangeInfo", self.client.get_exchange_info)
            try:
                self.filters = SymbolFilters.from_exchange_info(info, self.symbol)
            except KeyError as exc:
                raise VenueError("rejected", f"exchangeInfo: {exc}") from None
            self._filters_day = day
        return self.filters

    def observe(self, row: Mapping[str, Any]) -> None:
        """The exchange matches orders itself."""

    def _params(self, order: Order) -> dict[str, Any]:
        return {"symbol": self.symbol, "side": order.side, "type": "LIMIT", "timeInForce": "GTC",
                "quantity": f"{order.qty:f}", "price": f"{order.price:f}",
                "newClientOrderId": order.client_id, "newOrderRespType": "RESULT"}  # fmt: skip

    async def place(self, order: Order) -> Report:
        if self.test_first:
            await self.test_order(order)
        params = self._params(order)
        answer = await self._call(f"POST order {order.client_id}", lambda: self.client.create_order(**params))
        return Report.from_binance(answer)

    async def test_order(self, order: Order) -> None:
        params = self._params(order)
        await self._call(
            f"POST order/test {order.client_id}", lambda: self.client.create_test_order(**params)
        )

    async def get(self, order: Order) -> Report | None:
        try:
            answer = await self._call(
                f"GET order {order.client_id}",
                lambda: self.client.get_order(symbol=self.symbol, origClientOrderId=order.client_id),
            )
        except VenueError as exc:
            if exc.kind == "missing":
                return None
            raise
        return Report.from_binance(answer)

    async def cancel(self, order: Order) -> Report | None:
        try:
            answer = await self._call(
                f"DELETE order {order.client_id}",
                lambda: self.client.cancel_order(symbol=self.symbol, origClientOrderId=order.client_id),
            )
        except VenueError as exc:
            if exc.kind == "missing":
                return None
            raise
        return Report.from_binance(answer)

    async def open_orders(self) -> list[Report]:
        answer = await self._call("GET openOrders", lambda: self.client.get_open_orders(symbol=self.symbol))
        return [Report.from_binance(a) for a in answer]

    async def fees(self, order: Order) -> tuple[Decimal, Decimal]:
        """Commissions of the order's fills, (base, quote) (fills paid in another asset, BNB, count 0)."""
        if order.exchange_id is None:
            return Decimal(0), Decimal(0)
        trades = await self._call(
            f"GET myTrades {order.client_id}",
            lambda: self.client.get_my_trades(symbol=self.symbol, orderId=order.exchange_id),
        )
        assert self.filters is not None
        paid: dict[str, Decimal] = {}
        for t in trades:
            paid[t["commissionAsset"]] = paid.get(t["commissionAsset"], Decimal(0)) + Decimal(t["commission"])
        base = paid.get(self.filters.base_asset, Decimal(0))
        quote = paid.get(self.filters.quote_asset, Decimal(0))
        return base, quote

    async def balances(self) -> tuple[Decimal, Decimal]:
        """Free plus locked amounts of the base and quote assets."""
        answer = await self._call("GET account", self.client.get_account)
        assert self.filters is not None
        totals = {b["asset"]: Decimal(b["free"]) + Decimal(b["locked"]) for b in answer["balances"]}
        return totals.get(self.filters.base_asset, Decimal(0)), totals.get(
            self.filters.quote_asset, Decimal(0)
        )

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close_connection()


class SimulatedVenue:
    """A dry run: orders rest in memory and fill at their price from the next candles the service
    delivers (a buy when the low reaches it, a sell when the high does; the whole quantity), with
    ``fee`` charged in the asset received. Balances start at ``quote`` and no base."""

    mode = "simulated"

    def __init__(self, filters: SymbolFilters, quote: Decimal, fee: Decimal) -> None:
        self.filters = filters
        self.fee = fee
        self.base, self.quote = Decimal(0), quote
        self.orders: dict[str, tuple[Order, Report, int]] = {}  # client id -> (order, report, placed)
        self._last: int = -1
        self._next_id = 1

    async def prepare(self, day: str) -> SymbolFilters:
        return self.filters

    def restore(self, state: TradeState) -> None:
        """After a restart: the balances and open orders of the journal (the simulation's own truth)."""
        self.base, self.quote = state.base or Decimal(0), state.quote or Decimal(0)
        for order in state.open_orders():
            report = Report(client_id=order.client_id, status=OrderStatus.NEW, exchange_id=order.exchange_id,
                            executed=order.executed, quote=order.quote)  # fmt: skip
            self.orders[order.client_id] = (order, report, order.candle_ms)

    def observe(self, row: Mapping[str, Any]) -> None:
        timestamp = int(row["timestamp"])
        close = row["close"]
        # Exact decimals of the prices as printed (a float 66869.99 is not Decimal("66869.99")).
        low, high = (Decimal(repr(float(row.get(k) or close))) for k in ("low", "high"))
        for cid, (order, report, placed) in list(self.orders.items()):
            if report.status.final or timestamp <= placed:
                continue
            touched = low <= order.price if order.side == "BUY" else high >= order.price
            if touched:
                notional = order.price * order.qty
                if order.side == "BUY":
                    self.quote -= notional
                    self.base += order.qty * (1 - self.fee)
                else:
                    self.base -= order.qty
                    self.quote += notional * (1 - self.fee)
                done = report.model_copy(update={"status": OrderStatus.FILLED, "executed": order.qty,
                                                 "quote": notional})  # fmt: skip
                self.orders[cid] = (order, done, placed)
        self._last = timestamp

    async def place(self, order: Order) -> Report:
        if order.client_id in self.orders:
            raise VenueError("rejected", "Duplicate order sent.", -2010)
        report = Report(client_id=order.client_id, status=OrderStatus.NEW, exchange_id=self._next_id,
                        executed=Decimal(0), quote=Decimal(0))  # fmt: skip
        self._next_id += 1
        self.orders[order.client_id] = (order, report, order.candle_ms)
        return report

    async def get(self, order: Order) -> Report | None:
        found = self.orders.get(order.client_id)
        return None if found is None else found[1]

    async def cancel(self, order: Order) -> Report | None:
        found = self.orders.get(order.client_id)
        if found is None or found[1].status.final:
            return None
        done = found[1].model_copy(update={"status": OrderStatus.CANCELLED})
        self.orders[order.client_id] = (found[0], done, found[2])
        return done

    async def open_orders(self) -> list[Report]:
        return [r for _, r, _ in self.orders.values() if not r.status.final]

    async def fees(self, order: Order) -> tuple[Decimal, Decimal]:
        found = self.orders.get(order.client_id)
        if found is None:
            return Decimal(0), Decimal(0)
        report = found[1]
        return (
            (report.executed * self.fee, Decimal(0))
            if order.side == "BUY"
            else (Decimal(0), report.quote * self.fee)
        )

    async def balances(self) -> tuple[Decimal, Decimal]:
        return self.base, self.quote

    async def close(self) -> None:
        """Nothing to release."""


class TestOrderVenue(SimulatedVenue):
    """A dry run whose orders Binance checks first (``/api/v3/order/test``: signature, filters,
    balance of the request; nothing is placed); fills are simulated."""

    mode = "test-order"

    def __init__(self, exchange: BinanceVenue, quote: Decimal, fee: Decimal) -> None:
        super().__init__(SymbolFilters.default_for(exchange.symbol), quote, fee)
        self.exchange = exchange

    async def prepare(self, day: str) -> SymbolFilters:
        self.filters = await self.exchange.prepare(day)
        return self.filters

    async def place(self, order: Order) -> Report:
        await self.exchange.test_order(order)
        return await super().place(order)

    async def close(self) -> None:
        await self.exchange.close()
