"""The trader's pure parts: filter rounding (checked against exact decimal arithmetic on every tick
of a range), client order ids, the order state machine, the caps, booking and reconciliation."""

from __future__ import annotations

from decimal import Decimal

import pytest
from itb.trade.book import balance_problems, book_fills, plan_candle, reconcile_orders
from itb.trade.caps import Exposure, OrderIntent, check_caps
from itb.trade.config import Caps, TraderBinanceConfig
from itb.trade.filters import SymbolFilters, order_problem, round_price, round_qty
from itb.trade.ids import VALID, client_order_id
from itb.trade.journal import TradeState
from itb.trade.orders import IllegalTransition, Order, OrderStatus, Report, apply_report

from tests.fakes.binance_spot import SpotBook

F = SymbolFilters.default_for("BTCUSDT")


def test_filters_are_read_from_the_fakes_exchange_info() -> None:
    info = SpotBook({"BTCUSDT": None}, {}).exchange_info(0)  # type: ignore[dict-item]
    assert SymbolFilters.from_exchange_info(info, "BTCUSDT") == F
    with pytest.raises(KeyError):
        SymbolFilters.from_exchange_info(info, "ETHUSDT")


def test_rounding_lands_on_the_grid_on_the_safe_side() -> None:
    for cents in range(4_500_000, 4_500_300):
        price = Decimal(cents) / 100 + Decimal("0.004")  # between two ticks
        buy, sell = round_price(price, F.tick_size, "BUY"), round_price(price, F.tick_size, "SELL")
        assert buy == Decimal(cents) / 100 and sell == buy + F.tick_size
        assert buy % F.tick_size == 0 and sell % F.tick_size == 0
    assert round_qty(Decimal("0.0219999"), F.step_size) == Decimal("0.02199")
    assert round_price(Decimal("45000.01"), F.tick_size, "BUY") == Decimal("45000.01")  # on the grid: kept


def test_order_problem_names_the_filter() -> None:
    assert order_problem(Decimal("45000"), Decimal("0.0001"), F) == (
        "notional 4.50 below the minimum 5 (NOTIONAL)"
    )
    assert "LOT_SIZE" in (order_problem(Decimal("45000"), Decimal("0.000001"), F) or "")
    assert order_problem(Decimal("45000"), Decimal("0.001"), F) is None


def test_client_order_ids_are_stable_distinct_and_valid() -> None:
    a = client_order_id("BTCUSDT", 1704157200000, "BUY", 0)
    assert a == client_order_id("BTCUSDT", 1704157200000, "BUY", 0)
    others = {
        client_order_id("BTCUSDT", 1704157260000, "BUY", 0),
        client_order_id("BTCUSDT", 1704157200000, "SELL", 0),
        client_order_id("BTCUSDT", 1704157200000, "BUY", 1),
        client_order_id("ETHUSDT", 1704157200000, "BUY", 0),
    }
    assert a not in others and len(others) == 4
    assert all(VALID.match(i) for i in {a, *others})


def order(**update: object) -> Order:
    base = Order(client_id="itb-x-b0", symbol="BTCUSDT", side="BUY", price=Decimal(100), qty=Decimal(2),
                 candle_ms=0, status=OrderStatus.NEW)  # fmt: skip
    return base.model_copy(update=update)


def report(status: OrderStatus, executed: str, quote: str = "0") -> Report:
    return Report(client_id="itb-x-b0", status=status, exchange_id=7, executed=Decimal(executed),
                  quote=Decimal(quote))  # fmt: skip


def test_the_state_machine_moves_forward_only() -> None:
    partial = apply_report(order(), report(OrderStatus.PARTIALLY_FILLED, "1", "100"))
    assert partial.status == OrderStatus.PARTIALLY_FILLED and partial.exchange_id == 7
    done = apply_report(partial, report(OrderStatus.CANCELLED, "1", "100"))
    assert done.status.final
    with pytest.raises(IllegalTransition, match="went back"):
        apply_report(partial, report(OrderStatus.NEW, "0"))
    with pytest.raises(IllegalTransition, match="is final"):
        apply_report(done, report(OrderStatus.FILLED, "2", "200"))


def exposure(**update: object) -> Exposure:
    values: dict[str, object] = {"held_base": Decimal(0), "free_quote": Decimal(1000), "orders_today": 0,
                                 "pnl_today": Decimal(0), **update}  # fmt: skip
    return Exposure(**values)  # type: ignore[arg-type]


BUY = OrderIntent("BUY", Decimal(100), Decimal(5), "signal")  # notional 500


@pytest.mark.parametrize(
    ("caps", "state", "cap"),
    [
        ({"max_order_notional": 499}, {}, "max_order_notional"),
        ({"max_position_notional": 600}, {"held_base": Decimal(2)}, "max_position_notional"),
        ({"max_orders_per_day": 3}, {"orders_today": 3}, "max_orders_per_day"),
        ({"daily_loss_limit": 20}, {"pnl_today": Decimal(-20)}, "daily_loss_limit"),
        ({"min_free_quote": 501}, {}, "min_free_quote"),
    ],
)
def test_each_cap_refuses_a_buy_at_its_limit_and_allows_it_below(
    caps: dict[str, float], state: dict[str, object], cap: str
) -> None:
    refusal = check_caps(BUY, exposure(**state), Caps.model_validate(caps))
    assert refusal is not None and refusal.cap == cap
    smaller = OrderIntent("BUY", Decimal(100), Decimal(4), "signal")  # notional 400
    assert check_caps(smaller, exposure(), Caps.model_validate(caps)) is None


def test_sells_pass_the_risk_caps_and_a_stop_loss_passes_all() -> None:
    caps = Caps(max_order_notional=1, daily_loss_limit=1, max_orders_per_day=1)
    tired = exposure(orders_today=1, pnl_today=Decimal(-50))
    sell = OrderIntent("SELL", Decimal(100), Decimal(5), "signal")
    refusal = check_caps(sell, tired, caps)
    assert refusal is not None and refusal.cap == "max_orders_per_day"
    assert check_caps(OrderIntent("SELL", Decimal(100), Decimal(5), "stop_loss"), tired, caps) is None


def test_booking_a_round_trip_realises_the_pnl_with_fees() -> None:
    state = TradeState(symbol="BTCUSDT", base=Decimal(0), quote=Decimal(1000))
    buy = order(status=OrderStatus.FILLED, executed=Decimal(2), quote=Decimal(200))
    buy = book_fills(state, buy, Decimal("0.002"), Decimal(0))
    assert (state.held_base, state.cost_quote, state.quote) == (Decimal("1.998"), Decimal(200), Decimal(800))
    assert book_fills(state, buy, Decimal("0.002"), Decimal(0)) == buy  # booked once
    sell = order(client_id="itb-x-s0", side="SELL", price=Decimal(110), qty=Decimal("1.998"),
                 status=OrderStatus.FILLED, executed=Decimal("1.998"), quote=Decimal("219.78"))  # fmt: skip
    book_fills(state, sell, Decimal(0), Decimal("0.21978"))
    assert state.held_base == 0 and state.quote == Decimal(1000) + state.pnl_today
    assert state.pnl_today == Decimal("219.78") - Decimal("0.21978") - 200


def test_stop_loss_sells_on_the_close_below_the_entry() -> None:
    config = TraderBinanceConfig(stop_loss=0.02)
    state = TradeState(symbol="BTCUSDT", held_base=Decimal("0.01"), cost_quote=Decimal(450), quote=Decimal(0))
    assert plan_candle(state, Decimal(44200), False, False, config, F).intent is None  # -1.8 %
    intent = plan_candle(state, Decimal(44000), False, False, config, F).intent
    assert intent is not None and (intent.side, intent.reason, intent.qty) == (
        "SELL",
        "stop_loss",
        Decimal("0.01"),
    )


def test_reconciliation_adopts_fills_rejects_lost_requests_and_flags_the_unknown() -> None:
    pending = order(client_id="itb-p-b0", status=OrderStatus.PENDING)
    new = order()
    forgotten = order(client_id="itb-f-b0")
    state = TradeState(
        symbol="BTCUSDT", orders=[pending, new, forgotten], base=Decimal(0), quote=Decimal(1000)
    )
    stranger = Report(client_id="manual-1", status=OrderStatus.NEW, exchange_id=9, executed=Decimal(0),
                      quote=Decimal(0))  # fmt: skip
    result = reconcile_orders(
        state,
        {"itb-x-b0": report(OrderStatus.FILLED, "2", "200"), "itb-p-b0": None, "itb-f-b0": None},
        [stranger],
    )
    assert result.orders["itb-x-b0"].status == OrderStatus.FILLED
    assert result.orders["itb-p-b0"].status == OrderStatus.REJECTED
    assert len(result.problems) == 2 and "manual-1" in result.problems[1]
    assert balance_problems(state, Decimal("0.000001"), Decimal("1000.001"), F) == []
    assert len(balance_problems(state, Decimal("0.1"), Decimal(900), F)) == 2
