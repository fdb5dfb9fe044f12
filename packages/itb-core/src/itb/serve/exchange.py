"""The live service's exchange side: python-binance's async client on configurable hosts, every call
with a timeout, every failure turned into one :class:`ExchangeError` the loop can schedule around.

The base URLs come from :func:`itb.download.endpoints.resolve_endpoints` (``ITB_BINANCE_API_URL``
wins over the config, as for ``itb download``); HTTP answers are classified by the download's rules
(:func:`itb.download.retry.status_error`): 429 and 418 carry the server's Retry-After, 5xx, dropped
connections, timeouts and unreadable answers are transient. Nothing here sleeps or retries: the loop
decides when to ask again, so a failure never blocks a tick. The used request weight
(``X-MBX-USED-WEIGHT-1M``) is tracked per market and shared by every symbol of the process; a call
that would pass the headroom is refused until the next minute instead of sent.
"""

from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp
import polars as pl

from itb.download.endpoints import DEFAULT_WEIGHT_LIMIT, MAX_PAGE, Endpoints, Market
from itb.download.errors import IpBanned
from itb.download.partitions import rows_to_frame
from itb.download.rest import klines_weight
from itb.download.retry import (
    WEIGHT_HEADROOM,
    RetryAfter,
    Transient,
    WeightPacer,
    retry_after_seconds,
    status_error,
)
from itb.errors import DataError

ErrorKind = Literal["rate_limited", "banned", "server", "timeout", "connection", "bad_answer", "refused"]


class ExchangeError(Exception):
    """A failed exchange call: ``kind`` for the metrics and logs, ``retry_after`` (s) when the
    exchange said how long to wait (429, 418, the weight limit)."""

    def __init__(self, kind: ErrorKind, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.retry_after = retry_after


@dataclass(frozen=True)
class Kline:
    """Which series to ask for: the exchange symbol and interval of one data source."""

    market: Market
    symbol: str
    interval: str
    interval_ms: int


class ExchangeFeed:
    """One market's REST endpoints through ``binance.AsyncClient`` (created inside the event loop)."""

    def __init__(
        self, market: Market, endpoints: Endpoints, timeout_s: float, weight_limit: int | None
    ) -> None:
        with warnings.catch_warnings():  # python-binance imports deprecated websockets APIs
            warnings.simplefilter("ignore", DeprecationWarning)
            from binance import AsyncClient  # type: ignore[import-untyped]  # slow: only when used

        self.market = market
        self.client = AsyncClient(api_key=None, api_secret=None)
        self.client.API_URL = f"{endpoints.api_url}/api"
        self.client.FUTURES_URL = f"{endpoints.fapi_url}/fapi"
        self.base = endpoints.api_url if market == "spot" else endpoints.fapi_url
        self.timeout_s = timeout_s
        self.page_limit = MAX_PAGE[market]
        self.pacer = WeightPacer(weight_limit or DEFAULT_WEIGHT_LIMIT[market], sleep=lambda _: None)

    async def close(self) -> None:
        await self.client.close_connection()

    async def _call(self, what: str, weight: int, call: Callable[[], Awaitable[Any]]) -> Any:
        from binance.exceptions import (  # type: ignore[import-untyped]
            BinanceAPIException,
            BinanceRequestException,
        )

        what = f"GET {self.base} {what}"
        if self.pacer.used + weight > self.pacer.limit * WEIGHT_HEADROOM:
            wait = 60.0 - (time.time() % 60.0) + 0.5
            self.pacer.used = 0  # the next minute starts afresh
            raise ExchangeError(
                "rate_limited", f"{what}: used weight near the limit {self.pacer.limit}; pausing", wait
            )
        try:
            result = await asyncio.wait_for(call(), self.timeout_s)
        except BinanceAPIException as exc:
            headers = exc.response.headers if exc.response is not None else {}
            self.pacer.observe(headers)
            detail = f"(code {exc.code}: {exc.message})" if exc.code else ""
            error = status_error(exc.status_code, headers, detail, what)
            if isinstance(error, IpBanned):
                raise ExchangeError("banned", str(error), retry_after_seconds(headers or {}, 60.0)) from None
            if isinstance(error, RetryAfter):
                raise ExchangeError("rate_limited", str(error), error.seconds) from None
            if isinstance(error, Transient):
                raise ExchangeError("server", str(error)) from None
            raise ExchangeError("refused", str(error)) from None
        except BinanceRequestException as exc:
            raise ExchangeError(
                "bad_answer", f"{what}: unreadable answer ({str(exc.message)[:120]!r})"
            ) from None
        except TimeoutError:
            raise ExchangeError("timeout", f"{what}: no answer within {self.timeout_s:g} s") from None
        except (aiohttp.ClientError, ValueError) as exc:
            raise ExchangeError("connection", f"{what}: {type(exc).__name__}: {exc}") from None
        response = getattr(self.client, "response", None)
        if response is not None:
            self.pacer.observe(response.headers)
        return result

    async def server_time(self) -> int:
        """The exchange's clock (ms): it decides which candle is closed, not the local clock."""
        fn = self.client.get_server_time if self.market == "spot" else self.client.futures_time
        answer = await self._call("time", 1, fn)
        try:
            return int(answer["serverTime"])
        except (KeyError, TypeError, ValueError):
            raise ExchangeError("bad_answer", f"{self.base}: unexpected server time {answer!r}") from None

    async def closed_klines(self, series: Kline, start: int, last_open: int) -> pl.DataFrame:
        """Candles opening in ``[start, last_open]`` (all closed: the caller picks ``last_open`` from
        the server time), paged; never the forming candle."""
        fn = self.client.get_klines if self.market == "spot" else self.client.futures_klines
        frames, cursor = [], start
        while cursor <= last_open:
            params = {"symbol": series.symbol, "interval": series.interval, "startTime": cursor,
                      "endTime": last_open, "limit": self.page_limit}  # fmt: skip

            async def call(params: dict[str, Any] = params) -> Any:
                return await fn(**params)

            rows = await self._call(
                f"klines {series.symbol} {series.interval}", klines_weight(self.market, self.page_limit), call
            )
            if not isinstance(rows, list):
                raise ExchangeError(
                    "bad_answer", f"{self.base}: expected a list of klines, got {str(rows)[:120]!r}"
                )
            try:
                frame = rows_to_frame(rows)
            except DataError as exc:  # unreadable rows: a bad answer, asked again on the next tick
                raise ExchangeError("bad_answer", f"{self.base}: {exc}") from None
            frame = frame.filter((pl.col("timestamp") >= cursor) & (pl.col("timestamp") <= last_open))
            if frame.is_empty():
                break
            frames.append(frame)
            cursor = int(frame["timestamp"][-1]) + series.interval_ms
            if len(rows) < self.page_limit:
                break
        if not frames:
            return rows_to_frame([])
        return pl.concat(frames).unique("timestamp", keep="first", maintain_order=True)
