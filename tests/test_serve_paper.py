"""Paper trading (``trader_simulation``): a day of candles through the paper trader gives the
vectorised backtest's trades (signals filled at the next candle's open, same fee and slippage), a
restart mid-day ends with the same ledger, and each fill and day is announced."""

from __future__ import annotations

import copy
import json
import shutil
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from itb.backtest.vectorised import Direction, run_backtest
from itb.config import load_config
from itb.config.models import PipelineConfig, SimulateConfig
from itb.errors import DataError
from itb.serve.live_log import LiveLog
from itb.serve.messages import ListSink
from itb.serve.output_sets import configured_outputs
from itb.serve.paper import PaperTrader, PaperTraderConfig
from itb.serve.replay import read_candles, replay_symbol
from itb.storage import Storage

from tests.conftest import itb, load_default_config, write_config

DAY_MS = 86_400_000
FEE, SLIPPAGE = 0.001, 0.0005


@pytest.fixture(scope="module")
def day_rows() -> list[dict[str, Any]]:
    """2024-01-15 of the sample plus the next day's first candle, with a mean-reversion rule that
    trades a few dozen times a day (a warm-up day before it feeds the rolling mean)."""
    path = resources.files("itb") / "sample" / "BTCUSDT-1m-2024Q1.parquet"
    df = pl.read_parquet(str(path), columns=["timestamp", "open", "close"])
    deviation = pl.col("close") / pl.col("close").rolling_mean(30) - 1
    df = df.with_columns(
        buy_signal=(deviation < -0.0015).fill_null(False), sell_signal=(deviation > 0.0015).fill_null(False)
    )
    start = 1_705_276_800_000  # 2024-01-15 00:00 UTC
    day = df.filter((pl.col("timestamp") >= start) & (pl.col("timestamp") <= start + DAY_MS))
    assert day.height == 1441
    return day.to_dicts()


def trader(root: Path, direction: Direction = "long", sink: ListSink | None = None) -> PaperTrader:
    simulate = SimulateConfig(fee=FEE, slippage=SLIPPAGE, direction=direction)
    return PaperTrader(PaperTraderConfig(), "BTCUSDT", Storage(str(root)), simulate, sink)


def ledger(root: Path) -> dict[str, Any]:
    return json.loads((root / "paper" / "BTCUSDT" / "ledger.json").read_text())


@pytest.mark.parametrize("direction", ["long", "both"])
def test_a_day_of_paper_trading_equals_the_backtest_at_the_next_open(
    day_rows: list[dict[str, Any]], tmp_path: Path, direction: Direction
) -> None:
    sink = ListSink()
    paper = trader(tmp_path, direction, sink)
    for row in day_rows:  # one call per candle: the live service's ticks
        paper.send(row)
    frame = pl.DataFrame(day_rows)
    # the oracle: the vectorised backtest with each signal priced at the next candle's open
    expected = run_backtest(
        frame["open"].to_numpy()[1:],
        frame["buy_signal"].to_numpy()[:-1],
        frame["sell_signal"].to_numpy()[:-1],
        frame["timestamp"].to_numpy()[1:],
        fee=FEE,
        slippage=SLIPPAGE,
        direction=direction,
    )
    closed = [t for t in expected.ledger if not t.get("open_at_end")]
    assert len(closed) > 10
    got = ledger(tmp_path)["trades"]
    assert [
        {k: t[k] for k in ("side", "entry_time", "entry_price", "exit_time", "exit_price")} for t in got
    ] == [{k: t[k] for k in ("side", "entry_time", "entry_price", "exit_time", "exit_price")} for t in closed]
    assert [t["profit_pct"] for t in got] == pytest.approx([t["profit_pct"] for t in closed], abs=1e-6)
    state = json.loads((tmp_path / "paper" / "BTCUSDT" / "state.json").read_text())
    still_open = [t for t in expected.ledger if t.get("open_at_end")]
    assert (state["quantity"] != 0) == bool(still_open)
    # equity marked at the last close equals the backtest's compounding of the closed trades when flat
    if not still_open:
        assert state["equity"] == pytest.approx(float(np.prod([1 + t["profit_pct"] / 100 for t in closed])))
    # a message per fill and one summary for the finished day
    fills = ledger(tmp_path)["fills"]
    assert len([k for k in sink.keys if k.startswith("paper:")]) == len(fills) >= 2 * len(closed)
    summaries = [t for k, t in zip(sink.keys, sink.texts, strict=True) if k.startswith("paper-day:")]
    assert len(summaries) == 1 and summaries[0].startswith(
        f"2024-01-15 paper BTCUSDT: {len(closed)} trades closed"
    )


def test_a_restart_mid_day_ends_with_the_same_ledger(day_rows: list[dict[str, Any]], tmp_path: Path) -> None:
    whole, restarted = tmp_path / "whole", tmp_path / "restarted"
    one = trader(whole)
    for row in day_rows:
        one.send(row)
    first = trader(restarted)
    for row in day_rows[:700]:
        first.send(row)
    # the process dies; the restarted service delivers the last 50 candles again, then goes on
    second = trader(restarted)
    assert second.state.last_timestamp == day_rows[699]["timestamp"]
    for row in day_rows[650:]:
        second.send(row)
    assert ledger(restarted) == ledger(whole)
    state = "paper/BTCUSDT/state.json"
    assert (restarted / state).read_text() == (whole / state).read_text()


def test_a_ledger_written_before_a_crash_is_cut_back_to_the_state(
    day_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    paper = trader(tmp_path)
    for row in day_rows[:400]:
        paper.send(row)
    counted = (len(ledger(tmp_path)["trades"]), len(ledger(tmp_path)["fills"]))
    extra = ledger(tmp_path)
    extra["fills"].append(extra["fills"][-1])  # the ledger got a fill, the state did not (crash between)
    (tmp_path / "paper" / "BTCUSDT" / "ledger.json").write_text(json.dumps(extra))
    resumed = trader(tmp_path)
    assert (len(resumed.account.trades), len(resumed.account.fills)) == counted


def test_a_signal_needs_the_next_candles_open(tmp_path: Path) -> None:
    paper = trader(tmp_path)
    paper.send({"timestamp": 0, "open": 1.0, "close": 1.0, "buy_signal": True, "sell_signal": False})
    with pytest.raises(DataError, match="no 'open' price"):
        paper.send({"timestamp": 60_000, "close": 1.0, "buy_signal": False, "sell_signal": False})


def test_trader_simulation_takes_its_costs_from_simulate_unless_given(tmp_path: Path) -> None:
    sets = [{"fee": 0.0005}, {"buy_signal_column": "go"}]
    data = {**load_default_config(), "data_root": str(tmp_path),
            "simulate": {"fee": 0.002, "slippage": 0.001, "direction": "both"},
            "output_sets": [{"generator": "trader_simulation", "config": c} for c in sets]}  # fmt: skip
    built = configured_outputs(PipelineConfig.model_validate(data))
    (_, a), (_, b) = built.outputs
    assert isinstance(a, PaperTrader) and isinstance(b, PaperTrader)
    assert (a.account.fee_rate, a.account.slippage, a.account.direction) == (0.0005, 0.001, "both")
    assert (b.account.fee_rate, b.buy_column, b.sell_column) == (0.002, "go", "sell_signal")
    built.close()


# ---- through the replay: trained models, the engine's signals, the candles' opens ----------------


@pytest.fixture(scope="module")
def trained_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root `itb run` trained (the sample config on March 2024, signals at +-0.01)."""
    folder = tmp_path_factory.mktemp("paper")
    data = copy.deepcopy(load_default_config())
    data["data_root"] = str(folder / "data")
    data["merge"] = {"gaps": "fill", "start": "2024-03-09T00:00:00Z", "end": "2024-04-01T00:00:00Z"}
    data["train"]["algorithms"][0]["params"] = {"num_boost_round": 30}
    data["signal_sets"][1]["config"]["parameters"] = {
        "buy_signal_threshold": 0.01,
        "sell_signal_threshold": -0.01,
    }
    data["simulate"] = {"fee": FEE, "slippage": SLIPPAGE}
    data["output_sets"] = [{"generator": "trader_simulation", "config": {"daily_summary": False}}]
    path = write_config(folder / "config.json", data)
    done = itb("run", str(path), "--backend", "inprocess", env={"ITB_FSYNC": "0"})
    assert done.returncode == 0, done.stderr
    return path


def replay_into(config_path: Path, root: Path, spans: list[tuple[str, str]]) -> PipelineConfig:
    shutil.copytree(config_path.parent / "data", root, ignore=shutil.ignore_patterns("live", "paper"))
    config = load_config(config_path).model_copy(update={"data_root": str(root)})
    for start, end in spans:  # each span is a new process: outputs built afresh, state from disk
        outputs = configured_outputs(config)
        try:
            replay_symbol(config, Storage(str(root)), ms(start), ms(end), outputs=outputs)
        finally:
            outputs.close()
    return config


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def test_replayed_paper_trades_equal_the_backtest_and_survive_a_restart(
    trained_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = replay_into(trained_root, tmp_path / "whole", [("2024-03-31T00:00", "2024-03-31T05:00")])
    log = LiveLog(Storage(config.data_root), "BTCUSDT").read_day("2024-03-31")
    opens = read_candles(config).select("timestamp", "open")
    rows = log.select("timestamp", "buy_signal", "sell_signal").join(opens, on="timestamp", how="left")
    assert rows.height == 300 and rows["open"].null_count() == 0
    expected = run_backtest(
        rows["open"].to_numpy()[1:],
        rows["buy_signal"].fill_null(False).to_numpy()[:-1],
        rows["sell_signal"].fill_null(False).to_numpy()[:-1],
        rows["timestamp"].to_numpy()[1:],
        fee=FEE,
        slippage=SLIPPAGE,
    )
    closed = [t for t in expected.ledger if not t.get("open_at_end")]
    assert closed, "the rule should trade in five hours"
    keys = ("side", "entry_time", "entry_price", "exit_time", "exit_price")
    whole = ledger(Path(config.data_root))
    assert [{k: t[k] for k in keys} for t in whole["trades"]] == [{k: t[k] for k in keys} for t in closed]
    assert capsys.readouterr().out.count(" paper BTCUSDT ") == len(whole["fills"])  # a message per fill

    split = replay_into(
        trained_root,
        tmp_path / "split",
        [("2024-03-31T00:00", "2024-03-31T02:17"), ("2024-03-31T00:00", "2024-03-31T05:00")],
    )
    assert ledger(Path(split.data_root)) == whole
