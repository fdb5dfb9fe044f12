"""trader_binance against the fake exchange (tests/fakes/binance_spot.py) through the real
python-binance AsyncClient: a buy/sell cycle, a partial fill then cancel, a timeout after the order
was accepted, restarts (an open order, a fill while down, an unexplained balance), the caps, the kill
switch across a restart, the order faults. The fake's clock is set candle by candle (no waits)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from itb.serve.messages import ListSink
from itb.storage import Storage
from itb.trade.journal import Control, load_control, load_state, save_control
from itb.trade.orders import OrderStatus

from tests.fakes.binance_server import FakeBinance
from tests.trade_driver import KLINES, START, balances, deliver, make_trader, spot_exchange


@pytest.fixture
def fake() -> Iterator[FakeBinance]:
    server = spot_exchange()
    yield server
    server.stop()


def test_a_buy_and_a_sell_fill_and_the_journal_matches_the_exchange(
    fake: FakeBinance, tmp_path: Path
) -> None:
    sink = ListSink()
    trader = make_trader(fake, tmp_path, sink)
    try:
        deliver(trader, fake, START, buy=True)
        (order,) = fake.spot.placed()
        close = Decimal(repr(float(KLINES["close"][START])))
        assert (order.side, order.price, order.status) == ("BUY", close, "NEW")
        assert order.qty == (Decimal(990) / close).quantize(Decimal("0.00001"), rounding="ROUND_FLOOR")
        deliver(trader, fake, START + 1)
        assert order.status == "FILLED"
        deliver(trader, fake, START + 2, sell=True)
        sell = fake.spot.placed()[1]
        assert sell.side == "SELL" and sell.qty == (order.qty * Decimal("0.999")).quantize(
            Decimal("0.00001"), rounding="ROUND_FLOOR"
        )
        deliver(trader, fake, START + 3)
        assert sell.status == "FILLED"
    finally:
        trader.close()
    state = load_state(Storage(str(tmp_path)), "BTCUSDT")
    assert state is not None and state.quote is not None
    assert (state.base, state.quote) == balances(fake)  # the trader's books are the exchange's
    assert [o.status for o in state.orders] == [OrderStatus.FILLED, OrderStatus.FILLED]
    # Realised PnL: the quote gained, plus the cost of the dust left (less than a step).
    dust_cost = state.cost_quote
    assert state.pnl_today == state.quote - Decimal(1000) + dust_cost
    assert sum("filled" in t for t in sink.texts) == 2


def test_a_partial_fill_is_kept_when_the_timeout_cancels_the_rest(fake: FakeBinance, tmp_path: Path) -> None:
    # A third of the order in the next candle's share of volume: a partial fill.
    wanted = 990 / float(KLINES["close"][START]) / 3
    fake.spot.participation = wanted / float(KLINES["volume"][START + 1])
    trader = make_trader(fake, tmp_path, order_timeout_candles=1)
    try:
        deliver(trader, fake, START, buy=True)
        deliver(trader, fake, START + 1)
    finally:
        trader.close()
    (order,) = fake.spot.placed()
    assert order.status == "CANCELED" and 0 < order.executed < order.qty
    state = load_state(Storage(str(tmp_path)), "BTCUSDT")
    assert state is not None
    (journal,) = state.orders
    assert journal.status == OrderStatus.CANCELLED and journal.executed == order.executed
    assert journal.note == "timeout"
    assert state.held_base == order.executed * Decimal("0.999")
    assert (state.base, state.quote) == balances(fake)


@pytest.mark.parametrize("fault", ["timeout_after_accept", "500"])
def test_an_order_whose_answer_is_lost_is_placed_once(fake: FakeBinance, tmp_path: Path, fault: str) -> None:
    """Accepted then no answer in time: read back by client id. Failed before acceptance: sent again
    with the same id. Either way one order on the exchange, and the journal knows it."""
    fake.spot.add_fault(fault, delay=1.0)
    trader = make_trader(fake, tmp_path, timeout_s=0.3)
    try:
        deliver(trader, fake, START, buy=True)
    finally:
        trader.close()
    placed = fake.spot.placed()
    assert len(placed) == 1
    state = load_state(Storage(str(tmp_path)), "BTCUSDT")
    assert state is not None
    (order,) = state.orders
    assert order.client_id == placed[0].client_id and order.status == OrderStatus.NEW
    assert order.exchange_id == placed[0].order_id


def test_a_restart_adopts_an_open_order_and_a_fill_that_happened_while_down(
    fake: FakeBinance, tmp_path: Path
) -> None:
    trader = make_trader(fake, tmp_path, order_timeout_candles=30)
    deliver(trader, fake, START, buy=True)
    trader.close()
    # Down for five candles: the order filled meanwhile (the fake matched it against them).
    restarted = make_trader(fake, tmp_path, order_timeout_candles=30)
    try:
        deliver(restarted, fake, START + 5, buy=True)  # a buy signal again: already holding, no order
    finally:
        restarted.close()
    (order,) = fake.spot.placed()
    assert order.status == "FILLED"
    state = load_state(Storage(str(tmp_path)), "BTCUSDT")
    assert state is not None
    assert state.orders[0].status == OrderStatus.FILLED and state.orders[0].booked == order.qty
    assert (state.base, state.quote) == balances(fake)
    assert load_control(Storage(str(tmp_path)), "BTCUSDT").state == "running"


def test_a_restart_keeps_an_open_order_open_and_places_no_second(fake: FakeBinance, tmp_path: Path) -> None:
    trader = make_trader(fake, tmp_path, limit_price_adjustment=0.05, order_timeout_candles=30)
    deliver(trader, fake, START, buy=True)  # 5 % below the close: does not fill
    trader.close()
    restarted = make_trader(fake, tmp_path, limit_price_adjustment=0.05, order_timeout_candles=30)
    try:
        deliver(restarted, fake, START + 2, buy=True)
    finally:
        restarted.close()
    (order,) = fake.spot.placed()
    assert order.status == "NEW"
    state = load_state(Storage(str(tmp_path)), "BTCUSDT")
    assert state is not None and [o.status for o in state.orders] == [OrderStatus.NEW]


def test_an_unexplained_balance_stops_trading(fake: FakeBinance, tmp_path: Path) -> None:
    sink = ListSink()
    trader = make_trader(fake, tmp_path, sink)
    deliver(trader, fake, START)
    trader.close()
    fake.spot.balances["USDT"] += Decimal(250)  # a transfer the journal cannot explain
    restarted = make_trader(fake, tmp_path, sink)
    try:
        deliver(restarted, fake, START + 1, buy=True)
    finally:
        restarted.close()
    assert fake.spot.placed() == []
    control = load_control(Storage(str(tmp_path)), "BTCUSDT")
    assert control.state == "stopped" and "USDT balance 1250" in control.reason
    assert any("trading STOPPED" in t for t in sink.texts)


@pytest.mark.parametrize(
    ("caps", "cap"),
    [
        ({"max_order_notional": 100}, "max_order_notional"),
        ({"max_position_notional": 500}, "max_position_notional"),
        ({"min_free_quote": 50}, "min_free_quote"),
    ],
)
def test_a_buy_over_a_cap_is_refused_logged_and_notified(
    fake: FakeBinance, tmp_path: Path, caps: dict[str, float], cap: str
) -> None:
    sink = ListSink()
    trader = make_trader(fake, tmp_path, sink, caps=caps)
    try:
        deliver(trader, fake, START, buy=True)
    finally:
        trader.close()
    assert fake.spot.placed() == []
    assert any(f"refused by {cap}" in t for t in sink.texts)


def test_max_orders_per_day_refuses_the_order_after_the_cap(fake: FakeBinance, tmp_path: Path) -> None:
    sink = ListSink()
    trader = make_trader(fake, tmp_path, sink, caps={"max_orders_per_day": 1})
    try:
        deliver(trader, fake, START, buy=True)
        deliver(trader, fake, START + 1)
        deliver(trader, fake, START + 2, sell=True)
    finally:
        trader.close()
    assert [o.side for o in fake.spot.placed()] == ["BUY"]
    assert any("refused by max_orders_per_day" in t for t in sink.texts)


def test_the_kill_switch_survives_a_restart_and_cancels_open_orders(
    fake: FakeBinance, tmp_path: Path
) -> None:
    storage = Storage(str(tmp_path))
    trader = make_trader(fake, tmp_path, limit_price_adjustment=0.05, order_timeout_candles=30)
    deliver(trader, fake, START, buy=True)
    trader.close()
    save_control(storage, "BTCUSDT", Control(state="stopped", reason="test", by="cli"))
    restarted = make_trader(fake, tmp_path, limit_price_adjustment=0.05, order_timeout_candles=30)
    try:
        deliver(restarted, fake, START + 1, buy=True)
        (order,) = fake.spot.placed()
        assert order.status == "CANCELED"  # stopped: open orders cancelled, no new one
        deliver(restarted, fake, START + 2, buy=True)
        assert len(fake.spot.placed()) == 1
        restarted.resume_trading("test")
        deliver(restarted, fake, START + 3, buy=True)
    finally:
        restarted.close()
    assert len(fake.spot.placed()) == 2
    assert restarted.status()["state"] == "running"


def test_an_insufficient_balance_answer_rejects_the_order_and_says_so(
    fake: FakeBinance, tmp_path: Path
) -> None:
    fake.spot.add_fault("-2010")
    sink = ListSink()
    trader = make_trader(fake, tmp_path, sink)
    try:
        deliver(trader, fake, START, buy=True)
    finally:
        trader.close()
    assert fake.spot.placed() == []
    state = load_state(Storage(str(tmp_path)), "BTCUSDT")
    assert state is not None and [o.status for o in state.orders] == [OrderStatus.REJECTED]
    assert "insufficient balance" in state.orders[0].note
    assert any("BUY rejected" in t for t in sink.texts)


def test_a_timestamp_refusal_resyncs_the_clock_and_places_the_order(
    fake: FakeBinance, tmp_path: Path
) -> None:
    fake.spot.add_fault("-1021")
    trader = make_trader(fake, tmp_path)
    try:
        deliver(trader, fake, START, buy=True)
    finally:
        trader.close()
    assert len(fake.spot.placed()) == 1
    # The clock is read once per candle, and once more after the refusal.
    assert len(fake.requests("/api/v3/time")) == 2


def test_a_ban_is_waited_out_without_a_request_then_the_next_candle_reconciles_and_trades(
    fake: FakeBinance, tmp_path: Path
) -> None:
    fake.spot.add_fault("418")  # the fake answers with Retry-After: 2
    trader = make_trader(fake, tmp_path)
    try:
        deliver(trader, fake, START, buy=True)
        banned_at = time.monotonic()
        assert fake.spot.placed() == []
        requests = len(fake.requests())
        deliver(trader, fake, START + 1, buy=True)  # within the ban: nothing may reach the exchange
        assert time.monotonic() - banned_at < 1.5, "the test machine was too slow to check the ban"
        assert len(fake.requests()) == requests and fake.spot.placed() == []
        time.sleep(max(0.0, 2.05 - (time.monotonic() - banned_at)))
        deliver(trader, fake, START + 2, buy=True)
    finally:
        trader.close()
    (order,) = fake.spot.placed()
    state = load_state(Storage(str(tmp_path)), "BTCUSDT")
    assert state is not None
    first, second = state.orders  # the candle inside the ban stopped before making an order
    assert first.status == OrderStatus.REJECTED and first.note == "never reached the exchange"
    assert second.client_id == order.client_id and second.candle_ms == int(KLINES["timestamp"][START + 2])
    assert load_control(Storage(str(tmp_path)), "BTCUSDT").state == "running"


def test_a_fill_that_races_the_timeout_cancel_is_booked(fake: FakeBinance, tmp_path: Path) -> None:
    trader = make_trader(fake, tmp_path, limit_price_adjustment=0.05, order_timeout_candles=1)
    try:
        deliver(trader, fake, START, buy=True)  # 5 % below the close: the candles never fill it
        fake.spot.add_fault("fill_first", method="DELETE")
        deliver(trader, fake, START + 1)  # the timeout's cancel finds the order filled
    finally:
        trader.close()
    (order,) = fake.spot.placed()
    assert order.status == "FILLED"
    state = load_state(Storage(str(tmp_path)), "BTCUSDT")
    assert state is not None
    assert state.orders[0].status == OrderStatus.FILLED and state.orders[0].note == "timeout"
    assert state.held_base == order.qty * Decimal("0.999")
    assert (state.base, state.quote) == balances(fake)
    assert load_control(Storage(str(tmp_path)), "BTCUSDT").state == "running"


def test_quiet_candles_cost_one_order_read_and_no_journal_write(fake: FakeBinance, tmp_path: Path) -> None:
    """The weight budget of a quiet minute: after the first candle (clock, filters, reconciliation),
    a candle with an open order and no signal reads that order once, asks nothing else (the clock
    offset is measured every 10 minutes, not every candle) and writes nothing; while stopped,
    candles with nothing to cancel write nothing either. The fake's clock stays where it is (rows
    are handed over directly), so the exchange and the local clock do not drift apart."""
    storage = Storage(str(tmp_path))
    trader = make_trader(fake, tmp_path, limit_price_adjustment=0.05, order_timeout_candles=30)

    def quietly(i: int) -> None:
        trader.send({**KLINES.row(i, named=True), "buy": False, "sell": False})

    try:
        deliver(trader, fake, START, buy=True)  # an order far below the market: stays open
        assert sum(path.endswith("/openOrders") for _, path in fake.spot.calls) == 1  # reconciliation
        clock = [entry for entry in fake.log if entry[0].endswith("/api/v3/time")]
        journal = tmp_path / "trade" / "BTCUSDT" / "journal.json"
        written = journal.stat().st_mtime_ns
        for minute in range(1, 4):
            before = len(fake.spot.calls)
            quietly(START + minute)
            quiet = fake.spot.calls[before:]
            assert [(method, path.rsplit("/", 1)[-1]) for method, path in quiet] == [("GET", "order")]
        assert len([e for e in fake.log if e[0].endswith("/api/v3/time")]) == len(clock) == 1
        assert journal.stat().st_mtime_ns == written  # nothing changed: not written again
        save_control(storage, "BTCUSDT", Control(state="stopped", reason="test", by="cli"))
        quietly(START + 4)  # cancels the open order: written once
        state = load_state(storage, "BTCUSDT")
        assert state is not None and not state.open_orders()
        written = journal.stat().st_mtime_ns
        quietly(START + 5)  # stopped, nothing open: nothing to write
        assert journal.stat().st_mtime_ns == written
    finally:
        trader.close()
