"""itb serve live mode against the fake Binance on 127.0.0.1 with a fast clock (a 1m candle closes
every real second): live candles are processed and equal the batch outputs (audit), a kill -9 and a
restart lose or double no candle (the missed ones are backfilled), an exchange outage of three
candles is caught up, SIGTERM exits 0 with the state persisted, and the exchange's errors are
classified (429 with its Retry-After).

One module-scoped `itb run` (12 days of the bundled sample, 30 rounds) trains the served models; the
fake serves the same real klines from ``../shared/data``.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from itb.download.endpoints import Endpoints
from itb.serve.exchange import ExchangeError, ExchangeFeed, Kline
from itb.serve.live_log import ServeState

from tests.conftest import REPO, itb, write_config
from tests.fakes.binance_server import FakeBinance, ms
from tests.live_setup import private_copy, train_twelve_days, week_of_klines
from tests.polling import wait_for

START = ms("2024-03-30T12:00:30")  # the fake exchange's "now" when a test starts its clock
SPEED = 60.0  # exchange seconds per real second: a 1m candle per second
MINUTE = 60_000


@pytest.fixture(scope="module")
def klines() -> pl.DataFrame:
    return week_of_klines()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("live")
    train_twelve_days(folder / "config.json", folder / "data")
    return folder / "config.json"


@pytest.fixture
def config(trained: Path, tmp_path: Path) -> Path:
    """The trained config on a private copy of its data root (each test has its own live log)."""
    return private_copy(trained, tmp_path)


@pytest.fixture
def fake(klines: pl.DataFrame) -> Iterator[FakeBinance]:
    server = FakeBinance({("spot", "BTCUSDT"): klines}, START).start()
    try:
        yield server
    finally:
        server.stop()


class Service:
    """``itb serve CONFIG`` as a real process against the fake exchange."""

    def __init__(self, config: Path, fake: FakeBinance, tmp: Path, name: str, *extra: str) -> None:
        env = {**os.environ, **fake.env(), "ITB_SERVE_CLOCK_SPEED": str(SPEED), "ITB_FSYNC": "0"}
        self.err_path = tmp / f"{name}.stderr"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "itb", "serve", str(config), "--close-delay-s", "0.05", "--quiet", *extra],
            env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=self.err_path.open("w"),
        )  # fmt: skip

    def stderr(self) -> str:
        return self.err_path.read_text()

    def terminate(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=10)  # the bound: finish the tick and exit within 10 s

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def logged(root: Path) -> pl.DataFrame:
    files = sorted((root / "live" / "BTCUSDT").glob("*.parquet"))
    if not files:
        return pl.DataFrame(schema={"timestamp": pl.Int64, "backfilled": pl.Boolean})
    # One read of each file's bytes: the service replaces it atomically, but a reader opening it by
    # name twice (size, then data) could see two versions.
    frames = [pl.read_parquet(io.BytesIO(f.read_bytes())) for f in files]
    return pl.concat(frames, how="vertical_relaxed").sort("timestamp")


def rows_through(root: Path, stamp: int) -> bool:
    frame = logged(root)
    return frame.height > 0 and int(frame["timestamp"].max()) >= stamp  # type: ignore[arg-type]


def assert_consecutive(frame: pl.DataFrame) -> None:
    """No candle lost or doubled: open times step by exactly one minute."""
    stamps = frame["timestamp"]
    assert stamps.n_unique() == frame.height, "a candle was logged twice"
    assert (stamps.diff().drop_nulls() == MINUTE).all(), "a candle is missing"


def audit(config: Path) -> None:
    done = itb("serve", "audit", str(config))
    assert done.returncode == 0, done.stdout + done.stderr
    assert " 0 differences" in done.stdout


def test_live_candles_equal_the_batch_outputs_and_sigterm_exits_0(
    config: Path, fake: FakeBinance, tmp_path: Path
) -> None:
    root = tmp_path / "data"
    fake.run_clock(START, SPEED)
    spawned = fake.now()
    service = Service(config, fake, tmp_path, "serve")
    try:
        wait_for(lambda: logged(root).height >= 4, timeout=30)
        assert service.terminate() == 0, service.stderr()
    finally:
        service.stop()
    frame = logged(root)
    assert_consecutive(frame)
    # It starts at the newest closed candle when it first asks (no history to backfill), not before.
    assert frame["timestamp"][0] >= spawned // MINUTE * MINUTE - MINUTE
    assert not frame["backfilled"][0]
    # Never the forming candle: every logged candle had closed by the exchange's clock at exit.
    assert int(frame["timestamp"].max()) + MINUTE <= fake.now()  # type: ignore[operator]
    for column in ("fetch_ms", "compute_ms", "latency_ms", "close_lag_ms"):
        assert frame[column].null_count() == 0 and (frame[column] >= 0).all(), column
    state = ServeState.model_validate_json((root / "live" / "BTCUSDT" / "state.json").read_text())
    assert state.last_timestamp == frame["timestamp"][-1]
    assert "stopped; state persisted" in service.stderr()
    audit(config)


def test_kill_9_then_restart_backfills_the_missed_candles(
    config: Path, fake: FakeBinance, tmp_path: Path
) -> None:
    root = tmp_path / "data"
    fake.run_clock(START, SPEED)
    service = Service(config, fake, tmp_path, "first")
    try:
        wait_for(lambda: rows_through(root, ms("2024-03-30T12:02")), timeout=30)
        service.kill()
        killed_at = int(logged(root)["timestamp"].max())  # type: ignore[arg-type]
        wait_for(lambda: fake.now() >= killed_at + 4 * MINUTE, timeout=15)  # 3 candles close unserved
        service = Service(config, fake, tmp_path, "second")
        resumed = fake.now()
        wait_for(lambda: rows_through(root, resumed + MINUTE), timeout=30)
        assert service.terminate() == 0, service.stderr()
    finally:
        service.stop()
    frame = logged(root)
    assert_consecutive(frame)
    # Older than the newest closed candle at the restart: closed while no service ran (at least two).
    missed = frame.filter(
        (pl.col("timestamp") > killed_at) & (pl.col("timestamp") < resumed // MINUTE * MINUTE - MINUTE)
    )
    assert missed.height >= 2
    assert missed["backfilled"].all(), "candles closed while the service was down are marked backfilled"
    assert not frame.filter(pl.col("timestamp") > resumed)["backfilled"].all()  # live again afterwards
    audit(config)


def test_exchange_down_for_three_candles_then_caught_up(
    config: Path, fake: FakeBinance, tmp_path: Path
) -> None:
    root = tmp_path / "data"
    fake.run_clock(START, SPEED)
    service = Service(config, fake, tmp_path, "serve")
    try:
        wait_for(lambda: rows_through(root, ms("2024-03-30T12:01")), timeout=30)
        down = fake.now()
        fake.add_fault("500", path="/api/v3/", times=None)  # every call fails: klines and time
        wait_for(lambda: fake.now() >= down + 3 * MINUTE, timeout=15)
        wait_for(lambda: len(fake.requests("/api/v3/")) > 0 and fake.requests()[-1][1] == 500, timeout=15)
        fake.clear()
        up = fake.now()
        wait_for(lambda: rows_through(root, up), timeout=30)
        assert service.terminate() == 0, service.stderr()
    finally:
        service.stop()
    frame = logged(root)
    assert_consecutive(frame)
    closes = pl.col("timestamp") + MINUTE
    during = frame.filter((closes > down) & (closes <= up - MINUTE))  # closed while it was down
    assert during.height >= 2 and during["backfilled"].all()
    assert "exchange error (server)" in service.stderr()
    audit(config)


def test_exchange_errors_are_classified(fake: FakeBinance) -> None:
    """429 carries its Retry-After, 5xx and dropped connections are transient, a slow answer times
    out; the service schedules on these instead of crashing. (aiohttp asks again once on a fresh
    connection when a kept-alive one was dropped, so the drop is served twice.)"""
    series = Kline("spot", "BTCUSDT", "1m", MINUTE)
    endpoints = Endpoints(fake.url, fake.url, fake.url)

    first, last = ms("2024-03-30T11:50"), ms("2024-03-30T11:59")

    async def attempt() -> list[ExchangeError | pl.DataFrame]:
        feed = ExchangeFeed("spot", endpoints, timeout_s=0.5, weight_limit=None)
        results: list[ExchangeError | pl.DataFrame] = []
        try:
            for kind, options in [("429", {"retry_after": 7}), ("500", {}), ("drop", {"times": 2}),
                                  ("slow", {"delay": 1.5}), (None, {})]:  # fmt: skip
                if kind is not None:
                    fake.add_fault(kind, **options)
                try:
                    results.append(await feed.closed_klines(series, first, last))
                except ExchangeError as exc:
                    results.append(exc)
                fake.clear()
        finally:
            await feed.close()
        return results

    got = asyncio.run(attempt())
    kinds = [r.kind if isinstance(r, ExchangeError) else "ok" for r in got]
    assert kinds == ["rate_limited", "server", "connection", "timeout", "ok"]
    assert isinstance(got[0], ExchangeError) and got[0].retry_after == 7
    ok = got[-1]
    assert isinstance(ok, pl.DataFrame)
    assert ok["timestamp"].to_list() == [first + i * MINUTE for i in range(10)]
    expected = fake.expected("spot", "BTCUSDT", first, last + MINUTE)
    assert ok["close"].equals(expected["close"])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
    except OSError:
        return 0, {}


def test_healthz_turns_503_when_ticks_stop_and_readyz_once_warm(
    config: Path, fake: FakeBinance, tmp_path: Path
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    fake.run_clock(START, SPEED)
    service = Service(config, fake, tmp_path, "serve", "--http", f"127.0.0.1:{port}")
    try:
        wait_for(lambda: get(f"{base}/readyz")[0] == 200, timeout=30)
        assert get(f"{base}/healthz")[0] == 200
        fake.add_fault("500", path="/api/v3/", times=None)  # the exchange goes down: no good tick
        wait_for(lambda: get(f"{base}/healthz")[0] == 503, timeout=15)  # two candles: 2 s here
        status, body = get(f"{base}/healthz")
        assert status == 503 and "two candles" in body["reason"] and "HTTP 500" in body["reason"], body
        fake.clear()
        wait_for(lambda: get(f"{base}/healthz")[0] == 200, timeout=15)
        assert service.terminate() == 0, service.stderr()
    finally:
        service.stop()


def test_a_symbol_the_exchange_does_not_know_exits_2(config: Path, fake: FakeBinance, tmp_path: Path) -> None:
    data = json.loads(config.read_text())
    data["data_sources"][0]["symbol"] = "NOPEUSDT"
    bad = write_config(tmp_path / "bad.json", data)
    done = itb("serve", str(bad), env={**fake.env(), "ITB_FSYNC": "0"}, timeout=30)
    assert done.returncode == 2, done.stderr
    assert "refused the first request" in done.stderr and "Invalid symbol" in done.stderr
    assert "Traceback" not in done.stderr
