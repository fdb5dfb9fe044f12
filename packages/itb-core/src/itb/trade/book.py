"""Pure bookkeeping and decisions of the trader: booking an order's new fills into the position,
the orders a candle cancels or makes, and the reconciliation of the journal with the exchange."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from itb.trade.caps import OrderIntent
from itb.trade.config import TraderBinanceConfig
from itb.trade.filters import SymbolFilters, order_problem, round_price, round_qty
from itb.trade.journal import TradeState
from itb.trade.orders import IllegalTransition, Order, OrderStatus, Report, apply_report, mark

ZERO = Decimal(0)


def book_fills(state: TradeState, order: Order, fee_base: Decimal, fee_quote: Decimal) -> Order:
    """Book what ``order`` executed since it was last booked into ``state`` (position, balances,
    today's PnL); ``fee_*`` are the order's total commissions. Returns the order marked booked."""
    qty, quote = order.executed - order.booked, order.quote - order.booked_quote
    if qty <= 0:
        return order
    # The fees of the new fills: the order's total less what was booked with the earlier fills.
    share = qty / order.executed
    fee_b, fee_q = fee_base * share, fee_quote * share
    base_balance, quote_balance = state.base or ZERO, state.quote or ZERO
    if order.side == "BUY":
        state.held_base += qty - fee_b
        state.cost_quote += quote + fee_q
        state.base, state.quote = base_balance + qty - fee_b, quote_balance - quote - fee_q
    else:
        cost = state.cost_quote * min(Decimal(1), qty / state.held_base) if state.held_base > 0 else ZERO
        proceeds = quote - fee_q
        state.pnl_today += proceeds - cost
        state.held_base = max(ZERO, state.held_base - qty - fee_b)
        state.cost_quote = max(ZERO, state.cost_quote - cost)
        state.base, state.quote = base_balance - qty - fee_b, quote_balance + proceeds
    return order.model_copy(update={"booked": order.executed, "booked_quote": order.quote})


def timed_out(state: TradeState, candle_ms: int, freq_ms: int, timeout_candles: int) -> list[Order]:
    """Open orders that have waited ``timeout_candles`` whole candles since their signal's close."""
    return [o for o in state.open_orders() if o.candle_ms + timeout_candles * freq_ms <= candle_ms]


def free_quote(state: TradeState) -> Decimal:
    """Quote not locked by the trader's open buys."""
    locked = sum(((o.qty - o.executed) * o.price for o in state.open_orders() if o.side == "BUY"), ZERO)
    return (state.quote or ZERO) - locked


@dataclass(frozen=True)
class Plan:
    cancels: list[Order] = field(default_factory=list)
    intent: OrderIntent | None = None
    note: str = ""


def plan_candle(
    state: TradeState, close: Decimal, buy: bool, sell: bool, config: TraderBinanceConfig, f: SymbolFilters
) -> Plan:
    """What a candle's signals ask for, given the state after the timeouts were handled."""
    open_orders = state.open_orders()
    sellable = round_qty(state.held_base, f.step_size)
    holding = sellable * close >= f.min_notional and sellable >= f.min_qty
    avg = state.cost_quote / state.held_base if state.held_base > 0 else None
    a = Decimal(str(config.limit_price_adjustment))
    stop = config.stop_loss is not None and holding and avg is not None and (
        close <= avg * (1 - Decimal(str(config.stop_loss)))
    )  # fmt: skip
    if stop or (sell and not buy and holding):
        buys = [o for o in open_orders if o.side == "BUY"]
        if any(o.side == "SELL" for o in open_orders):
            return Plan(buys, None, "a sell order is already open")
        price = round_price(close * (1 + a), f.tick_size, "SELL")
        return Plan(buys, OrderIntent("SELL", price, sellable, "stop_loss" if stop else "signal"))
    if buy and not sell and not holding:
        if open_orders:
            return Plan([], None, "an order is already open")
        price = round_price(close * (1 - a), f.tick_size, "BUY")
        spend = free_quote(state) * Decimal(str(config.percentage_used_for_trade)) / 100
        qty = round_qty(spend / price, f.step_size) if price > 0 else ZERO
        problem = order_problem(price, qty, f)
        if problem:
            return Plan([], None, f"buy not sent: {problem}")
        return Plan([], OrderIntent("BUY", price, qty, "signal"))
    return Plan()


@dataclass
class Reconciled:
    orders: dict[str, Order]
    problems: list[str]


def reconcile_orders(
    state: TradeState, reports: dict[str, Report | None], exchange_open: list[Report]
) -> Reconciled:
    """The journal's open orders as the exchange reports them (``reports``: client id -> report, None
    when the exchange does not know the order); the exchange is the truth. An order that never
    reached the exchange (``pending`` and unknown) is rejected; a known order the exchange forgot,
    an open order on the exchange the journal does not know, or a contradicting report is a problem
    the trader cannot explain."""
    known = {o.client_id for o in state.orders}
    out: dict[str, Order] = {}
    problems: list[str] = []
    for order in state.open_orders():
        report = reports.get(order.client_id)
        if report is None:
            if order.status == OrderStatus.PENDING:
                out[order.client_id] = mark(order, OrderStatus.REJECTED, "never reached the exchange")
            else:
                problems.append(f"order {order.client_id} ({order.status}) is unknown to the exchange")
            continue
        try:
            out[order.client_id] = apply_report(order, report)
        except IllegalTransition as exc:
            problems.append(str(exc))
    for report in exchange_open:
        if report.client_id not in known:
            problems.append(f"open order {report.client_id} on the exchange is not in the journal")
    return Reconciled(out, problems)


def balance_problems(state: TradeState, base: Decimal, quote: Decimal, f: SymbolFilters) -> list[str]:
    """Differences between the balances the trader believes and the exchange's beyond rounding."""
    if state.base is None or state.quote is None:
        return []
    problems = []
    if abs(base - state.base) > f.step_size:
        problems.append(f"{f.base_asset} balance {base} on the exchange, {state.base} in the journal")
    if abs(quote - state.quote) > max(Decimal("0.01"), abs(quote) * Decimal("1e-6")):
        problems.append(f"{f.quote_asset} balance {quote} on the exchange, {state.quote} in the journal")
    return problems
