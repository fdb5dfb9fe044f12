"""Two symbols in one `itb serve` process against the fake Binance on 127.0.0.1 (fast clock: a 1m
candle closes every real second), with ``--http`` and ``--log-format json``.

One run checks the operations side end to end: both symbols' live logs complete (no candle lost or
doubled, the three candles of an injected exchange fault backfilled), ``/metrics`` counts exactly
what the logs hold (candles, backfilled, close lags of the live candles, the models serving, the
exchange errors of the fault), both symbols' requests go through one request-weight budget (one
``spot`` weight gauge that follows the exchange's own count), and every stdout line is a JSON
object, with one ``candle`` event per logged row.

The fake serves the same recorded BTCUSDT klines under a second name (ETHUSDT); each symbol's data
root holds a copy of one `itb run`'s models (12 days of the bundled sample, 30 rounds). Marked
``slow`` (``make test-all``): the run and the training take about 30 s.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import REPO, write_config
from tests.fakes.binance_server import FakeBinance, ms
from tests.live_setup import train_twelve_days, week_of_klines
from tests.polling import wait_for

START = ms("2024-03-30T12:00:30")
SPEED = 60.0  # a 1m candle per real second
MINUTE = 60_000
SYMBOLS = ("BTCUSDT", "ETHUSDT")


@pytest.fixture(scope="module")
def klines() -> pl.DataFrame:
    return week_of_klines()


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A two-symbol config whose per-symbol data roots hold the models of one `itb run`."""
    folder = tmp_path_factory.mktemp("multi")
    data = train_twelve_days(folder / "single.json", folder / "trained")
    for symbol in SYMBOLS:  # itb run of a `symbols` config trains into <data_root>/<SYMBOL>
        shutil.copytree(folder / "trained", folder / "data" / symbol)
    data.update(data_root=str(folder / "data"), symbols=list(SYMBOLS))
    return write_config(folder / "config.json", data)


@pytest.fixture
def fake(klines: pl.DataFrame) -> Iterator[FakeBinance]:
    server = FakeBinance({("spot", s): klines for s in SYMBOLS}, START).start()
    try:
        yield server
    finally:
        server.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def logged(root: Path, symbol: str) -> pl.DataFrame:
    files = sorted((root / symbol / "live" / symbol).glob("*.parquet"))
    if not files:
        return pl.DataFrame(schema={"timestamp": pl.Int64, "backfilled": pl.Boolean})
    frames = [pl.read_parquet(io.BytesIO(f.read_bytes())) for f in files]  # one read: atomic swaps
    return pl.concat(frames, how="vertical_relaxed").sort("timestamp")


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``/metrics`` parsed: (sample name, sorted labels) -> value."""
    with urllib.request.urlopen(url, timeout=5) as answer:
        text = answer.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(metrics: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return metrics[(name, tuple(sorted(labels.items())))]


@pytest.mark.slow  # ~30 s on a loaded 2-core machine: an `itb run` and a live run of two symbols
def test_two_symbols_share_a_budget_and_metrics_count_what_the_logs_hold(
    config: Path, fake: FakeBinance, tmp_path: Path
) -> None:
    root = config.parent / "data"
    for symbol in SYMBOLS:
        shutil.rmtree(root / symbol / "live", ignore_errors=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    env = {**os.environ, **fake.env(), "ITB_SERVE_CLOCK_SPEED": str(SPEED), "ITB_FSYNC": "0"}
    out_path, err_path = tmp_path / "serve.stdout", tmp_path / "serve.stderr"
    fake.run_clock(START, SPEED)
    proc = subprocess.Popen(
        [sys.executable, "-m", "itb", "serve", str(config), "--close-delay-s", "0.05",
         "--http", f"127.0.0.1:{port}", "--log-format", "json"],
        env=env, cwd=REPO, stdout=out_path.open("w"), stderr=err_path.open("w"),
    )  # fmt: skip
    try:
        wait_for(lambda: all(logged(root, s).height >= 2 for s in SYMBOLS), timeout=30)
        fault = fake.add_fault("500", path="/api/v3/", times=3)  # three failed ticks in a row
        wait_for(lambda: fault.hits >= 3, timeout=15)
        recovered = fake.now()
        wait_for(lambda: all(int(logged(root, s)["timestamp"].max()) >= recovered for s in SYMBOLS),  # type: ignore[arg-type]
                 timeout=30)  # fmt: skip
        fake.run_clock(fake.now(), 0.0)  # the exchange's clock stops: no candle closes any more

        def settled() -> bool:  # what /metrics says equals what the logs hold (eventually, once idle)
            metrics = scrape(url)
            return all(
                value(metrics, "itb_serve_candles_total", symbol=s) == logged(root, s).height for s in SYMBOLS
            )

        wait_for(settled, timeout=15)
        metrics = scrape(url)
        # One weight budget for both symbols: one gauge for the market, following the exchange's count
        # of every request this minute (both symbols' klines, the clock), read between two ticks.
        weights = [k for k in metrics if k[0] == "itb_serve_exchange_weight_used"]
        assert weights == [("itb_serve_exchange_weight_used", (("market", "spot"),))]
        wait_for(lambda: value(scrape(url), "itb_serve_exchange_weight_used", market="spot")
                 == fake.used_weight(0), timeout=15)  # fmt: skip
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0, err_path.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)

    klines_asked = {s: len(fake.requests(f"symbol={s}")) for s in SYMBOLS}
    assert all(n >= 3 for n in klines_asked.values()), klines_asked
    for symbol in SYMBOLS:
        frame = logged(root, symbol)
        stamps = frame["timestamp"]
        assert stamps.n_unique() == frame.height and (stamps.diff().drop_nulls() == MINUTE).all(), symbol
        backfilled = int(frame["backfilled"].sum())
        assert backfilled >= 1, "candles that closed during the three failed ticks are backfilled"
        assert value(metrics, "itb_serve_backfilled_candles_total", symbol=symbol) == backfilled
        live = frame.filter(~pl.col("backfilled"))
        assert value(metrics, "itb_serve_close_lag_seconds_count", symbol=symbol) == live.height
        lag_sum = value(metrics, "itb_serve_close_lag_seconds_sum", symbol=symbol)
        assert lag_sum == pytest.approx(float(live["close_lag_ms"].sum()) / 1000, rel=1e-6)
        (key,) = frame["model_key"].unique().to_list()
        assert value(metrics, "itb_serve_model_info", model_key=key, symbol=symbol) == 1
    assert value(metrics, "itb_serve_exchange_errors_total", kind="server") == 3
    assert value(metrics, "itb_serve_exchange_errors_total", kind="timeout") == 0
    assert value(metrics, "itb_serve_tick_duration_seconds_count") == value(metrics, "itb_serve_ticks_total")

    # --log-format json: every stdout line is one JSON object; one candle event per logged row.
    events: list[dict[str, Any]] = [json.loads(line) for line in out_path.read_text().splitlines()]
    assert all(isinstance(e, dict) and {"time", "level", "message"} <= e.keys() for e in events)
    for symbol in SYMBOLS:
        frame = logged(root, symbol)
        candles = [e for e in events if e.get("event") == "candle" and e["symbol"] == symbol]
        assert [e["timestamp"] for e in candles] == frame["timestamp"].to_list()
        assert [e["backfilled"] for e in candles] == frame["backfilled"].to_list()
        assert [e["close_lag_ms"] for e in candles] == frame["close_lag_ms"].round(3).to_list()
        assert {e["model_key"] for e in candles} == set(frame["model_key"].to_list())
    ticks = [e for e in events if e.get("event") == "tick"]
    assert len(ticks) >= value(metrics, "itb_serve_ticks_total")  # scraped before the last ticks
    errors = [e for e in events if e.get("event") == "exchange_error"]
    assert [e["kind"] for e in errors] == ["server"] * 3 and all(e["level"] == "warning" for e in errors)
