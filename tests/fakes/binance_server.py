"""A fake Binance on 127.0.0.1: REST klines (spot and USD-M futures), ping, time, exchange info and
the public kline archives, all served from real klines (``../shared/data``), with switchable faults.

Binance semantics that matter to a downloader are kept: ``startTime``/``endTime`` (inclusive) and
``limit`` (default 500, at most 1000 spot / 1500 futures); only candles opening at or before the
server's "now" exist, and the one containing "now" is served still open (its values differ from the
final candle, so storing it shows up as a mismatch); ``X-MBX-USED-WEIGHT-1M`` on every answer; and
archives only for whole periods already over. "now" is settable, so history can be made "recent";
:meth:`FakeBinance.run_clock` makes it run (live mode: recorded klines served relative to a clock
that starts at a chosen time and may run faster than real time, the forming candle included).

Faults (:meth:`FakeBinance.add_fault`) apply to the next matching requests: ``429`` (Retry-After),
``418`` (ban with Retry-After), ``500``, ``drop`` (connection closed without an answer),
``truncated`` (a 200 whose JSON is cut), ``404``, ``empty`` (a 200 with ``[]``), ``repeat`` (a page that
repeats its rows and rows before ``startTime``), ``slow`` (a delay, then the normal answer) and
``bad_checksum`` (an archive whose .CHECKSUM does not match). A late candle is a setting, not a
fault of one request: with :attr:`FakeBinance.late_ms` set, a candle that closed less than that long
ago is not published yet (klines answers end at the candle before it; the forming one is still
served), as when the exchange's kline store lags its clock.
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
import time
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import numpy as np
import polars as pl

from tests.fakes.binance_spot import PATHS as SPOT_PATHS

COLUMNS = ["timestamp", "open", "high", "low", "close", "volume", "close_time", "quote_av", "trades",
           "tb_base_av", "tb_quote_av"]  # fmt: skip
MAX_LIMIT = {"spot": 1000, "futures-um": 1500}
INTERVAL_MS = {"1m": 60_000}
MARKET_OF_PREFIX = {"/api/v3/": "spot", "/fapi/v1/": "futures-um"}
ARCHIVE_MARKET = {"spot": "spot", "futures/um": "futures-um"}
#: Spot archives switched to microsecond timestamps in 2025 (as the real ones did).
MICROSECONDS_FROM = int(datetime(2025, 1, 1, tzinfo=UTC).timestamp() * 1000)


def ms(text: str) -> int:
    """Epoch ms of an ISO time (``2023-03-24T12:40``), UTC."""
    value = datetime.fromisoformat(text)
    return int((value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp() * 1000)


def load_klines(path: Path, start: str, end: str) -> pl.DataFrame:
    """Rows of a shared kline file with open time in ``[start, end)``."""
    return (
        pl.scan_parquet(path)
        .filter((pl.col("timestamp") >= ms(start)) & (pl.col("timestamp") < ms(end)))
        .collect()
        .sort("timestamp")
    )


@dataclass
class Fault:
    kind: str
    path: str = "klines"
    times: int | None = 1  # None: every matching request
    skip: int = 0
    retry_after: float = 1.0
    delay: float = 0.0
    hits: int = 0


@dataclass
class Series:
    ts: np.ndarray[Any, Any]
    rows: list[list[Any]]  # Binance REST rows (numbers as strings, as the real API sends them)
    frame: pl.DataFrame


#: Formatted rows by frame: tests share a few session-wide frames, formatting them once is enough.
_SERIES_CACHE: dict[int, Series] = {}


def _fmt(value: float) -> str:
    return repr(float(value))  # shortest text that parses back to the very same float


def _rest_rows(frame: pl.DataFrame) -> list[list[Any]]:
    """Rows as the REST API sends them: times and trade counts as numbers, the rest as text."""
    floats = ["open", "high", "low", "close", "volume", "quote_av", "tb_base_av", "tb_quote_av"]
    text = frame.select(
        pl.col("timestamp", "close_time", "trades"), *(pl.col(c).cast(pl.String) for c in floats)
    )
    out = []
    for ts, close_time, trades, o, h, lo, c, v, qav, tbb, tbq in text.iter_rows():
        out.append([ts, o, h, lo, c, v, close_time, qav, trades, tbb, tbq, "0"])
    return out


@dataclass
class FakeBinance:
    """The data behind the fake: ``{(market, SYMBOL): klines frame}`` (1m), and the server's now."""

    data: dict[tuple[str, str], pl.DataFrame]
    now_ms: int
    weight_floor: int = 0
    faults: list[Fault] = field(default_factory=list)
    log: list[tuple[str, int]] = field(default_factory=list)
    #: Monotonic time of each :attr:`log` entry (when the request arrived).
    log_times: list[float] = field(default_factory=list)
    #: Late candles: a candle is served only this long (exchange ms) after its close.
    late_ms: int = 0
    _series: dict[tuple[str, str], Series] = field(default_factory=dict)
    _archives: dict[str, bytes] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _weight: tuple[int, int] = (0, 0)  # (minute, used)
    _server: ThreadingHTTPServer | None = None
    #: Live mode (:meth:`run_clock`): (real start, exchange ms at that start, speed).
    _clock: tuple[float, int, float] | None = None
    #: The signed spot endpoints (:class:`tests.fakes.binance_spot.SpotBook`), when plugged in.
    spot: Any = None

    # --- control -------------------------------------------------------------------------------
    def start(self) -> FakeBinance:
        for key, frame in self.data.items():
            cached = _SERIES_CACHE.get(id(frame))
            if cached is None or cached.frame is not frame:
                cached = _SERIES_CACHE[id(frame)] = Series(
                    frame["timestamp"].to_numpy(), _rest_rows(frame), frame
                )
            self._series[key] = cached
        fake = self

        class Handler(_Handler):
            binance = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def env(self) -> dict[str, str]:
        """The variables that point itb at this server."""
        return {
            "ITB_BINANCE_API_URL": self.url,
            "ITB_BINANCE_FAPI_URL": self.url,
            "ITB_BINANCE_DATA_URL": self.url,
        }

    def run_clock(self, origin_ms: int, speed: float = 1.0) -> None:
        """Live mode: from now on "now" is ``origin_ms`` plus the real time elapsed times ``speed``
        (speed 60 closes a 1m candle every real second), so a service sees candles close as they
        would live, the forming one served still open."""
        with self._lock:
            self._clock = (time.monotonic(), origin_ms, speed)

    def now(self) -> int:
        """The server's "now" (ms): ``now_ms``, or the running clock's time in live mode."""
        clock = self._clock
        if clock is None:
            return self.now_ms
        started, origin, speed = clock
        return origin + int((time.monotonic() - started) * speed * 1000)

    def add_fault(self, kind: str, **options: Any) -> Fault:
        fault = Fault(kind, **options)
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()
            self.log.clear()
            self.log_times.clear()

    def requests(self, contains: str = "") -> list[tuple[str, int]]:
        with self._lock:
            return [entry for entry in self.log if contains in entry[0]]

    def expected(self, market: str, symbol: str, start: int, end: int) -> pl.DataFrame:
        """What a downloader must store for ``[start, end)``: the closed candles of the source."""
        frame = self.data[(market, symbol)]
        return frame.filter(
            (pl.col("timestamp") >= start)
            & (pl.col("timestamp") < end)
            & (pl.col("timestamp") + 60_000 <= self.now())
        )

    # --- behaviour -----------------------------------------------------------------------------
    def take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.path not in path or (
                    fault.times is not None and fault.hits >= fault.times + fault.skip
                ):
                    continue
                fault.hits += 1
                if fault.hits <= fault.skip:
                    continue
                return fault
        return None

    def used_weight(self, weight: int) -> int:
        minute = int(time.time() // 60)
        with self._lock:
            last, used = self._weight
            used = (used if last == minute else 0) + weight
            self._weight = (minute, used)
        return max(used, self.weight_floor)

    def klines(self, market: str, query: dict[str, str]) -> tuple[int, Any]:
        symbol = query.get("symbol", "")
        series = self._series.get((market, symbol))
        if series is None:
            return 400, {"code": -1121, "msg": "Invalid symbol."}
        interval = query.get("interval", "")
        if interval not in INTERVAL_MS:
            return 400, {"code": -1120, "msg": "Invalid interval."}
        iv = INTERVAL_MS[interval]
        try:
            limit = int(query.get("limit", "500"))
            start = int(query["startTime"]) if "startTime" in query else None
            end = int(query["endTime"]) if "endTime" in query else None
        except ValueError:
            return 400, {"code": -1100, "msg": "Illegal characters found in a parameter."}
        if not 1 <= limit <= MAX_LIMIT[market]:
            return 400, {"code": -1130, "msg": "Data sent for parameter 'limit' is not valid."}
        now = self.now()
        ts = series.ts
        last_open = int(np.searchsorted(ts, now, side="right"))  # rows opening at or before now
        lo = int(np.searchsorted(ts, start, side="left")) if start is not None else 0
        hi = min(last_open, int(np.searchsorted(ts, end, side="right"))) if end is not None else last_open
        if start is None:
            lo = max(lo, hi - limit)
        hi = min(hi, lo + limit)
        rows = [list(r) for r in series.rows[lo:hi]] if hi > lo else []
        if self.late_ms:  # closed, but not published yet: left out (the forming one stays)
            rows = [r for r in rows if not r[0] + iv <= now < r[0] + iv + self.late_ms]
        if rows and rows[-1][0] + iv > now:  # still open: not the final values
            open_price = rows[-1][1]
            rows[-1][2:6] = [open_price, open_price, open_price, _fmt(float(rows[-1][5]) / 3)]
            rows[-1][8] = max(0, int(rows[-1][8]) // 3)
        return 200, rows

    def repeated(self, market: str, query: dict[str, str]) -> tuple[int, Any]:
        status, rows = self.klines(market, query)
        if status != 200 or not rows:
            return status, rows
        before = dict(query, startTime=str(int(query.get("startTime", "0")) - 10 * 60_000), limit="10")
        before.pop("endTime", None)
        _, earlier = self.klines(market, before)
        earlier = [r for r in earlier if r[0] < rows[0][0]]
        return 200, earlier + rows[: len(rows) // 2] + rows[: len(rows) // 3] + rows[len(rows) // 2 :]

    def archive(self, path: str) -> bytes | None:
        """``/data/<market>/<monthly|daily>/klines/SYM/1m/SYM-1m-<stamp>.zip`` (or ``.CHECKSUM``)."""
        checksum = path.endswith(".CHECKSUM")
        zip_path = path.removesuffix(".CHECKSUM")
        if zip_path not in self._archives:
            built = self._build_archive(zip_path)
            if built is None:
                return None
            self._archives[zip_path] = built
        data = self._archives[zip_path]
        if checksum:
            return f"{hashlib.sha256(data).hexdigest()}  {zip_path.rsplit('/', 1)[1]}\n".encode()
        return data

    def _build_archive(self, path: str) -> bytes | None:
        parts = path.split("/")
        try:
            i = parts.index("klines")
        except ValueError:
            return None
        market = ARCHIVE_MARKET.get("/".join(parts[2 : i - 1]))
        period, symbol, interval, name = parts[i - 1], parts[i + 1], parts[i + 2], parts[-1]
        if market is None or interval not in INTERVAL_MS or (market, symbol) not in self._series:
            return None
        stamp = name.removeprefix(f"{symbol}-{interval}-").removesuffix(".zip")
        try:
            if period == "monthly":
                first = datetime.strptime(stamp, "%Y-%m").replace(tzinfo=UTC)
                after = first.replace(year=first.year + first.month // 12, month=first.month % 12 + 1)
            elif period == "daily":
                first = datetime.strptime(stamp, "%Y-%m-%d").replace(tzinfo=UTC)
                after = datetime.fromtimestamp(first.timestamp() + 86400, tz=UTC)
            else:
                return None
        except ValueError:
            return None
        lo, hi = int(first.timestamp() * 1000), int(after.timestamp() * 1000)
        if hi > self.now():  # not published before the period is over
            return None
        frame = self._series[(market, symbol)].frame.filter(
            (pl.col("timestamp") >= lo) & (pl.col("timestamp") < hi)
        )
        if frame.is_empty():
            return None
        lines = []
        if market == "futures-um":  # the real futures archives carry a header line
            lines.append("open_time,open,high,low,close,volume,close_time,quote_volume,count,"
                         "taker_buy_volume,taker_buy_quote_volume,ignore")  # fmt: skip
        scale = 1000 if market == "spot" and lo >= MICROSECONDS_FROM else 1
        for row in _rest_rows(frame):
            row[0] = int(row[0]) * scale
            row[6] = int(row[6]) * scale + (999 if scale > 1 else 0)
            lines.append(",".join(str(v) for v in row))
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(name.removesuffix(".zip") + ".csv", "\n".join(lines) + "\n")
        return buffer.getvalue()


class _Handler(BaseHTTPRequestHandler):
    binance: FakeBinance
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        fake = self.binance
        parsed = urlparse(self.path)
        path = parsed.path
        if fake.spot is not None and path in SPOT_PATHS:
            self._spot("GET", parsed.query, "")
            return
        query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        arrived = time.monotonic()
        fault = fake.take_fault(path)
        status = self._answer(fake, path, query, fault)
        with fake._lock:
            fake.log.append((self.path, status))
            fake.log_times.append(arrived)

    def do_POST(self) -> None:
        self._spot("POST", urlparse(self.path).query, self._body())

    def do_DELETE(self) -> None:
        self._spot("DELETE", urlparse(self.path).query, self._body())

    def _body(self) -> str:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length).decode() if length else ""

    def _spot(self, method: str, query: str, body: str) -> None:
        """The signed spot endpoints, answered by :mod:`tests.fakes.binance_spot`."""
        fake = self.binance
        path = urlparse(self.path).path
        if fake.spot is None or path not in SPOT_PATHS:
            self._send(404, b'{"code": -1, "msg": "not found"}')
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, answer, hang = fake.spot.handle(method, path, query, body, headers, fake.now())
        if hang:
            time.sleep(hang)
        extra = {"Retry-After": "2"} if status == 418 else {}
        self._send(status, json.dumps(answer).encode(), {"Content-Type": "application/json", **extra})
        with fake._lock:
            fake.log.append((f"{method} {self.path}", status))

    def _answer(self, fake: FakeBinance, path: str, query: dict[str, str], fault: Fault | None) -> int:
        kind = fault.kind if fault else None
        if fault and fault.delay:
            time.sleep(fault.delay)
        if kind == "drop":
            self.close_connection = True
            return 0
        if kind in ("429", "418"):
            status = int(kind)
            body = {
                "code": -1003,
                "msg": "Too many requests; IP banned." if status == 418 else "Too many requests.",
            }
            self._send(status, json.dumps(body).encode(), {"Retry-After": f"{fault.retry_after:g}"})  # type: ignore[union-attr]
            return status
        if kind == "404":
            self._send(404, b"<Error><Code>NoSuchKey</Code></Error>")
            return 404
        if kind == "500":
            self._send(500, b'{"code": -1001, "msg": "Internal error; unable to process your request."}')
            return 500
        if path.startswith("/data/"):
            data = fake.archive(path)
            if data is None:
                self._send(404, b"<Error><Code>NoSuchKey</Code></Error>")
                return 404
            if kind == "bad_checksum" and path.endswith(".CHECKSUM"):
                data = b"0" * 64 + data[64:]
            self._send(200, data, {"Content-Type": "application/zip"})
            return 200
        market = next((m for prefix, m in MARKET_OF_PREFIX.items() if path.startswith(prefix)), None)
        endpoint = path.rsplit("/", 1)[-1]
        if market is None:
            self._send(404, b'{"code": -1, "msg": "not found"}')
            return 404
        weight = 1
        if endpoint == "ping":
            status, body = 200, {}
        elif endpoint == "time":
            status, body = 200, {"serverTime": fake.now()}
        elif endpoint == "exchangeInfo":
            weight = 20
            limit = 6000 if market == "spot" else 2400
            status, body = (
                200,
                {
                    "timezone": "UTC",
                    "serverTime": fake.now(),
                    "rateLimits": [
                        {
                            "rateLimitType": "REQUEST_WEIGHT",
                            "interval": "MINUTE",
                            "intervalNum": 1,
                            "limit": limit,
                        }
                    ],
                    "symbols": [{"symbol": s, "status": "TRADING"} for (m, s) in fake.data if m == market],
                },
            )
        elif endpoint == "klines":
            weight = 2 if market == "spot" else 5
            if kind == "empty":
                status, body = 200, []
            elif kind == "repeat":
                status, body = fake.repeated(market, query)
            else:
                status, body = fake.klines(market, query)
        else:
            status, body = 404, {"code": -1, "msg": "not found"}
        text = json.dumps(body, separators=(",", ":")).encode()
        if kind == "truncated":
            text = text[: max(1, len(text) // 2)]
        headers = {"Content-Type": "application/json", "X-MBX-USED-WEIGHT-1M": str(fake.used_weight(weight))}
        self._send(status, text, headers)
        return status
