"""How trader_binance is configured and controlled: dry run unless both `live: true` and `--live`
(the fake exchange proves no order was placed), bad config sections named by key path (exit 2),
`itb trade status|stop|resume`, and /status, /stop, /resume over HTTP with a token."""

from __future__ import annotations

import asyncio
import copy
import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from itb.cli.main import main
from itb.config.models import PipelineConfig
from itb.errors import ConfigError
from itb.secret_refs import redact
from itb.serve.health import start_health
from itb.serve.output_sets import configured_outputs
from itb.storage import Storage
from itb.trade.factory import TradingMode
from itb.trade.http import trade_routes
from itb.trade.journal import load_control
from itb.trade.trader import BinanceTrader

from tests.conftest import load_default_config, write_config
from tests.fakes.binance_server import FakeBinance
from tests.trade_driver import KLINES, MINUTE, START, deliver, make_trader, spot_exchange

SECRETS = {"binance_api_key": "env:TEST_BINANCE_KEY", "binance_api_secret": "env:TEST_BINANCE_SECRET"}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeBinance]:
    server = spot_exchange()
    monkeypatch.setenv("ITB_BINANCE_API_URL", server.url)
    monkeypatch.setenv("TEST_BINANCE_KEY", "fake-key")
    monkeypatch.setenv("TEST_BINANCE_SECRET", "fake-secret")
    yield server
    server.stop()


def config_data(root: Path, trader: dict[str, Any], secrets: dict[str, str] | None = None) -> dict[str, Any]:
    data = copy.deepcopy(load_default_config())
    data["data_root"] = str(root)
    data["secrets"] = dict(secrets if secrets is not None else SECRETS)
    data["output_sets"] = [{"generator": "trader_binance", "config": {"buy_signal_column": "buy", **trader}}]
    return data


def built_trader(data: dict[str, Any], mode: TradingMode) -> BinanceTrader:
    outputs = configured_outputs(PipelineConfig.model_validate(data), trading=mode)
    ((_, trader),) = outputs.outputs
    assert isinstance(trader, BinanceTrader)
    return trader


@pytest.mark.parametrize(
    ("trader", "live_flag", "secrets", "mode"),
    [
        ({}, False, None, "test-order"),  # the default: dry run through the test-order endpoint
        ({"live": True}, False, None, "test-order"),  # live in the config, but no --live
        ({}, True, None, "test-order"),  # --live, but not live in the config
        ({"live": True}, False, {}, "simulated"),  # no credentials: nothing reaches the exchange
        ({"live": True, "simulate_order_execution": True}, True, None, "simulated"),  # reference key
    ],
)
def test_without_both_flags_no_order_reaches_the_exchange(
    fake: FakeBinance,
    tmp_path: Path,
    trader: dict[str, Any],
    live_flag: bool,
    secrets: dict[str, str] | None,
    mode: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    built = built_trader(config_data(tmp_path, trader, secrets), TradingMode(live_flag=live_flag))
    try:
        assert built.venue.mode == mode
        deliver(built, fake, START, buy=True)
        deliver(built, fake, START + 1)
    finally:
        built.close()
    assert fake.spot.placed() == []
    tested = [c for c in fake.spot.calls if c == ("POST", "/api/v3/order/test")]
    assert len(tested) == (1 if mode == "test-order" else 0)
    assert "DRY RUN" in capsys.readouterr().out  # said at start-up
    assert built.status()["mode"] == mode and built.state.held_base > 0  # the simulated fill


def test_live_config_and_live_flag_place_a_real_order(fake: FakeBinance, tmp_path: Path) -> None:
    built = built_trader(config_data(tmp_path, {"live": True}), TradingMode(live_flag=True))
    try:
        assert built.venue.mode == "live"
        deliver(built, fake, START, buy=True)
    finally:
        built.close()
    assert len(fake.spot.placed()) == 1


def test_live_trading_without_credentials_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^secrets\.binance_api_key: "):
        built_trader(config_data(tmp_path, {"live": True}, {}), TradingMode(live_flag=True))


def test_a_replay_is_simulated_even_with_both_flags(tmp_path: Path) -> None:
    built = built_trader(config_data(tmp_path, {"live": True}), TradingMode(live_flag=True, replay=True))
    built.close()
    assert built.venue.mode == "simulated"


@pytest.mark.parametrize(
    ("trader", "where"),
    [
        ({"caps": {"max_order_notional": -5}}, "output_sets[0].config.caps.max_order_notional"),
        ({"order_timeout_candles": 0}, "output_sets[0].config.order_timeout_candles"),
        ({"shadow_mode": True}, "output_sets[0].config.shadow_mode"),
    ],
)
def test_a_bad_trader_config_names_its_key_path(tmp_path: Path, trader: dict[str, Any], where: str) -> None:
    with pytest.raises(ConfigError, match="^" + re.escape(where) + ": "):
        configured_outputs(PipelineConfig.model_validate(config_data(tmp_path, trader)))
    path = write_config(tmp_path / "config.json", config_data(tmp_path, trader))
    assert main(["serve", str(path), "--replay", "2024-01-02", "2024-01-03"]) == 2


def test_itb_trade_stop_status_resume(
    fake: FakeBinance, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "data"
    path = write_config(tmp_path / "config.json", config_data(root, {"live": True}))
    trader = make_trader(fake, root, limit_price_adjustment=0.05, order_timeout_candles=30)
    try:
        deliver(trader, fake, START, buy=True)
    finally:
        trader.close()
    capsys.readouterr()
    assert main(["trade", "status", str(path), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert set(status) >= {"state", "position", "open_orders", "orders_today", "pnl_today"}
    assert status["state"] == "running" and status["orders_today"] == 1
    assert status["position"] == {"base": 0.0, "quote": 1000.0, "held": 0.0}
    assert [o["side"] for o in status["open_orders"]] == ["BUY"]
    assert main(["trade", "stop", str(path), "--reason", "maintenance"]) == 0
    assert "stopped (maintenance)" in capsys.readouterr().out
    assert load_control(Storage(str(root)), "BTCUSDT").state == "stopped"
    assert main(["trade", "resume", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["state"] == "running"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_http_stop_needs_the_token_and_cancels_open_orders(fake: FakeBinance, tmp_path: Path) -> None:
    trader = make_trader(fake, tmp_path, limit_price_adjustment=0.05, order_timeout_candles=30)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"

    async def scenario() -> tuple[int, int, dict[str, Any], dict[str, Any]]:
        runner = await start_health(lambda: (True, ""), lambda: True, "127.0.0.1", port,
                                    extra=trade_routes([trader], "s3cret-token"))  # fmt: skip
        try:
            async with aiohttp.ClientSession() as http:
                denied = await http.post(f"{base}/stop", headers={"Authorization": "Bearer wrong"})
                anonymous = await http.get(f"{base}/status")
                auth = {"Authorization": "Bearer s3cret-token"}
                stopped = await (await http.post(f"{base}/stop", headers=auth)).json()
                resumed = await (await http.post(f"{base}/resume", headers=auth)).json()
                return denied.status, anonymous.status, stopped, resumed
        finally:
            await runner.cleanup()

    try:
        deliver(trader, fake, START, buy=True)
        fake.now_ms = int(KLINES["timestamp"][START]) + 2 * MINUTE
        denied, anonymous, stopped, resumed = asyncio.run(scenario())
    finally:
        trader.close()
    assert (denied, anonymous) == (401, 401)
    (order,) = fake.spot.placed()
    assert order.status == "CANCELED"
    assert stopped["traders"][0]["state"] == "stopped" and stopped["traders"][0]["open_orders"] == []
    assert resumed["traders"][0]["state"] == "running"


def test_the_api_key_and_secret_are_masked_in_logs_while_the_trader_holds_them(
    fake: FakeBinance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_BINANCE_KEY", "key-0123456789abcdef")
    monkeypatch.setenv("TEST_BINANCE_SECRET", "secret-0123456789abcdef")
    line = "signed with key-0123456789abcdef and secret-0123456789abcdef"
    assert redact(line) == line  # no scope knows them yet
    trader = built_trader(config_data(tmp_path, {}), TradingMode())
    try:
        assert redact(line) == "signed with *** and ***"
    finally:
        trader.close()
    assert redact(line) == line  # the scope left with the trader
