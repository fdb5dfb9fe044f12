"""Faults around the live service: backfilled candles' notifications collapsed into one summary, a
late candle (closed, not served yet) waited for and never taken while forming, the exchange's
Retry-After (429 and 418) obeyed to the request, and a kill -9 mid-tick with paper trading and score
notifications on Telegram: no candle lost or doubled, the paper ledger as an uninterrupted run's,
no message twice.

The first test is a unit test; the live ones run `itb serve` against the fake Binance (fast clock: a
1m candle per second) and the fake Telegram on 127.0.0.1, and are ``slow``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from itb.config import load_config
from itb.config.models import SimulateConfig
from itb.serve.messages import ListSink
from itb.serve.paper import PaperTrader, PaperTraderConfig
from itb.serve.score_notification import ScoreNotificationConfig, ScoreNotifier
from itb.storage import Storage
from itb.timefmt import utc_minute

from tests.fakes.binance_server import FakeBinance, ms
from tests.fakes.telegram_server import FakeTelegram
from tests.live_setup import private_copy as live_private_copy
from tests.live_setup import train_twelve_days, week_of_klines
from tests.polling import wait_for
from tests.test_serve_live import MINUTE, SPEED, START, Service, assert_consecutive, audit, logged

TOKEN = "123456789:AAH-fake-token-that-must-never-show"
CHAT = "4242"
#: Every candle in a band says something (frequency 1): each live candle has exactly one message.
BANDS: dict[str, Any] = {
    "score_column_names": ["trade_score"],
    "positive_bands": [{"edge": 0.01, "frequency": 1, "text": "flat"},
                       {"edge": 1.0, "frequency": 1, "text": "up"}],
    "negative_bands": [{"edge": -0.01, "frequency": 1, "text": "flat"},
                       {"edge": -1.0, "frequency": 1, "text": "down"}],
}  # fmt: skip
PAPER: dict[str, Any] = {"daily_summary": False}
THRESHOLDS = {"buy_signal_threshold": 0.005, "sell_signal_threshold": -0.005}


def rows(scores: list[float | None], backfilled: list[bool]) -> list[dict[str, Any]]:
    base = ms("2024-03-30T12:00")
    return [{"symbol": "BTCUSDT", "timestamp": base + i * MINUTE, "close": 70_000.0, "trade_score": s,
             "backfilled": b} for i, (s, b) in enumerate(zip(scores, backfilled, strict=True))]  # fmt: skip


def test_backfilled_notifications_collapse_into_one_summary_per_batch() -> None:
    config = ScoreNotificationConfig.model_validate({**BANDS, "positive_bands": [
        {"edge": 0.01, "text": "flat"}, {"edge": 1.0, "frequency": 2, "text": "up"}]})  # fmt: skip
    scores: list[float | None] = [0.005, 0.02, 1.5, None, 1.6, -0.02, 0.005, 0.03, 0.03]
    flags = [False, True, True, True, True, True, True, False, False]
    # the oracle: the same candles all live (band state and the live candles' messages must match)
    live = ListSink()
    whole = ScoreNotifier(config, sink=live)
    for row in rows(scores, [False] * len(scores)):
        whole.send(row)
    caught_up = ListSink()
    notifier = ScoreNotifier(config, sink=caught_up)
    batch = rows(scores, flags)
    for row in batch[:7]:  # one tick: the catch-up, ended by the service
        notifier.send(row)
    notifier.end_batch()
    for row in batch[7:]:
        notifier.send(row)
    notifier.end_batch()
    assert notifier.state == whole.state
    summary = (
        "BTCUSDT: 6 backfilled candles 2024-03-30 12:01 .. 12:06 UTC, 4 band change(s) "
        "(12:01 ↑ flat, 12:02 ↑ up, 12:05 flat, 12:06 ↓ neutral); now score +0.005"
    )  # crossing zero is no arrow (up and down at once), as in the live message
    assert len(live.texts) == 5  # 12:01, 12:02, 12:05, 12:06, then 12:07 live
    assert caught_up.texts == [summary, live.texts[-1]]
    assert caught_up.keys[0] == f"score-backfill:BTCUSDT:{batch[1]['timestamp']}:{batch[6]['timestamp']}"
    # a batch whose candles would have said nothing sends nothing
    quiet = ListSink()
    calm = ScoreNotifier(config, sink=quiet)
    for row in rows([0.005, 0.006, 0.004], [False, True, True]):
        calm.send(row)
    calm.end_batch()
    assert quiet.texts == []


def paper_rows(backfilled: list[bool]) -> list[dict[str, Any]]:
    """Candles whose signals flip every two candles: a fill on most of them."""
    base = ms("2024-03-30T12:00")
    return [{"symbol": "BTCUSDT", "timestamp": base + i * MINUTE, "open": 70_000.0 + 10 * i,
             "close": 70_005.0 + 10 * i, "buy_signal": i % 4 < 2, "sell_signal": i % 4 >= 2, "backfilled": b}
            for i, b in enumerate(backfilled)]  # fmt: skip


def test_paper_fills_on_backfilled_candles_are_announced_once_in_a_summary(tmp_path: Path) -> None:
    simulate = SimulateConfig(fee=0.001, slippage=0.0)
    config = PaperTraderConfig.model_validate(PAPER)
    live_sink = ListSink()
    live = PaperTrader(config, "BTCUSDT", Storage(str(tmp_path / "live")), simulate, live_sink)
    for row in paper_rows([False] * 12):
        live.send(row)
    flags = [False] * 3 + [True] * 6 + [False] * 3
    sink = ListSink()
    first = PaperTrader(config, "BTCUSDT", Storage(str(tmp_path / "caught")), simulate, sink)
    rows = paper_rows(flags)
    for row in rows[:6]:
        first.send(row)  # killed mid-batch: the fills so far are in the state, not announced
    second = PaperTrader(config, "BTCUSDT", Storage(str(tmp_path / "caught")), simulate, sink)
    for row in rows[6:9]:
        second.send(row)
    second.end_batch()
    for row in rows[9:]:
        second.send(row)
    caught_up = [t for t in sink.texts if "fill(s) on backfilled candles" in t]
    assert len(caught_up) == 1 and caught_up[0].startswith("2024-03-30 12:03 paper BTCUSDT: 3 fill(s) on ")
    assert (
        caught_up[0]
        .split(" on backfilled candles ")[1]
        .startswith("2024-03-30 12:03 .. 12:07 UTC (1 buy, 2 sell)")
    )
    # the live candles' fills are announced one by one, as by a trader that never caught up
    assert [t for t in sink.texts if t not in caught_up] == [t for t in live_sink.texts if t[11:16] not in
                                                             ("12:03", "12:05", "12:07")]  # fmt: skip
    for name in ("ledger.json", "state.json"):
        path = Path("paper") / "BTCUSDT" / name
        assert (tmp_path / "caught" / path).read_text() == (tmp_path / "live" / path).read_text()


# ---- live: the fake exchange and Telegram ---------------------------------------------------------


@pytest.fixture(scope="module")
def klines() -> pl.DataFrame:
    return week_of_klines()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`itb run` on 12 days of the sample with signals at +-0.005 (the paper trader trades) and the
    outputs configured (the batch run ignores them)."""
    folder = tmp_path_factory.mktemp("faults")

    def edit(data: dict[str, Any]) -> None:
        data["signal_sets"][1]["config"]["parameters"] = THRESHOLDS
        data["output_sets"] = [
            {"generator": "score_notification_model", "config": BANDS},
            {"generator": "trader_simulation", "config": PAPER},
        ]

    train_twelve_days(folder / "config.json", folder / "data", edit)
    return folder / "config.json"


def private_copy(trained: Path, tmp_path: Path, **changes: Any) -> Path:
    return live_private_copy(trained, tmp_path, ("live", "paper"), **changes)


@pytest.fixture
def fake(klines: pl.DataFrame) -> Iterator[FakeBinance]:
    server = FakeBinance({("spot", "BTCUSDT"): klines}, START).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.slow
def test_a_late_candle_is_waited_for_and_never_taken_while_forming(
    trained: Path, fake: FakeBinance, tmp_path: Path
) -> None:
    config = private_copy(trained, tmp_path, output_sets=[])
    root = tmp_path / "data"
    late_s = 20.0  # exchange seconds: a third of a real second at the fast clock
    fake.late_ms = int(late_s * 1000)
    fake.run_clock(START, SPEED)
    service = Service(config, fake, tmp_path, "late")
    try:
        # the first tick may be slow (a cold start catches up backfilled candles after it)
        wait_for(lambda: logged(root).filter(~pl.col("backfilled")).height >= 5, timeout=60)
        assert service.terminate() == 0, service.stderr()
    finally:
        service.stop()
    frame = logged(root)
    assert_consecutive(frame)
    assert "the newest closed candle is not served yet; asking again" in service.stderr()
    live = frame.filter(~pl.col("backfilled")).slice(1)  # after the first (cold) tick
    # each live row was persisted only after the exchange published its candle (close + 20 s)
    assert (live["close_lag_ms"] >= late_s / SPEED * 1000).all(), live["close_lag_ms"].to_list()
    assert (live["close_lag_ms"] < late_s / SPEED * 1000 + 1500).all()  # asked again soon, not a candle later
    audit(config)  # the logged rows are the batch pipeline's: never a forming candle's values


@pytest.mark.slow
@pytest.mark.parametrize("status", ["429", "418"])
def test_the_exchanges_retry_after_is_waited_out(
    trained: Path, fake: FakeBinance, tmp_path: Path, status: str
) -> None:
    config = private_copy(trained, tmp_path, output_sets=[])
    root = tmp_path / "data"
    fake.run_clock(START, SPEED)
    service = Service(config, fake, tmp_path, "limited")
    retry_after = 1.5
    try:
        wait_for(lambda: logged(root).height >= 2, timeout=30)
        fault = fake.add_fault(status, path="/api/v3/", retry_after=retry_after)
        wait_for(lambda: fault.hits >= 1, timeout=15)
        wait_for(lambda: [s for _, s in fake.requests()][-1] == 200, timeout=15)
        resumed = int(logged(root)["timestamp"].max()) + MINUTE  # type: ignore[arg-type]
        wait_for(lambda: int(logged(root)["timestamp"].max()) >= resumed, timeout=15)  # type: ignore[arg-type]
        assert service.terminate() == 0, service.stderr()
    finally:
        service.stop()
    statuses = [s for _, s in fake.log]
    hit = statuses.index(int(status))
    waited = fake.log_times[hit + 1] - fake.log_times[hit]
    assert waited >= retry_after, f"asked again after {waited:.3f} s"
    assert waited < retry_after + 1.0
    assert_consecutive(logged(root))
    kind = "rate_limited" if status == "429" else "banned"
    assert f"exchange error ({kind})" in service.stderr()


@pytest.mark.slow
def test_kill_9_mid_tick_with_paper_trading_and_notifications(
    trained: Path, fake: FakeBinance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = {"telegram_bot_token": "env:TEST_TG_TOKEN", "telegram_chat_id": "env:TEST_TG_CHAT"}
    config = private_copy(trained, tmp_path, secrets=secrets)
    root = tmp_path / "data"
    with FakeTelegram(TOKEN) as tg:
        for name, value in {
            "ITB_TELEGRAM_API_URL": tg.url,
            "TEST_TG_TOKEN": TOKEN,
            "TEST_TG_CHAT": CHAT,
        }.items():
            monkeypatch.setenv(name, value)  # the service process inherits them
        fake.run_clock(START, SPEED)
        service = Service(config, fake, tmp_path, "first")
        try:
            wait_for(lambda: logged(root).height >= 4, timeout=30)
            stuck = fake.add_fault("slow", path="klines", delay=5.0)  # the next tick waits on the exchange
            wait_for(lambda: stuck.hits >= 1, timeout=15)
            service.kill()  # mid-tick: the klines request is in flight
            killed_at = int(logged(root)["timestamp"].max())  # type: ignore[arg-type]
            wait_for(lambda: fake.now() >= killed_at + 5 * MINUTE, timeout=15)
            service = Service(config, fake, tmp_path, "second")
            resumed = fake.now()
            wait_for(lambda: int(logged(root)["timestamp"].max()) >= resumed + 2 * MINUTE, timeout=30)  # type: ignore[arg-type]
            assert service.terminate() == 0, service.stderr()
        finally:
            service.stop()
        texts = tg.messages(CHAT)
    frame = logged(root)
    assert_consecutive(frame)
    # the candles that closed while no service ran (and the one killed mid-tick) were caught up
    missed = frame.filter(pl.col("timestamp") > killed_at).head(3)
    assert missed["backfilled"].all() and missed["timestamp"][0] == killed_at + MINUTE

    # Telegram: one summary per catch-up batch (a cold start's too), one message per live candle,
    # nothing twice, and no backfilled candle's own message.
    assert len(texts) == len(set(texts)), "a message was delivered twice"
    summary = re.compile(r"BTCUSDT: (\d+) backfilled candles (\S+ \S+) \.\. ")
    summaries = [m for m in map(summary.match, texts) if m is not None]
    assert utc_minute(killed_at + MINUTE) in [m.group(2) for m in summaries]
    assert sum(int(m.group(1)) for m in summaries) == int(frame["backfilled"].sum())
    scored = [t for t in texts if re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d ", t) and " paper " not in t]
    fills = [t for t in texts if " paper BTCUSDT " in t]  # the paper trader's, one per live fill
    caught_up_fills = [re.search(r" paper BTCUSDT: (\d+) fill\(s\) on backfilled candles ", t) for t in texts]
    for stamp in (
        frame.slice(1).filter(~pl.col("backfilled"))["timestamp"].to_list()
    ):  # the first has no band before it
        assert sum(t.startswith(utc_minute(stamp)) for t in scored) == 1, utc_minute(stamp)
    caught_up = frame.filter(pl.col("backfilled"))["timestamp"].to_list()
    assert not any(t.startswith(utc_minute(s)) for s in caught_up for t in scored)

    # Paper trading: the ledger and account of an uninterrupted trader over the same candles.
    opens = fake.data[("spot", "BTCUSDT")].select("timestamp", "open")
    delivered = frame.join(opens, on="timestamp", how="left").sort("timestamp")
    oracle_root = tmp_path / "oracle"
    oracle = PaperTrader(PaperTraderConfig.model_validate(PAPER), "BTCUSDT", Storage(str(oracle_root)),
                         load_config(config).simulate, ListSink())  # fmt: skip
    for row in delivered.iter_rows(named=True):
        oracle.send({"symbol": "BTCUSDT", **row})
    oracle.end_batch()
    for name in ("state.json", "ledger.json"):
        want, got = oracle_root / "paper" / "BTCUSDT" / name, root / "paper" / "BTCUSDT" / name
        assert got.exists() == want.exists(), name
        if want.exists():
            assert json.loads(got.read_text()) == json.loads(want.read_text()), name
    summarised = sum(int(m.group(1)) for m in caught_up_fills if m is not None)
    assert len(fills) + summarised == len(oracle.account.fills) >= 1  # each fill announced once
