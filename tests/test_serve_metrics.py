"""The serve metrics and JSON logs, without a live service: :class:`ServeMetrics` counts what it is
told (a registry per instance, so two services in one process do not clash), ``/metrics`` is served
by the health endpoints' server in the Prometheus text format, the outbox gauge reads a real
Telegram outbox, and the JSON log lines are one object per record with secrets masked.

The end-to-end check (a live run of two symbols scraped against their logs) is in
``test_serve_multi_symbol.py``.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import socket
from pathlib import Path

import aiohttp
import polars as pl
import pytest
from itb.secret_refs import SecretScope
from itb.serve.health import start_health
from itb.serve.log_format import FIELDS, JsonLines, LogMessages, candle_events, event, log_candles
from itb.serve.messages import ConsoleSink
from itb.serve.metrics import METRIC_HELP, ServeMetrics
from itb.serve.telegram import RetryPolicy, TelegramSink
from itb.storage.store import Storage
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(exposition: bytes) -> Samples:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(exposition.decode())
        for s in family.samples
    }


def rows(backfilled: list[bool], lags_ms: list[float], signal: list[bool] | None = None) -> pl.DataFrame:
    n = len(backfilled)
    frame = pl.DataFrame(
        {
            "timestamp": [1_711_800_000_000 + i * 60_000 for i in range(n)],
            "close": [70_000.0] * n,
            "model_key": ["m1"] * n,
            "backfilled": backfilled,
            "fetch_ms": [1.0] * n,
            "compute_ms": [2.5] * n,
            "latency_ms": [4.0] * n,
            "close_lag_ms": lags_ms,
        }
    )
    return frame if signal is None else frame.with_columns(buy=pl.Series(signal))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_metrics_count_rows_ticks_and_errors_in_a_registry_of_their_own() -> None:
    first, second = ServeMetrics(), ServeMetrics()  # a shared registry would refuse the second
    first.start_symbol("BTCUSDT", "m0", ConsoleSink())
    started = parse(first.exposition())
    assert started[("itb_serve_candles_total", (("symbol", "BTCUSDT"),))] == 0
    assert started[("itb_serve_model_info", (("model_key", "m0"), ("symbol", "BTCUSDT")))] == 1
    assert started[("itb_serve_exchange_errors_total", (("kind", "banned"),))] == 0  # every kind, from 0
    assert not [k for k in started if k[0] == "itb_serve_telegram_outbox_depth"]  # no Telegram configured

    # A backfill of two candles (lags of minutes: the outage's) and one live candle at 0.3 s.
    first.observe_rows("BTCUSDT", rows([True, True, False], [120_000.0, 60_000.0, 300.0]), "m1")
    first.observe_tick(0.04, slow=False, weights={"spot": 13})
    first.observe_tick(75.0, slow=True, weights={"spot": 17})
    first.observe_exchange_error("timeout")
    first.observe_exchange_error("timeout")
    got = parse(first.exposition())
    sym = (("symbol", "BTCUSDT"),)
    assert got[("itb_serve_candles_total", sym)] == 3
    assert got[("itb_serve_backfilled_candles_total", sym)] == 2
    assert got[("itb_serve_close_lag_seconds_count", sym)] == 1  # live candles only
    assert got[("itb_serve_close_lag_seconds_sum", sym)] == pytest.approx(0.3)
    assert got[("itb_serve_close_lag_seconds_bucket", (("le", "0.25"), *sym))] == 0
    assert got[("itb_serve_close_lag_seconds_bucket", (("le", "0.5"), *sym))] == 1
    assert got[("itb_serve_ticks_total", ())] == 2
    assert got[("itb_serve_slow_ticks_total", ())] == 1
    assert got[("itb_serve_tick_duration_seconds_bucket", (("le", "0.05"),))] == 1
    assert got[("itb_serve_tick_duration_seconds_bucket", (("le", "+Inf"),))] == 2
    assert got[("itb_serve_exchange_weight_used", (("market", "spot"),))] == 17
    assert got[("itb_serve_exchange_errors_total", (("kind", "timeout"),))] == 2
    assert got[("itb_serve_exchange_errors_total", (("kind", "server"),))] == 0
    # The model key info follows the models that scored the last rows (one series per symbol).
    models = [k for k in got if k[0] == "itb_serve_model_info"]
    assert models == [("itb_serve_model_info", (("model_key", "m1"), ("symbol", "BTCUSDT")))]
    assert not [k for k in parse(second.exposition()) if k[0] == "itb_serve_candles_total"]
    # Every exposed family is documented (the README's table is METRIC_HELP).
    families = {family.name for family in first.registry.collect()}
    assert families == {n.removesuffix("_total").removesuffix("_info") for n in METRIC_HELP}


def test_outbox_depth_is_read_from_the_telegram_outbox(tmp_path: Path) -> None:
    """Telegram unreachable (a closed port on 127.0.0.1): the messages wait in the outbox and the
    gauge shows them."""
    sink = TelegramSink(
        Storage(str(tmp_path / "data")), "123456:SECRET-token", "42",
        base_url=f"http://127.0.0.1:{free_port()}", policy=RetryPolicy(first_backoff=5.0), flush_timeout=0.1,
    )  # fmt: skip
    try:
        metrics = ServeMetrics()
        metrics.start_symbol("BTCUSDT", "m1", sink)
        depth = ("itb_serve_telegram_outbox_depth", (("symbol", "BTCUSDT"),))
        assert parse(metrics.exposition())[depth] == 0
        sink.post("first", "k1")
        sink.post("second", "k2")
        assert parse(metrics.exposition())[depth] == 2 == sink.outbox.depth
    finally:
        sink.close()


def test_metrics_are_served_beside_healthz() -> None:
    metrics = ServeMetrics()
    metrics.start_symbol("ETHUSDT", "m7", None)
    metrics.observe_exchange_error("rate_limited")
    port = free_port()

    async def scrape() -> tuple[int, str, bytes, int]:
        runner = await start_health(
            lambda: (True, "fine"), lambda: True, "127.0.0.1", port, metrics=metrics.exposition
        )
        try:
            async with aiohttp.ClientSession() as session:
                async with session.get(f"http://127.0.0.1:{port}/metrics") as answer:
                    body = await answer.read()
                    status, kind = answer.status, answer.headers["Content-Type"]
                async with session.get(f"http://127.0.0.1:{port}/healthz") as health:
                    return status, kind, body, health.status
        finally:
            await runner.cleanup()

    status, kind, body, health = asyncio.run(scrape())
    assert status == 200 and health == 200
    assert kind.startswith("text/plain") and "version=" in kind
    got = parse(body)
    assert got[("itb_serve_exchange_errors_total", (("kind", "rate_limited"),))] == 1
    assert got[("itb_serve_model_info", (("model_key", "m7"), ("symbol", "ETHUSDT")))] == 1


def test_candle_events_carry_the_logged_row() -> None:
    frame = rows([True, False], [61_000.123456, 812.5], signal=[False, True])
    events = candle_events("BTCUSDT", frame)
    same = {"event": "candle", "symbol": "BTCUSDT", "fetch_ms": 1.0, "compute_ms": 2.5, "latency_ms": 4.0,
            "model_key": "m1"}  # fmt: skip
    assert events == [
        {**same, "timestamp": 1_711_800_000_000, "open_time": "2024-03-30T12:00:00Z", "backfilled": True,
         "close_lag_ms": 61_000.123, "signals": []},
        {**same, "timestamp": 1_711_800_060_000, "open_time": "2024-03-30T12:01:00Z", "backfilled": False,
         "close_lag_ms": 812.5, "signals": ["buy"]},
    ]  # fmt: skip
    assert candle_events("BTCUSDT", frame.head(0)) == []


def test_json_lines_one_object_per_record_with_secrets_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    token = "987654:AAE-very-secret-token"
    monkeypatch.setenv("ITB_TEST_SERVE_TOKEN", token)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLines())
    logger = logging.getLogger("itb.test.serve_json")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        with SecretScope({"telegram_bot_token": "env:ITB_TEST_SERVE_TOKEN"}):
            url = f"/bot{token}/sendMessage"
            logger.warning("POST %s failed", url, extra=event("telegram", url=url))
            log_candles(logger, "BTCUSDT", rows([False], [500.0]))
            LogMessages(logger=logger).post("BTCUSDT band up", "score:BTCUSDT:1")
            try:
                raise RuntimeError(f"bad token {token}")
            except RuntimeError:
                logger.exception("failed")
        logger.info("plain", extra={FIELDS: {"event": "tick", "value": float("inf")}})
    finally:
        logger.handlers.clear()
    text = stream.getvalue()
    assert token not in text and "987654" not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert len(lines) == 5  # one object per record, even with a traceback in it
    assert [line.get("event") for line in lines] == ["telegram", "candle", "message", None, "tick"]
    assert lines[0]["level"] == "warning" and "***" in lines[0]["message"] and "***" in lines[0]["url"]
    assert lines[1]["symbol"] == "BTCUSDT" and lines[1]["close_lag_ms"] == 500.0
    assert lines[2]["text"] == "BTCUSDT band up" and lines[2]["key"] == "score:BTCUSDT:1"
    assert "***" in lines[3]["exception"]
    assert lines[4]["value"] == "inf"  # not a bare Infinity: every line stays strict JSON


def test_json_mode_writes_a_picture_to_the_data_root_and_names_it_in_its_event(tmp_path: Path) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLines())
    logger = logging.getLogger("itb.test.serve_json_photo")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    png = b"\x89PNG\r\n\x1a\n" + bytes(100)
    try:
        LogMessages(Storage(str(tmp_path)), logger).post_photo(png, "BTCUSDT daily", "diagram:BTCUSDT:1")
        LogMessages(None, logger).post_photo(png, "no root", "diagram:BTCUSDT:2")
    finally:
        logger.handlers.clear()
    kept, dropped = (json.loads(line) for line in stream.getvalue().splitlines())
    assert (tmp_path / "live" / "diagrams" / "diagram-BTCUSDT-1.png").read_bytes() == png
    assert kept["event"] == "message" and kept["photo"].endswith("live/diagrams/diagram-BTCUSDT-1.png")
    assert kept["photo_bytes"] == len(png) and kept["text"] == "BTCUSDT daily"
    assert dropped["photo"] is None and dropped["photo_bytes"] == len(png)  # said, not silently lost
