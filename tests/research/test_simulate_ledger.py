"""The backtest against ledgers computed by hand: long, short, both, slippage; months, Sharpe, grid."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from itb.backtest.vectorised import backtest, positions, run_backtest

DAY = 86_400_000


def frame(prices: list[float], buys: list[int], sells: list[int], step: int = 60_000) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "timestamp": [i * step for i in range(len(prices))],
            "close": [float(p) for p in prices],
            "buy_signal": [bool(b) for b in buys],
            "sell_signal": [bool(s) for s in sells],
        }
    )


#           0    1    2    3   4    5    6    7    8
PRICES = [100, 101, 102, 99, 98, 105, 110, 108, 120]
BUYS = [0, 1, 1, 0, 0, 0, 0, 1, 0]
SELLS = [1, 0, 0, 0, 1, 1, 0, 0, 0]


def test_positions_per_direction() -> None:
    buy, sell = np.array(BUYS, dtype=bool), np.array(SELLS, dtype=bool)
    assert positions(buy, sell, "long").tolist() == [0, 1, 1, 1, 0, 0, 0, 1, 1]
    assert positions(buy, sell, "short").tolist() == [-1, 0, 0, 0, -1, -1, -1, 0, 0]
    assert positions(buy, sell, "both").tolist() == [-1, 1, 1, 1, -1, -1, -1, 1, 1]


def test_short_ledger_by_hand() -> None:
    fee = 0.01
    result = backtest(frame(PRICES, BUYS, SELLS), fee=fee, direction="short")
    # short 1: sell at 100 (row 0), buy back at 101 (row 1); short 2: sell at 98 (row 4), buy at 108 (row 7)
    r1 = 0.99 - 101 / 100 * 1.01
    r2 = 0.99 - 108 / 98 * 1.01
    assert [(t["side"], t["entry_price"], t["exit_price"]) for t in result["ledger"]] == [
        ("short", 100, 101),
        ("short", 98, 108),
    ]
    assert [t["profit_pct"] for t in result["ledger"]] == pytest.approx([r1 * 100, r2 * 100], abs=1e-6)
    assert result["profit_pct"] == pytest.approx(((1 + r1) * (1 + r2) - 1) * 100, abs=1e-6)
    assert result["short_trades"] == 2 and result["long_trades"] == 0 and result["win_rate"] == 0.0


def test_long_and_short_each_trade_from_its_own_entry() -> None:
    fee, slip = 0.001, 0.0005
    result = backtest(frame(PRICES, BUYS, SELLS), fee=fee, slippage=slip, direction="both")
    cin, cout = (1 + slip) * (1 + fee), (1 - slip) * (1 - fee)
    # row 0 sell: short at 100; row 1 buy: close short at 101, long at 101; row 4 sell: close long at 98,
    # short at 98; row 7 buy: close short at 108, long at 108; open at end: closed at 120
    expected = [
        ("short", 100, 101, cout - 101 / 100 * cin),
        ("long", 101, 98, 98 * cout / (101 * cin) - 1),
        ("short", 98, 108, cout - 108 / 98 * cin),
        ("long", 108, 120, 120 * cout / (108 * cin) - 1),
    ]
    ledger = result["ledger"]
    assert [(t["side"], t["entry_price"], t["exit_price"]) for t in ledger] == [e[:3] for e in expected]
    assert [t["profit_pct"] for t in ledger] == pytest.approx([e[3] * 100 for e in expected], abs=1e-6)
    assert [t.get("open_at_end", False) for t in ledger] == [False, False, False, True]
    total = math.prod(1 + e[3] for e in expected) - 1
    assert result["profit_pct"] == pytest.approx(total * 100, abs=1e-6)
    assert result["trades"] == 4 and result["exposure"] == 1.0


def test_mark_to_market_equity_and_drawdown_for_a_short() -> None:
    out = run_backtest(
        np.array([100.0, 110.0, 90.0, 95.0]),
        np.array([False, False, False, True]),
        np.array([True, False, False, False]),
        np.arange(4) * 60_000,
        fee=0.0,
        direction="short",
    )
    # short at 100: marks 1, 1 - 0.10, 1 + 0.10, closed at 95: 1.05
    assert out.equity.tolist() == pytest.approx([1.0, 0.9, 1.1, 1.05])
    assert out.summary["max_drawdown_pct"] == pytest.approx(10.0)


def test_monthly_table_and_sharpe() -> None:
    # one row a day over two months (Jan, Feb 1970): long from day 0 to day 40, price +1 a day
    days = 50
    prices = [100.0 + i for i in range(days)]
    buys = [1] + [0] * (days - 1)
    sells = [0] * 40 + [1] + [0] * (days - 41)
    out = run_backtest(
        np.array(prices), np.array(buys, dtype=bool), np.array(sells, dtype=bool),
        np.arange(days, dtype=np.int64) * DAY, fee=0.0, bars_per_year=365.25,
    )  # fmt: skip
    months = out.months
    assert [m["month"] for m in months] == ["1970-01", "1970-02"]
    assert months[0]["trades"] == 0 and months[1]["trades"] == 1
    assert months[0]["profit_pct"] == pytest.approx((130 / 100 - 1) * 100)  # day 30 closes January
    assert months[1]["profit_pct"] == pytest.approx((140 / 130 - 1) * 100)
    equity = np.asarray(prices[:41] + [140.0] * (days - 41)) / 100
    bar = np.diff(np.concatenate([[1.0], equity])) / np.concatenate([[1.0], equity[:-1]])
    assert out.summary["sharpe"] == pytest.approx(bar.mean() / bar.std() * math.sqrt(365.25), abs=1e-5)


def test_slippage_and_fees_make_a_flat_round_trip_lose_both_sides() -> None:
    result = backtest(frame([50, 50, 50], [1, 0, 0], [0, 0, 1]), fee=0.001, slippage=0.002)
    assert result["profit_pct"] == pytest.approx((0.998 * 0.999 / (1.002 * 1.001) - 1) * 100, abs=1e-6)


def test_grid_search_top_table(tmp_path: object) -> None:
    from itb.compute.simulate import search_grid
    from itb.config import parse_config

    from tests.conftest import load_default_config

    data = load_default_config()
    data["simulate"] = {
        "fee": 0.0,
        "span": "all",
        "grid": {"buy_thresholds": [0.1, 0.3], "sell_thresholds": [-0.1, 0.2, 0.5], "top": 2},
    }
    config = parse_config(data)
    score = [0.0, 0.4, 0.0, -0.2, 0.2, 0.4, -0.5, 0.0]
    prices = [10.0, 10.0, 11.0, 12.0, 11.0, 12.0, 15.0, 16.0]
    signals = pl.DataFrame(
        {"timestamp": [i * 60_000 for i in range(8)], "close": prices, "trade_score": score}
    )
    grid = search_grid(signals, config, np.array(prices), signals["timestamp"].to_numpy(), 1.0, 2)
    assert grid is not None
    # (0.1, 0.2), (0.1, 0.5) and (0.3, 0.5) are skipped: the rule needs buy >= sell
    assert grid["evaluated"] == 3 and grid["skipped_pairs"] == 3
    by_pair = {(r["buy_threshold"], r["sell_threshold"]): r for r in grid["all"]}
    # buy >= 0.3, sell <= -0.1: long at 10 (row 1), sold at 12 (row 3); long at 12 (row 5), sold at 15 (row 6)
    assert by_pair[(0.3, -0.1)]["profit_pct"] == pytest.approx((12 / 10 * 15 / 12 - 1) * 100)
    assert [r["profit_pct"] for r in grid["top"]] == sorted(
        (r["profit_pct"] for r in grid["all"]), reverse=True
    )[:2]


def test_grid_config_is_validated() -> None:
    from itb.config import parse_config

    from tests.conftest import load_default_config

    data = load_default_config()
    data["simulate"] = {"grid": {"buy_thresholds": [0.1], "sell_thresholds": [0.0], "score_column": "nope"}}
    with pytest.raises(Exception, match=r"simulate\.grid\.score_column: unknown column 'nope'"):
        parse_config(data)
    data["simulate"]["grid"].pop("score_column")
    assert parse_config(data).simulate.grid is not None  # the threshold rule's input, trade_score


def test_report_is_one_self_contained_page() -> None:
    from itb.report.html import render_report

    n = 5000
    rng = np.random.default_rng(1)
    prices = 100 * np.exp(np.cumsum(rng.normal(scale=0.001, size=n)))
    score = rng.normal(scale=0.1, size=n)
    ts = np.arange(n, dtype=np.int64) * 60_000 * 30
    result = run_backtest(prices, score > 0.15, score < -0.15, ts, direction="both", bars_per_year=17532)
    signals = pl.DataFrame({"timestamp": ts, "close": prices, "trade_score": score})
    document = {**result.as_dict(), "rows": n, "range": ["a", "b"], "fee": 0.001, "slippage": 0.0}
    html = render_report(
        title="test", signals=signals, result=result, document=document,
        score_column="trade_score", thresholds=(0.15, -0.15),
    )  # fmt: skip
    assert html.startswith("<!doctype html>") and html.count("<svg") >= 5
    assert "<script" not in html and "http" not in html.replace("http://www.w3.org/2000/svg", "")
    assert "Equity (start = 1)" in html and "long entry" in html and "short entry" in html
    assert len(html) < 400_000  # a long series is reduced to pixel columns
