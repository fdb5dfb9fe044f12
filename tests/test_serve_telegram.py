"""Telegram delivery against a fake Bot API on 127.0.0.1: every message once and in order through
429s, 5xx and dropped connections; the outbox survives a restart; the token never shows."""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from itb.config.models import PipelineConfig
from itb.serve.live_log import LiveLog
from itb.serve.messages import ListSink
from itb.serve.output_sets import configured_outputs
from itb.serve.score_notification import ScoreNotificationConfig, ScoreNotifier
from itb.serve.telegram import OUTBOX, RetryPolicy, TelegramSink, message_id
from itb.storage import Storage

from tests.conftest import itb, load_default_config, write_config
from tests.fakes.telegram_server import FakeTelegram
from tests.polling import wait_for

TOKEN = "123456789:AAH-fake-token-that-must-never-show"
CHAT = "4242"
FAST = RetryPolicy(first_backoff=0.05, max_backoff=0.2)


@pytest.fixture
def tg() -> Any:
    with FakeTelegram(TOKEN) as server:
        yield server


def sink(root: Path, url: str, **kwargs: Any) -> TelegramSink:
    return TelegramSink(Storage(str(root)), TOKEN, CHAT, base_url=url, policy=FAST, **kwargs)


def outbox_files(root: Path) -> list[Path]:
    return sorted(p for p in (root / OUTBOX).glob("*.json") if p.stem.isdigit())


def test_messages_are_delivered_once_in_order(tg: FakeTelegram, tmp_path: Path) -> None:
    out = sink(tmp_path, tg.url)
    texts = [f"message {i}" for i in range(6)]
    for i, text in enumerate(texts):
        out.post(text, f"k{i}")
    out.post(texts[0], "k0")  # made again (a candle processed twice): the same message
    assert out.flush(20)
    out.post(texts[1], "k1")  # already confirmed: not sent again
    out.close()
    assert tg.messages(CHAT) == texts
    assert outbox_files(tmp_path) == []
    assert json.loads((tmp_path / OUTBOX / "sent.json").read_text()) == [
        message_id(f"k{i}", t) for i, t in enumerate(texts)
    ]


def test_429_is_waited_out_and_every_message_arrives_once_in_order(tg: FakeTelegram, tmp_path: Path) -> None:
    tg.add_fault("429", times=2, retry_after=1)
    out = sink(tmp_path, tg.url)
    texts = [f"band change {i}" for i in range(8)]
    for i, text in enumerate(texts):
        out.post(text, f"k{i}")
    assert out.flush(30)
    out.close()
    assert tg.messages(CHAT) == texts
    statuses = [status for method, status in tg.requests if method == "sendMessage"]
    assert statuses[:2] == [429, 429] and statuses[2:] == [200] * len(texts)
    # each retry came no sooner than the retry_after the server asked for
    assert tg.send_times[1] - tg.send_times[0] >= 0.95
    assert tg.send_times[2] - tg.send_times[1] >= 0.95


def test_5xx_and_dropped_connections_are_retried_with_backoff(tg: FakeTelegram, tmp_path: Path) -> None:
    tg.add_fault("500")
    tg.add_fault("502")
    tg.add_fault("drop")
    out = sink(tmp_path, tg.url)
    texts = ["a", "b", "c"]
    for text in texts:
        out.post(text, text)
    assert out.flush(30)
    out.close()
    assert tg.messages(CHAT) == texts
    statuses = [status for method, status in tg.requests if method == "sendMessage"]
    assert statuses == [500, 502, "drop", 200, 200, 200]
    waits = [b - a for a, b in zip(tg.send_times, tg.send_times[1:4], strict=False)]
    assert waits[0] >= 0.045 and waits[1] >= 0.095  # doubling from first_backoff


def test_backoff_is_bounded() -> None:
    policy = RetryPolicy(first_backoff=0.5, max_backoff=30)
    assert [policy.backoff(n) for n in (1, 2, 3)] == [0.5, 1.0, 2.0]
    assert policy.backoff(50) == 30


def test_a_rejected_message_is_kept_aside_and_does_not_block_the_rest(
    tg: FakeTelegram, tmp_path: Path
) -> None:
    tg.add_fault("400")
    out = sink(tmp_path, tg.url)
    for text in ["bad", "good"]:
        out.post(text, text)
    assert out.flush(20)
    out.close()
    assert tg.messages(CHAT) == ["good"]
    failed = [json.loads(p.read_text()) for p in (tmp_path / OUTBOX / "failed").glob("*.json")]
    assert [f["text"] for f in failed] == ["bad"] and "parse entities" in failed[0]["reason"]


def test_pending_messages_survive_a_restart_and_are_sent_once(tg: FakeTelegram, tmp_path: Path) -> None:
    tg.add_fault("500", times=1000)  # Telegram down for the whole first run
    first = sink(tmp_path, tg.url, flush_timeout=0.3)
    texts = [f"pending {i}" for i in range(4)]
    for i, text in enumerate(texts):
        first.post(text, f"k{i}")
    first.close()
    assert tg.messages(CHAT) == []
    files = outbox_files(tmp_path)
    assert [json.loads(p.read_text())["text"] for p in files] == texts
    assert all(TOKEN not in p.read_text() for p in (tmp_path / OUTBOX).rglob("*") if p.is_file())

    with FakeTelegram(TOKEN) as up:  # Telegram is back; the service restarts
        second = sink(tmp_path, up.url)
        second.post(texts[1], "k1")  # the restarted service makes one of them again
        second.post("new", "k9")
        wait_for(lambda: len(up.messages(CHAT)) >= 5, timeout=20)
        second.close()
        assert up.messages(CHAT) == [*texts, "new"]
    assert outbox_files(tmp_path) == []


def test_the_token_never_shows_in_logs_or_error_text(
    tg: FakeTelegram, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "telegram"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    wrong = "987654321:AAH-another-token-rejected-by-the-server"
    rejected = TelegramSink(Storage(str(tmp_path / "a")), wrong, CHAT, base_url=tg.url, policy=FAST,
                            flush_timeout=0.3)  # fmt: skip
    rejected.post("never delivered", "k")
    rejected.close()
    tg.add_fault("drop")
    out = sink(tmp_path / "b", tg.url)
    out.post("delivered", "k")
    assert out.flush(20)
    out.close()
    assert "Unauthorized" in caplog.text and "Server disconnected" in caplog.text  # the failures were logged
    assert wrong not in caplog.text and TOKEN not in caplog.text
    assert (
        out.masked(f"POST {tg.url}/bot{TOKEN}/sendMessage failed")
        == f"POST {tg.url}/bot***/sendMessage failed"
    )
    for path in tmp_path.rglob("*"):
        assert not path.is_file() or (TOKEN not in path.read_text() and wrong not in path.read_text())


def test_score_messages_go_to_telegram_when_the_secrets_are_configured(
    tg: FakeTelegram, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ITB_TELEGRAM_API_URL", tg.url)
    monkeypatch.setenv("TEST_TG_TOKEN", TOKEN)
    monkeypatch.setenv("TEST_TG_CHAT", CHAT)
    bands = {
        "score_column_names": ["trade_score"],
        "positive_bands": [{"edge": 0.02, "text": "calm"}, {"edge": 1.0, "text": "buy zone"}],
        "negative_bands": [{"edge": -0.02, "text": "calm"}, {"edge": -1.0, "text": "sell zone"}],
    }
    data = {**load_default_config(), "data_root": str(tmp_path),
            "secrets": {"telegram_bot_token": "env:TEST_TG_TOKEN", "telegram_chat_id": "env:TEST_TG_CHAT"},
            "output_sets": [{"generator": "score_notification_model", "config": bands}]}  # fmt: skip
    built = configured_outputs(PipelineConfig.model_validate(data))
    assert isinstance(built.sink, TelegramSink)
    (_, notifier), *_ = built.outputs
    for i, score in enumerate([0.01, 1.5, 0.01, -1.5]):  # neutral, buy zone, neutral, sell zone
        notifier.send({"symbol": "BTCUSDT", "timestamp": 1_711_756_800_000 + i * 60_000, "close": 70_000.0,
                       "trade_score": score})  # fmt: skip
    built.close()
    sent = tg.messages(CHAT)
    assert len(sent) == 3 and "buy zone" in sent[0] and "sell zone" in sent[2]

    data["secrets"] = {}
    console = configured_outputs(PipelineConfig.model_validate(data))
    assert not isinstance(console.sink, TelegramSink)
    console.close()


def test_itb_serve_replay_sends_its_messages_to_telegram(tg: FakeTelegram, tmp_path: Path) -> None:
    """End to end: `itb serve --replay` with the Telegram secrets delivers the band messages of the
    logged rows, each once, through a 429 and a 502, and neither output nor outbox shows the token."""
    bands = {
        "score_column_names": ["trade_score"],
        "positive_bands": [{"edge": 0.02, "text": "flat"}, {"edge": 0.05, "frequency": 30, "text": "up"}],
        "negative_bands": [{"edge": -0.02, "text": "flat"}, {"edge": -0.05, "frequency": 30, "text": "down"}],
    }
    data = copy.deepcopy(load_default_config())
    data["data_root"] = str(tmp_path / "data")
    data["merge"] = {"gaps": "fill", "start": "2024-03-09T00:00:00Z", "end": "2024-04-01T00:00:00Z"}
    data["train"]["algorithms"][0]["params"] = {"num_boost_round": 30}
    data["output_sets"] = [{"generator": "score_notification_model", "config": bands}]
    data["secrets"] = {"telegram_bot_token": "env:TEST_TG_TOKEN", "telegram_chat_id": "env:TEST_TG_CHAT"}
    env = {"ITB_FSYNC": "0", "ITB_TELEGRAM_API_URL": tg.url, "TEST_TG_TOKEN": TOKEN, "TEST_TG_CHAT": CHAT}
    path = write_config(tmp_path / "config.json", data)
    trained = itb("run", str(path), "--backend", "inprocess", env=env)
    assert trained.returncode == 0, trained.stderr
    assert tg.messages(CHAT) == []  # the batch run sends nothing

    tg.add_fault("429", retry_after=1)
    tg.add_fault("502")
    sent = itb("serve", str(path), "--replay", "2024-03-31", "2024-04-01", "--quiet", env=env)
    assert sent.returncode == 0, sent.stderr
    # the oracle: the same notifier over the rows the service logged
    expected = ListSink()
    notifier = ScoreNotifier(ScoreNotificationConfig.model_validate(bands), sink=expected)
    for row in (
        LiveLog(Storage(str(tmp_path / "data")), "BTCUSDT").read_day("2024-03-31").iter_rows(named=True)
    ):
        notifier.send({"symbol": "BTCUSDT", **row})
    assert len(expected.texts) >= 3
    assert tg.messages(CHAT) == expected.texts
    assert not any(text in sent.stdout for text in expected.texts)  # delivered, not printed
    assert TOKEN not in sent.stdout + sent.stderr
    assert outbox_files(tmp_path / "data") == []
