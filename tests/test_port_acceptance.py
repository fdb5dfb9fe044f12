"""Acceptance: the reference project's two Binance samples, ported by `itb port`, run end to end on a
month of real BTCUSDT data (1h klines made from the 1m ones for the 1h sample) and produce the
reference project's column names.

The test edits only what a user must: the data path and range (the samples name a Windows data
folder) and the walk-forward section (its training window, 525,600 or 26,280 rows, is longer than
a month).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from itb.config import jsonc

from tests.itb_reference import ITB_CODE, SAMPLE_1H, SAMPLE_1M

KLINES_1M = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "binance" / "spot" / "BTCUSDT-1m.parquet"
)
MONTH = ("2024-03-01T00:00:00Z", "2024-04-01T00:00:00Z")
#: The run needs its declared secrets; these are placeholders, never sent anywhere.
SECRET_ENV = {
    "BINANCE_API_KEY": "k",
    "BINANCE_API_SECRET": "s",
    "TELEGRAM_BOT_TOKEN": "t",
    "TELEGRAM_CHAT_ID": "c",
}

pytestmark = pytest.mark.skipif(not KLINES_1M.exists(), reason="needs ../shared/data (real Binance klines)")


def run_itb(args: list[str], pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **SECRET_ENV}
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "itb", *args], capture_output=True, text=True, timeout=300, env=env
    )


def ported(source: Path, tmp_path: Path, pythonpath: Path | None = None) -> dict[str, Any]:
    out = tmp_path / "ported.jsonc"
    result = run_itb(["port", str(source), "-o", str(out)], pythonpath)
    assert result.returncode == 0, result.stderr
    return jsonc.loads(out.read_text())  # type: ignore[no-any-return]


def run_month(
    data: dict[str, Any],
    path: Path,
    tmp_path: Path,
    pythonpath: Path | None = None,
    rolling: dict[str, Any] | None = None,
) -> Path:
    """Point the ported config at ``path`` for one month and run it in-process; the data root.
    The ported walk-forward window is longer than the month: ``rolling`` replaces it, or none."""
    data["data_sources"][0]["path"] = str(path)
    data["merge"] = {"start": MONTH[0], "end": MONTH[1]}
    data["data_root"] = str(tmp_path / "data")
    assert data.pop("rolling")["train_rows"] > 31 * 24
    if rolling is not None:
        data["rolling"] = rolling
    config = tmp_path / "run.json"
    config.write_text(json.dumps(data))
    result = run_itb(["run", str(config), "--backend", "inprocess"], pythonpath)
    assert result.returncode == 0, result.stdout + result.stderr
    return tmp_path / "data"


def hourly(path: Path) -> Path:
    """1h klines made from the 1m ones (first open, highest high, lowest low, last close, sums)."""
    sums = ["volume", "quote_av", "trades", "tb_base_av", "tb_quote_av"]
    minutes = (
        pl.scan_parquet(KLINES_1M)
        .filter(pl.col("timestamp").is_between(1_709_251_200_000, 1_711_929_600_000, closed="left"))
        .with_columns(pl.from_epoch("timestamp", time_unit="ms").alias("time"))
        .collect()
    )
    hours = minutes.group_by_dynamic("time", every="1h").agg(
        pl.col("timestamp").first(),
        pl.col("open").first(),
        pl.col("high").max(),
        pl.col("low").min(),
        pl.col("close").last(),
        *[pl.col(c).sum() for c in sums],
        pl.col("close_time").last(),
    )
    hours.select(minutes.drop("time").columns).write_parquet(path)
    return path


def test_1min_sample_runs_with_the_reference_column_names(tmp_path: Path) -> None:
    # The sample's user function is the reference project's own example, run unchanged.
    data = ported(SAMPLE_1M, tmp_path, ITB_CODE)
    root = run_month(data, KLINES_1M, tmp_path, ITB_CODE)
    features = pl.read_parquet(root / "features.parquet")
    assert features["close_add"].to_list() == (features["close_SMA_1"] + 2.0).to_list()
    signals = pl.read_parquet(root / "signals.parquet")
    expected = ["high_20_lc", "low_20_lc", "trade_score", "buy_signal_column", "sell_signal_column"]
    assert set(expected) <= set(signals.columns)
    assert signals.height == 31 * 1440
    # combine "difference" as the sample says: the score is the difference of the two model scores.
    diff = (signals["high_20_lc"] - signals["low_20_lc"] - signals["trade_score"]).abs().max()
    assert diff is not None and float(diff) < 1e-12  # type: ignore[arg-type]
    # The reference project's backtest: no fee, every row, a 6 x 6 grid keeping the top 10.
    simulation = json.loads((root / "simulation.json").read_text())
    assert (simulation["fee"], simulation["span"], simulation["rows"]) == (0.0, "all", 31 * 1440)
    assert simulation["grid"]["evaluated"] == 36 and len(simulation["grid"]["top"]) == 10


def test_1h_sample_runs_with_svc_and_the_reference_column_names(tmp_path: Path) -> None:
    data = ported(SAMPLE_1H, tmp_path)
    # One month: 744 rows; the 672-row windows are known on its last days only (not in train_features).
    rolling = {"train_rows": 300, "step_rows": 100}
    root = run_month(data, hourly(tmp_path / "btcusdt-1h.parquet"), tmp_path, rolling=rolling)
    signals = pl.read_parquet(root / "signals.parquet")
    # With 'rolling', signals come from the walk-forward scores: every row after the first window
    # and the label horizon (24).
    assert signals.height == 31 * 24 - 300 - 24
    expected = ["high_30_svc", "low_30_svc", "trade_score", "buy_signal_column", "sell_signal_column"]
    assert set(expected) <= set(signals.columns)
    scores = signals["high_30_svc"].drop_nulls()
    assert scores.len() > 0 and float(scores.min()) >= 0.0 and float(scores.max()) <= 1.0  # type: ignore[arg-type]
    meta = json.loads((root / "models" / "high_30_svc.json").read_text())
    assert meta["algorithm"]["algo"] == "svc" and meta["svm"]["kernel"] == "rbf"
    walk_forward = pl.read_parquet(root / "predictions_rolling.parquet")
    assert {"high_30_svc", "low_30_svc"} <= set(walk_forward.columns) and walk_forward.height > 0
