"""The REST path: python-binance's client pointed at configurable hosts, and a gap-aware pager.

python-binance builds ``<API_URL>/v3/klines`` and ``<FUTURES_URL>/v1/klines`` from two attributes,
so setting ``API_URL = <host>/api`` and ``FUTURES_URL = <host>/fapi`` is all it takes to use a mirror
or a fake server. The client has no retries of its own; every call goes through
:func:`itb.download.retry.with_retries`, and its ``response`` attribute gives the weight headers.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from typing import Any

import polars as pl
import requests

from itb.config.models import DownloadConfig
from itb.download.endpoints import DEFAULT_WEIGHT_LIMIT, MAX_PAGE, Endpoints, Market, Series
from itb.download.errors import DownloadError
from itb.download.partitions import rows_to_frame
from itb.download.retry import RetryPolicy, Stats, Transient, WeightPacer, status_error, with_retries
from itb.timefmt import iso_ms

log = logging.getLogger("itb.download")

PageSink = Callable[[pl.DataFrame, int], None]
"""Receives each page's rows (already filtered) and the open time the pager has reached."""


def klines_weight(market: Market, limit: int) -> int:
    """Request weight of one klines call (spot: 2; futures: by ``limit``)."""
    if market == "spot":
        return 2
    return 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10


class RestClient:
    """Klines and server time of one market, with retries, Retry-After, bans and weight pacing."""

    def __init__(
        self,
        market: Market,
        endpoints: Endpoints,
        settings: DownloadConfig,
        sleep: Callable[[float], None],
        stats: Stats,
    ) -> None:
        with warnings.catch_warnings():  # python-binance imports deprecated websockets APIs
            warnings.simplefilter("ignore", DeprecationWarning)
            from binance.client import Client  # type: ignore[import-untyped]  # slow: only when used

        self.market = market
        self.client = Client(
            api_key=None, api_secret=None, ping=False, requests_params={"timeout": settings.timeout_s}
        )
        self.client.API_URL = f"{endpoints.api_url}/api"
        self.client.FUTURES_URL = f"{endpoints.fapi_url}/fapi"
        self.base = endpoints.api_url if market == "spot" else endpoints.fapi_url
        self.api_path = "api/v3" if market == "spot" else "fapi/v1"
        self.policy = RetryPolicy.from_config(settings)
        self.sleep, self.stats = sleep, stats
        self.page_limit = min(settings.page_limit or MAX_PAGE[market], MAX_PAGE[market])
        self.pacer = WeightPacer(settings.weight_limit or DEFAULT_WEIGHT_LIMIT[market], sleep, stats=stats)

    def close(self) -> None:
        self.client.session.close()

    def _call(self, what: str, weight: int, fn: Callable[[], Any]) -> Any:
        from binance.exceptions import (  # type: ignore[import-untyped]
            BinanceAPIException,
            BinanceRequestException,
        )

        what = f"GET {self.base}/{self.api_path}/{what}"

        def attempt() -> Any:
            self.pacer.before(weight)
            try:
                result = fn()
            except BinanceAPIException as exc:
                headers = exc.response.headers if exc.response is not None else {}
                self.pacer.observe(headers)
                detail = f"(code {exc.code}: {exc.message})" if exc.code else ""
                raise status_error(exc.status_code, headers, detail, what) from None
            except BinanceRequestException as exc:
                self._observe()
                raise Transient(f"{what}: unreadable answer ({str(exc.message)[:120]!r})") from None
            except requests.RequestException as exc:
                raise Transient(f"{what}: {type(exc).__name__}: {exc}") from None
            self._observe()
            return result

        return with_retries(attempt, what=what, policy=self.policy, sleep=self.sleep, stats=self.stats)

    def _observe(self) -> None:
        response = getattr(self.client, "response", None)
        if response is not None:
            self.pacer.observe(response.headers)

    def server_time(self) -> int:
        """The exchange's clock (ms): it decides which candle is still open, not the local clock."""
        fn = self.client.get_server_time if self.market == "spot" else self.client.futures_time
        answer = self._call("time", 1, fn)
        try:
            return int(answer["serverTime"])
        except (KeyError, TypeError, ValueError):
            raise DownloadError(f"{self.base}: unexpected server time answer {answer!r}") from None

    def klines(self, series: Series, start: int, end: int | None, limit: int) -> list[list[Any]]:
        """One klines call: candles opening in ``[start, end]`` (inclusive, as Binance defines it)."""
        params: dict[str, Any] = {
            "symbol": series.api_symbol,
            "interval": series.interval,
            "startTime": start,
            "limit": limit,
        }
        if end is not None:
            params["endTime"] = end
        fn = self.client.get_klines if self.market == "spot" else self.client.futures_klines
        what = f"klines ({series.api_symbol} {series.interval} from {iso_ms(start)})"

        def call() -> list[list[Any]]:
            rows = fn(**params)
            if not isinstance(rows, list):
                raise Transient(f"{what}: expected a list of klines, got {str(rows)[:120]!r}")
            return rows

        return self._call(what, klines_weight(self.market, limit), call)  # type: ignore[no-any-return]

    def first_open_time(self, series: Series, start: int) -> int | None:
        """Open time of the first candle at or after ``start`` (None: the exchange has none)."""
        rows = self.klines(series, start, None, 1)
        return int(rows[0][0]) if rows else None

    def fetch_range(self, series: Series, start: int, end: int, sink: PageSink) -> int:
        """Page through candles opening in ``[start, end)``; returns the number of pages.

        The next page starts after the last candle received, so an exchange gap is stepped over, not
        filled. An empty page before ``end`` is ambiguous (a gap reaching ``end``, or a bad answer):
        one probe without ``endTime`` tells them apart, and a bad page is asked again (bounded).
        Candles outside ``[start, end)`` and repeats are dropped or merged by the caller's store.
        """
        cursor, pages, bad = start, 0, 0
        iv = series.interval_ms
        while cursor < end:
            rows = self.klines(series, cursor, end - 1, self.page_limit)
            pages += 1
            frame = rows_to_frame(rows).filter((pl.col("timestamp") >= start) & (pl.col("timestamp") < end))
            ahead = frame.filter(pl.col("timestamp") >= cursor)
            if ahead.is_empty():
                nxt = self.first_open_time(series, cursor)
                if nxt is not None and nxt >= end:
                    break  # the exchange has no candle in [cursor, end): a real gap
                # No candle at all up to now (not even the open one) is rare (a delisted symbol) and
                # may be another bad answer: ask again, and only then accept it as the end.
                bad += 1
                if bad > self.policy.max_retries:
                    if nxt is None:
                        break
                    raise DownloadError(
                        f"GET {self.base}/{self.api_path}/klines ({series.api_symbol} {series.interval} "
                        f"from {iso_ms(cursor)}) "
                        f"kept coming back without new candles although the exchange has some from "
                        f"{iso_ms(nxt)}; gave up after {bad - 1} retries. Data stored so far is kept."
                    )
                delay = self.policy.delay(bad - 1)
                log.warning("page from %s had no new candles; asking again in %.2f s", iso_ms(cursor), delay)
                self.stats.retries += 1
                self.stats.waited_s += delay
                self.sleep(delay)
                continue
            bad = 0
            cursor = int(ahead["timestamp"].max()) + iv  # type: ignore[arg-type]
            sink(frame, cursor)
        return pages
