"""The ``diagram_notification_model`` output: bars resampled as the reference aggregates them (a
brute-force oracle), a valid PNG on schedule delivered as ``sendPhoto`` through the persisted outbox
(surviving a restart), the console fallback naming the file, and a restarted output drawing the same
window from the live log. A replay end to end through ``itb serve`` is ``slow``."""

from __future__ import annotations

import copy
import io
import math
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from itb.config import jsonc
from itb.config.models import PipelineConfig
from itb.errors import ConfigError
from itb.serve.diagram_chart import PNG_MAGIC, resample
from itb.serve.diagram_notification import DiagramConfig, DiagramNotifier, is_due
from itb.serve.live_log import LiveLog
from itb.serve.messages import DIAGRAMS, ListSink
from itb.serve.output_sets import configured_outputs
from itb.serve.telegram import OUTBOX, RetryPolicy, TelegramSink
from itb.storage import Storage
from PIL import Image

from tests.conftest import SHARED_DATA, itb, load_default_config, write_config
from tests.fakes.binance_server import load_klines, ms
from tests.fakes.telegram_server import FakeTelegram
from tests.itb_reference import SAMPLE_1H, SAMPLE_1M, SAMPLE_MT5

TOKEN = "123456789:AAH-fake-token-that-must-never-show"
CHAT = "4242"
MINUTE = 60_000
SPOT_FILE = SHARED_DATA / "binance" / "spot" / "BTCUSDT-1m.parquet"
#: The reference project's sample section (config-sample-1min.jsonc), hourly instead of daily.
REFERENCE = {
    "diagram_notification": True,
    "notification_freq": "1h",
    "score_column_names": "trade_score",
    "score_thresholds": [-0.015, 0.015],
    "resampling_freq": "5min",
    "nrows": 24,
}


@pytest.fixture(scope="module")
def candles() -> list[dict[str, Any]]:
    """Three hours of real candles (2024-03-30 09:00-12:00) with a made-up score that crosses zero."""
    if not SPOT_FILE.exists():
        pytest.skip(f"shared test data not found at {SPOT_FILE}")
    frame = load_klines(SPOT_FILE, "2024-03-30T09:00", "2024-03-30T12:00")
    rows = frame.select("timestamp", "open", "high", "low", "close").to_dicts()
    for i, row in enumerate(rows):
        row["symbol"] = "BTCUSDT"
        row["trade_score"] = None if i == 7 else 0.03 * math.sin(i / 9)
    return rows


def png_size(png: bytes) -> tuple[int, int]:
    """The picture's size as PIL reads it back (fails on anything that is not a whole PNG)."""
    assert png.startswith(PNG_MAGIC)
    with Image.open(io.BytesIO(png)) as image:
        image.load()
        assert image.format == "PNG"
        return image.size


def test_resample_equals_a_brute_force_aggregation(candles: list[dict[str, Any]]) -> None:
    rows = pl.DataFrame(candles).select("timestamp", "high", "low", "close", score="trade_score")
    bars = resample(rows, 5 * MINUTE, nrows=30)
    expected = []
    for start in sorted({r["timestamp"] // (5 * MINUTE) * 5 * MINUTE for r in candles}):
        group = [r for r in candles if start <= r["timestamp"] < start + 5 * MINUTE]
        scores = [r["trade_score"] for r in group if r["trade_score"] is not None]
        if all(s > 0 for s in scores):
            score = max(scores)
        elif all(s < 0 for s in scores):
            score = min(scores)
        else:
            score = sum(scores) / len(scores)
        expected.append((start, max(r["high"] for r in group), min(r["low"] for r in group),
                         group[-1]["close"], score))  # fmt: skip
    assert len(expected) == 36
    got = bars.rows()
    assert len(got) == 30 and [g[:4] for g in got] == [e[:4] for e in expected[-30:]]
    assert all(math.isclose(g[4], e[4], rel_tol=1e-12) for g, e in zip(got, expected[-30:], strict=True))


def test_the_schedule_is_the_candle_that_closes_a_period() -> None:
    hour = 60 * MINUTE
    assert is_due(ms("2024-03-30T09:59"), MINUTE, hour)
    assert not is_due(ms("2024-03-30T10:00"), MINUTE, hour)
    assert is_due(ms("2024-03-30T23:59"), MINUTE, 24 * hour)
    assert not is_due(ms("2024-03-30T11:59"), MINUTE, 24 * hour)


def config_with(root: Path, diagram: dict[str, Any], secrets: bool) -> PipelineConfig:
    data = {**load_default_config(), "data_root": str(root),
            "output_sets": [{"generator": "diagram_notification_model", "config": diagram}]}  # fmt: skip
    if secrets:
        data["secrets"] = {"telegram_bot_token": "env:TEST_TG_TOKEN", "telegram_chat_id": "env:TEST_TG_CHAT"}
    return PipelineConfig.model_validate(data)


def test_the_config_takes_the_reference_keys_and_names_a_bad_one(tmp_path: Path) -> None:
    for path in (SAMPLE_1M, SAMPLE_1H, SAMPLE_MT5):  # the reference project's own sections validate
        sets = jsonc.loads(path.read_text())["output_sets"]
        (section,) = [s["config"] for s in sets if s["generator"] == "diagram_notification_model"]
        assert DiagramConfig.model_validate(section).notification_freq == "1D", path.name
    parsed = DiagramConfig.model_validate(REFERENCE)
    assert parsed.score_column_names == ["trade_score"] and parsed.window_ms == 24 * 5 * MINUTE
    with pytest.raises(
        ConfigError, match=r"output_sets\[0\]\.config\.notification_freq: .*unknown frequency"
    ):
        configured_outputs(config_with(tmp_path, {**REFERENCE, "notification_freq": "daily"}, False))
    with pytest.raises(ConfigError, match=r"output_sets\[0\]\.config\.nrow: Extra inputs"):
        configured_outputs(config_with(tmp_path, {**REFERENCE, "nrow": 5}, False))


def test_a_diagram_is_sent_as_a_photo_on_schedule_through_the_outbox(
    candles: list[dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeTelegram(TOKEN) as tg:
        monkeypatch.setenv("ITB_TELEGRAM_API_URL", tg.url)
        monkeypatch.setenv("TEST_TG_TOKEN", TOKEN)
        monkeypatch.setenv("TEST_TG_CHAT", CHAT)
        tg.add_fault("429", retry_after=1)  # the photo waits and is sent once
        built = configured_outputs(config_with(tmp_path, REFERENCE, True))
        assert isinstance(built.sink, TelegramSink)
        (_, diagram), *_ = built.outputs
        for row in candles:
            diagram.send(row)
        built.close()
        photos = tg.photos(CHAT)
    # 09:59, 10:59 and 11:59 close an hour; each picture arrives once, with its caption.
    assert [caption for caption, _ in photos] == [
        f"BTCUSDT 2024-03-30 {h}:00 UTC: close and trade_score, {bars} bars" for h, bars in
        (("10", 12), ("11", 24), ("12", 24))
    ]  # fmt: skip
    for _, png in photos:
        width, height = png_size(png)
        assert width > 600 and height > 300 and len(png) > 10_000
    assert [status for method, status in tg.requests if method == "sendPhoto"] == [429, 200, 200, 200]
    assert list((tmp_path / OUTBOX).glob("*.png")) == []  # confirmed: removed with their entries


def test_a_pending_photo_survives_a_restart(tmp_path: Path, candles: list[dict[str, Any]]) -> None:
    storage = Storage(str(tmp_path))
    fast = RetryPolicy(first_backoff=0.05, max_backoff=0.1)
    with FakeTelegram(TOKEN) as tg:
        tg.add_fault("500", times=1000)
        down = TelegramSink(storage, TOKEN, CHAT, base_url=tg.url, policy=fast, flush_timeout=0.3)
        notifier = DiagramNotifier(DiagramConfig.model_validate(REFERENCE), "BTCUSDT", MINUTE, down, None)
        for row in candles[:60]:
            notifier.send(row)
        down.close()
        left = list((tmp_path / OUTBOX).glob("*.png"))
        assert len(left) == 1 and tg.photos(CHAT) == []
        kept = left[0].read_bytes()
        tg.clear_faults()
        up = TelegramSink(storage, TOKEN, CHAT, base_url=tg.url, policy=fast)
        assert up.flush(10)
        up.close()
        assert [png for _, png in tg.photos(CHAT)] == [kept]
    png_size(kept)


def test_without_telegram_the_console_says_where_the_png_is(
    candles: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    built = configured_outputs(config_with(tmp_path, REFERENCE, False))
    (_, diagram), *_ = built.outputs
    for row in candles[:60]:
        diagram.send(row)
    built.close()
    printed = capsys.readouterr().out.strip().splitlines()
    path = tmp_path / DIAGRAMS / f"diagram-BTCUSDT-{ms('2024-03-30T09:59')}.png"
    assert printed == [f"BTCUSDT 2024-03-30 10:00 UTC: close and trade_score, 12 bars (diagram written to "
                       f"file://{path})"]  # fmt: skip
    png_size(path.read_bytes())


def test_a_restarted_diagram_draws_the_window_from_the_live_log(
    candles: list[dict[str, Any]], tmp_path: Path
) -> None:
    config = DiagramConfig.model_validate(REFERENCE)
    whole = ListSink()
    uninterrupted = DiagramNotifier(config, "BTCUSDT", MINUTE, whole, None)
    for row in candles:
        uninterrupted.send(row)
    storage = Storage(str(tmp_path))
    log = LiveLog(storage, "BTCUSDT")
    cut = 100  # the first service logged 100 candles, then stopped
    logged = pl.DataFrame(candles[:cut]).drop("symbol", "open")
    log.append(logged, "models-1")
    log.flush()
    resumed = ListSink()
    restarted = DiagramNotifier(config, "BTCUSDT", MINUTE, resumed, storage)
    for row in candles[cut:]:
        restarted.send(row)
    assert resumed.keys == whole.keys[-len(resumed.keys) :] and len(resumed.keys) == 2
    assert resumed.photos == whole.photos[-2:]  # the same window, drawn to the same bytes


@pytest.mark.slow
def test_itb_serve_replay_sends_the_diagrams_as_photos(tmp_path: Path) -> None:
    """End to end: `itb run`, then `itb serve --replay` of a day with Telegram configured sends a
    PNG every six hours; without Telegram the console names the files."""
    with FakeTelegram(TOKEN) as tg:
        data = copy.deepcopy(load_default_config())
        data["data_root"] = str(tmp_path / "data")
        data["merge"] = {"gaps": "fill", "start": "2024-03-20T00:00:00Z", "end": "2024-04-01T00:00:00Z"}
        data["train"]["algorithms"][0]["params"] = {"num_boost_round": 30, "num_leaves": 7}
        data["output_sets"] = [
            {"generator": "diagram_notification_model", "config": {**REFERENCE, "notification_freq": "6h"}}
        ]
        data["secrets"] = {"telegram_bot_token": "env:TEST_TG_TOKEN", "telegram_chat_id": "env:TEST_TG_CHAT"}
        env = {"ITB_FSYNC": "0", "ITB_TELEGRAM_API_URL": tg.url, "TEST_TG_TOKEN": TOKEN, "TEST_TG_CHAT": CHAT}
        path = write_config(tmp_path / "config.json", data)
        assert itb("run", str(path), "--backend", "inprocess", env=env).returncode == 0
        done = itb("serve", str(path), "--replay", "2024-03-31", "2024-04-01", "--quiet", env=env)
        assert done.returncode == 0, done.stderr
        photos = tg.photos(CHAT)
    assert [c.split(" UTC")[0] for c, _ in photos] == [
        f"BTCUSDT 2024-{d} {h}:00"
        for d, h in (("03-31", "06"), ("03-31", "12"), ("03-31", "18"), ("04-01", "00"))
    ]
    for _, png in photos:
        png_size(png)
    assert TOKEN not in done.stdout + done.stderr
