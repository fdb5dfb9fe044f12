"""The signed spot endpoints of the fake Binance: an order book for one API key that fills limit
orders from the recorded klines as the fake's clock advances.

Plugged into :class:`tests.fakes.binance_server.FakeBinance` through its ``spot`` attribute; the real
python-binance ``AsyncClient`` talks to it unmodified. What the exchange checks is checked here too:

- ``X-MBX-APIKEY`` (``-2014``/``-2015``) and the HMAC-SHA256 ``signature`` over the query string
  followed by the body, as sent (``-1022``); ``timestamp`` within ``recvWindow`` of the server's now
  and not more than 1 s ahead of it (``-1021``);
- the symbol's filters: ``PRICE_FILTER`` tick size and range, ``LOT_SIZE`` step and range,
  ``NOTIONAL`` minimum (``-1013``); the free balance of the asset an order locks (``-2010``
  "Account has insufficient balance for requested action."); a ``newClientOrderId`` already used by
  an order of the symbol (``-2010`` "Duplicate order sent."); unknown orders (``-2013``, ``-2011``).

Fills (:meth:`SpotBook.advance`, run before every answer): each open limit order is matched against
every candle that closed after the order was placed and by "now" (each candle once per order; the
candle the order was placed in counts whole): a buy fills when the candle's low reaches its price,
a sell when the high does, at the order's price, for at most ``participation`` times the candle's
volume (a small participation makes partial fills). The commission (``commission`` of the traded
amount) is charged in the asset received, as Binance does without BNB.

Faults (:meth:`SpotBook.add_fault`), for the next matching requests: ``timeout_after_accept`` (the
order is placed, then the connection hangs for ``delay`` s before the answer), ``500``, ``-2010``,
``-1021``, ``418`` (with Retry-After) and ``fill_first`` (the order fills completely just before the
request is handled: a cancel that loses the race).
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
import polars as pl

SIGNED_PATHS = ("/api/v3/order", "/api/v3/order/test", "/api/v3/openOrders", "/api/v3/myTrades",
                "/api/v3/account", "/api/v3/allOrders")  # fmt: skip
#: Paths this module answers (signed or not) when plugged in.
PATHS = (*SIGNED_PATHS, "/api/v3/exchangeInfo")

#: Filters of BTCUSDT as Binance publishes them (2024).
BTCUSDT_FILTERS: dict[str, str] = {
    "tickSize": "0.01", "minPrice": "0.01", "maxPrice": "1000000.00",
    "stepSize": "0.00001", "minQty": "0.00001", "maxQty": "9000.00000", "minNotional": "5.00",
}  # fmt: skip


@dataclass
class SpotFault:
    kind: str
    path: str = "/api/v3/order"
    method: str = "POST"
    times: int = 1
    delay: float = 0.0
    hits: int = 0


@dataclass
class SpotOrder:
    order_id: int
    client_id: str
    symbol: str
    side: str
    price: Decimal
    qty: Decimal
    placed_ms: int
    status: str = "NEW"
    executed: Decimal = Decimal(0)
    quote: Decimal = Decimal(0)
    #: Open time of the last candle matched against this order.
    matched_until: int = -1
    update_ms: int = 0

    def report(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol, "orderId": self.order_id, "orderListId": -1,
            "clientOrderId": self.client_id, "price": f"{self.price:f}", "origQty": f"{self.qty:f}",
            "executedQty": f"{self.executed:f}", "cummulativeQuoteQty": f"{self.quote:f}",
            "status": self.status, "timeInForce": "GTC", "type": "LIMIT", "side": self.side,
            "time": self.placed_ms, "updateTime": self.update_ms, "isWorking": True,
            "workingTime": self.placed_ms, "transactTime": self.update_ms,
        }  # fmt: skip


class ApiError(Exception):
    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg


@dataclass
class SpotBook:
    """One account's balances and orders on the fake exchange (``klines``: 1m frames by symbol)."""

    klines: dict[str, pl.DataFrame]
    balances: dict[str, Decimal]
    api_key: str = "fake-key"
    api_secret: str = "fake-secret"
    participation: float = 1.0
    commission: Decimal = Decimal("0.001")
    filters: dict[str, str] = field(default_factory=lambda: dict(BTCUSDT_FILTERS))
    orders: dict[int, SpotOrder] = field(default_factory=dict)
    trades: list[dict[str, Any]] = field(default_factory=list)
    #: (method, path) of every signed request that passed the checks.
    calls: list[tuple[str, str]] = field(default_factory=list)
    faults: list[SpotFault] = field(default_factory=list)
    _locked: dict[str, Decimal] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _next_id: int = 1000

    # --- control -------------------------------------------------------------------------------
    def add_fault(self, kind: str, **options: Any) -> SpotFault:
        fault = SpotFault(kind, **options)
        with self._lock:
            self.faults.append(fault)
        return fault

    def placed(self) -> list[SpotOrder]:
        """Every order the book accepted (test orders are never here)."""
        with self._lock:
            return list(self.orders.values())

    def take_fault(self, method: str, path: str) -> SpotFault | None:
        with self._lock:
            for fault in self.faults:
                if fault.hits < fault.times and fault.method == method and path == fault.path:
                    fault.hits += 1
                    return fault
        return None

    # --- requests ------------------------------------------------------------------------------
    def handle(
        self, method: str, path: str, query: str, body: str, headers: dict[str, str], now: int
    ) -> tuple[int, Any, float]:
        """(status, JSON body, seconds to hang before answering) of one request."""
        fault = self.take_fault(method, path)
        try:
            if fault is not None and fault.kind in ("500", "418", "-1021", "-2010"):
                _raise_fault(fault.kind)
            if path == "/api/v3/exchangeInfo":
                return 200, self.exchange_info(now), 0.0
            params = self.check_signed(query, body, headers, now)
            with self._lock:
                self.advance(now)
                if fault is not None and fault.kind == "fill_first":  # the race: filled as it is cancelled
                    order = self._find(params, -2013, "Order does not exist.")
                    self._fill(order, order.qty, now)
                self.calls.append((method, path))
                answer = self._route(method, path, params, now)
        except ApiError as exc:
            return exc.status, {"code": exc.code, "msg": exc.msg}, 0.0
        hang = fault.delay if fault is not None and fault.kind == "timeout_after_accept" else 0.0
        return 200, answer, hang

    def check_signed(self, query: str, body: str, headers: dict[str, str], now: int) -> dict[str, str]:
        key = headers.get("x-mbx-apikey")
        if not key:
            raise ApiError(401, -2014, "API-key format invalid.")
        if key != self.api_key:
            raise ApiError(401, -2015, "Invalid API-key, IP, or permissions for action.")
        total = "&".join(p for p in (query, body) if p)
        payload, _, signature = total.rpartition("&signature=")
        expected = hmac.new(self.api_secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not signature or not hmac.compare_digest(signature, expected):
            raise ApiError(400, -1022, "Signature for this request is not valid.")
        params = dict(p.split("=", 1) for p in payload.split("&") if "=" in p)
        try:
            timestamp = int(params["timestamp"])
            window = int(params.get("recvWindow", "5000"))
        except (KeyError, ValueError):
            raise ApiError(400, -1102, "Mandatory parameter 'timestamp' was not sent.") from None
        if timestamp > now + 1000 or now - timestamp > window:
            raise ApiError(400, -1021, "Timestamp for this request is outside of the recvWindow.")
        return params

    def _route(self, method: str, path: str, p: dict[str, str], now: int) -> Any:
        if path == "/api/v3/order/test" and method == "POST":
            self._validate(p)
            return {}
        if path == "/api/v3/order" and method == "POST":
            return self._place(p, now).report()
        if path == "/api/v3/order" and method == "GET":
            return self._find(p, -2013, "Order does not exist.").report()
        if path == "/api/v3/order" and method == "DELETE":
            return self._cancel(p, now).report()
        if path == "/api/v3/openOrders":
            symbol = p.get("symbol")
            return [o.report() for o in self.orders.values()
                    if o.status in ("NEW", "PARTIALLY_FILLED") and symbol in (None, o.symbol)]  # fmt: skip
        if path == "/api/v3/allOrders":
            return [o.report() for o in self.orders.values() if o.symbol == p.get("symbol")]
        if path == "/api/v3/myTrades":
            trades = [t for t in self.trades if t["symbol"] == p.get("symbol")]
            if "orderId" in p:
                trades = [t for t in trades if t["orderId"] == int(p["orderId"])]
            if "fromId" in p:
                trades = [t for t in trades if t["id"] >= int(p["fromId"])]
            return trades
        if path == "/api/v3/account":
            assets = sorted(set(self.balances) | set(self._locked))
            return {"balances": [{"asset": a, "free": f"{self._free(a):f}",
                                  "locked": f"{self._locked.get(a, Decimal(0)):f}"} for a in assets],
                    "canTrade": True, "updateTime": now}  # fmt: skip
        raise ApiError(404, -1, "not found")

    # --- orders --------------------------------------------------------------------------------
    def _free(self, asset: str) -> Decimal:
        return self.balances.get(asset, Decimal(0)) - self._locked.get(asset, Decimal(0))

    def _validate(self, p: dict[str, str]) -> tuple[str, str, Decimal, Decimal]:
        symbol, side = p.get("symbol", ""), p.get("side", "")
        if symbol not in self.klines:
            raise ApiError(400, -1121, "Invalid symbol.")
        if side not in ("BUY", "SELL") or p.get("type") != "LIMIT":
            raise ApiError(400, -1116, "Invalid orderType.")
        try:
            price, qty = Decimal(p["price"]), Decimal(p["quantity"])
        except (KeyError, ArithmeticError):
            raise ApiError(400, -1102, "Mandatory parameter 'price' or 'quantity' was not sent.") from None
        f = {k: Decimal(v) for k, v in self.filters.items()}
        if not f["minPrice"] <= price <= f["maxPrice"] or price % f["tickSize"]:
            raise ApiError(400, -1013, "Filter failure: PRICE_FILTER")
        if not f["minQty"] <= qty <= f["maxQty"] or qty % f["stepSize"]:
            raise ApiError(400, -1013, "Filter failure: LOT_SIZE")
        if price * qty < f["minNotional"]:
            raise ApiError(400, -1013, "Filter failure: NOTIONAL")
        base, quote = symbol[:-4], symbol[-4:]
        asset, need = (quote, price * qty) if side == "BUY" else (base, qty)
        if self._free(asset) < need:
            raise ApiError(400, -2010, "Account has insufficient balance for requested action.")
        return symbol, side, price, qty

    def _place(self, p: dict[str, str], now: int) -> SpotOrder:
        symbol, side, price, qty = self._validate(p)
        client_id = p.get("newClientOrderId") or f"fake-{self._next_id}"
        if any(o.client_id == client_id and o.symbol == symbol for o in self.orders.values()):
            raise ApiError(400, -2010, "Duplicate order sent.")
        order = SpotOrder(self._next_id, client_id, symbol, side, price, qty, now, update_ms=now)
        self._next_id += 1
        self.orders[order.order_id] = order
        asset, amount = (symbol[-4:], price * qty) if side == "BUY" else (symbol[:-4], qty)
        self._locked[asset] = self._locked.get(asset, Decimal(0)) + amount
        return order

    def _find(self, p: dict[str, str], code: int, msg: str) -> SpotOrder:
        for order in self.orders.values():
            if order.symbol == p.get("symbol") and (
                str(order.order_id) == p.get("orderId") or order.client_id == p.get("origClientOrderId")
            ):
                return order
        raise ApiError(400, code, msg)

    def _cancel(self, p: dict[str, str], now: int) -> SpotOrder:
        order = self._find(p, -2011, "Unknown order sent.")
        if order.status not in ("NEW", "PARTIALLY_FILLED"):
            raise ApiError(400, -2011, "Unknown order sent.")
        order.status, order.update_ms = "CANCELED", now
        self._unlock(order, order.qty - order.executed)
        return order

    def _unlock(self, order: SpotOrder, qty: Decimal) -> None:
        buy = order.side == "BUY"
        asset, amount = (order.symbol[-4:], order.price * qty) if buy else (order.symbol[:-4], qty)
        self._locked[asset] -= amount

    def advance(self, now: int) -> None:
        """Match every open order against the candles closed since it was placed (lock held)."""
        for order in self.orders.values():
            if order.status not in ("NEW", "PARTIALLY_FILLED"):
                continue
            frame = self.klines[order.symbol]
            ts = frame["timestamp"].to_numpy()
            first = max(order.placed_ms - 60_000 + 1, order.matched_until + 1)  # closing after placement
            lo = int(np.searchsorted(ts, first, side="left"))
            hi = int(np.searchsorted(ts, now - 60_000, side="right"))  # closed by now
            if hi <= lo:
                continue
            window = frame.slice(lo, hi - lo)
            touch = window["low"] if order.side == "BUY" else window["high"]
            hit = (touch <= float(order.price)) if order.side == "BUY" else (touch >= float(order.price))
            for ts_, volume in window.filter(hit).select("timestamp", "volume").iter_rows():
                share = Decimal(repr(float(volume))) * Decimal(repr(self.participation))
                self._fill(order, share, ts_ + 60_000)
                if order.status == "FILLED":
                    break
            order.matched_until = int(window["timestamp"][-1])

    def _fill(self, order: SpotOrder, available: Decimal, when: int) -> None:
        step = Decimal(self.filters["stepSize"])
        qty = min(order.qty - order.executed, (available // step) * step)
        if qty <= 0:
            return
        base, quote = order.symbol[:-4], order.symbol[-4:]
        amount = qty * order.price
        self._unlock(order, qty)
        got, got_amount, paid, paid_amount = (
            (base, qty, quote, amount) if order.side == "BUY" else (quote, amount, base, qty)
        )
        fee = got_amount * self.commission
        self.balances[paid] = self.balances.get(paid, Decimal(0)) - paid_amount
        self.balances[got] = self.balances.get(got, Decimal(0)) + got_amount - fee
        order.executed += qty
        order.quote += amount
        order.status = "FILLED" if order.executed == order.qty else "PARTIALLY_FILLED"
        order.update_ms = when
        self.trades.append({
            "symbol": order.symbol, "id": len(self.trades) + 1, "orderId": order.order_id, "orderListId": -1,
            "price": f"{order.price:f}", "qty": f"{qty:f}", "quoteQty": f"{amount:f}",
            "commission": f"{fee:f}", "commissionAsset": got, "time": when,
            "isBuyer": order.side == "BUY", "isMaker": True, "isBestMatch": True,
        })  # fmt: skip

    def exchange_info(self, now: int) -> dict[str, Any]:
        f = self.filters
        filters = [
            {"filterType": "PRICE_FILTER", "minPrice": f["minPrice"], "maxPrice": f["maxPrice"],
             "tickSize": f["tickSize"]},
            {"filterType": "LOT_SIZE", "minQty": f["minQty"], "maxQty": f["maxQty"],
             "stepSize": f["stepSize"]},
            {"filterType": "NOTIONAL", "minNotional": f["minNotional"], "applyMinToMarket": True,
             "maxNotional": "9000000.00", "applyMaxToMarket": False, "avgPriceMins": 5},
        ]  # fmt: skip
        symbols = [{"symbol": s, "status": "TRADING", "baseAsset": s[:-4], "quoteAsset": s[-4:],
                    "baseAssetPrecision": 8, "quoteAssetPrecision": 8, "orderTypes": ["LIMIT", "MARKET"],
                    "filters": filters} for s in self.klines]  # fmt: skip
        limits = [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000}]
        return {"timezone": "UTC", "serverTime": now, "rateLimits": limits, "symbols": symbols}


def _raise_fault(kind: str) -> None:
    if kind == "500":
        raise ApiError(500, -1001, "Internal error; unable to process your request.")
    if kind == "418":
        raise ApiError(418, -1003, "Way too many requests; IP banned.")
    if kind == "-1021":
        raise ApiError(400, -1021, "Timestamp for this request is outside of the recvWindow.")
    raise ApiError(400, -2010, "Account has insufficient balance for requested action.")


def hang(seconds: float) -> None:
    """Hold the connection (the client's timeout fires first)."""
    time.sleep(seconds)
