"""itb serve: the incremental engine equals the batch pipeline row for row; replay writes the live
log, continues after a restart without losing or doubling a candle; audit finds zero differences
on a replayed day and names a tampered value; stale or missing models are refused (exit 2).

One module-scoped pipeline run (three weeks of the bundled sample ending 2024-03-31, 30 boosting
rounds) trains the models every test serves with.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import socket
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from itb import datasets
from itb.config import load_config
from itb.config.models import PipelineConfig
from itb.runs.lock import LOCK_NAME, LockInfo
from itb.serve.audit import TOLERANCE, audit_symbol
from itb.serve.engine import SymbolEngine, serve_spec
from itb.serve.live_log import LOG_COLUMNS, LiveLog
from itb.serve.model_watch import ModelWatch
from itb.serve.models import load_serving_models
from itb.serve.output_sets import ConfiguredOutputs
from itb.serve.replay import replay_symbol
from itb.serve.score_notification import ScoreNotificationConfig, ScoreNotifier
from itb.storage import Storage

from tests.conftest import itb, load_default_config, write_config

DAY = "2024-03-30"
BANDS: dict[str, Any] = {
    "score_column_names": ["trade_score"],
    "positive_bands": [{"edge": 0.02, "text": "flat"}, {"edge": 0.05, "frequency": 30, "text": "up"}],
    "negative_bands": [{"edge": -0.02, "text": "flat"}, {"edge": -0.05, "frequency": 30, "text": "down"}],
}
FAST = {"ITB_FSYNC": "0"}


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def relative_difference(live: pl.Series, batch: pl.Series) -> float:
    """The largest ``|a - b| / max(|a|, |b|)`` (0 where equal, inf where only one is null)."""
    a, b = live.cast(pl.Float64).to_numpy(), batch.cast(pl.Float64).to_numpy()
    if (np.isnan(a) != np.isnan(b)).any():
        return float("inf")
    both = ~np.isnan(a) & (a != b)
    if not both.any():
        return 0.0
    return float((np.abs(a - b)[both] / np.maximum(np.abs(a), np.abs(b))[both]).max())


def config_data(root: Path) -> dict[str, Any]:
    data = copy.deepcopy(load_default_config())
    data["data_root"] = str(root)
    data["merge"] = {"gaps": "fill", "start": "2024-03-09T00:00:00Z", "end": "2024-04-01T00:00:00Z"}
    data["train"]["algorithms"][0]["params"] = {"num_boost_round": 30}
    data["output_sets"] = [{"generator": "score_notification_model", "config": BANDS}]
    return data


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A config file whose data root holds the batch outputs and models of `itb run`."""
    folder = tmp_path_factory.mktemp("serve")
    path = write_config(folder / "config.json", config_data(folder / "data"))
    done = itb("run", str(path), "--backend", "inprocess", env=FAST)
    assert done.returncode == 0, done.stderr
    return path


@pytest.fixture
def served(trained: Path, tmp_path: Path) -> PipelineConfig:
    """The trained config on a private copy of its data root (tests write live logs into it)."""
    root = tmp_path / "data"
    shutil.copytree(trained.parent / "data", root, ignore=shutil.ignore_patterns("live"))
    return load_config(trained).model_copy(update={"data_root": str(root)})


def day_rows(storage: Storage, name: str, start: int, end: int) -> pl.DataFrame:
    return storage.read_parquet(name).filter((pl.col("timestamp") >= start) & (pl.col("timestamp") < end))


def test_engine_one_candle_at_a_time_equals_the_batch_outputs(served: PipelineConfig) -> None:
    storage = Storage(served.data_root)
    spec = serve_spec(served)
    serving = load_serving_models(served, storage, spec)
    merged = storage.read_parquet(datasets.MERGED)
    start, end = ms(DAY), ms(DAY) + 86_400_000
    engine = SymbolEngine(spec, serving.models, serving.key)
    engine.warm_up(merged.filter(pl.col("timestamp") < start))
    candles = merged.filter((pl.col("timestamp") >= start) & (pl.col("timestamp") < end))
    rows = pl.concat([engine.step(candles.slice(i, 1)) for i in range(candles.height)])

    features = day_rows(storage, datasets.FEATURES, start, end)
    predictions = day_rows(storage, datasets.PREDICTIONS, start, end)
    signals = day_rows(storage, datasets.SIGNALS, start, end)
    assert rows.height == features.height == 1440
    assert rows["timestamp"].equals(features["timestamp"])
    worst: dict[str, float] = {}
    for column in rows.columns:
        batch = next(t for t in (features, predictions, signals) if column in t.columns)[column]
        if rows[column].dtype == pl.Boolean:
            assert rows[column].equals(batch), column
        else:
            worst[column] = relative_difference(rows[column], batch)
    assert set(spec.feature_columns) | {"high_10_gb", "low_10_gb", "trade_score"} <= set(worst)
    assert rows["high_10_gb"].null_count() == 0  # past the warm-up: every row scored
    print("max relative difference per column:", max(worst.values()))
    assert max(worst.values()) <= TOLERANCE, worst
    assert engine.held_rows == (spec.candle_rows, spec.score_rows) == (59, 0)  # bounded: SMA/slope 60

    # Several candles per step (a backfill) give the same rows as one at a time.
    again = SymbolEngine(spec, serving.models, serving.key)
    again.warm_up(merged.filter(pl.col("timestamp") < start))
    chunks = [again.step(candles.slice(i, 97)) for i in range(0, candles.height, 97)]
    assert pl.concat(chunks).equals(rows)


def test_engine_refuses_a_candle_that_skips_the_raster(served: PipelineConfig) -> None:
    storage = Storage(served.data_root)
    spec = serve_spec(served)
    serving = load_serving_models(served, storage, spec)
    merged = storage.read_parquet(datasets.MERGED)
    engine = SymbolEngine(spec, serving.models, serving.key)
    engine.step(merged.slice(0, 100))
    with pytest.raises(Exception, match="does not follow the last one"):
        engine.step(merged.slice(101, 1))


def test_replay_a_day_then_audit_finds_zero_differences(trained: Path) -> None:
    root = trained.parent / "data"
    done = itb("serve", str(trained), "--replay", DAY, "2024-03-31", env=FAST)
    assert done.returncode == 0, done.stderr
    assert "1440 candles replayed" in done.stdout, done.stdout
    notes = [line for line in done.stdout.splitlines() if " BTCUSDT " in line and " score " in line]
    assert notes, done.stdout  # the config's score_notification_model printed its messages
    log = pl.read_parquet(root / datasets.live_day("BTCUSDT", DAY))
    assert log.height == 1440 and log["timestamp"].is_unique().all()
    assert log["timestamp"][0] == ms(DAY)
    for column in ("close_SMA_60", "high_10_gb", "low_10_gb", "trade_score", "buy_signal", *LOG_COLUMNS):
        assert column in log.columns, column
    assert not log["backfilled"].any()
    assert log["model_key"].n_unique() == 1 and log["model_key"][0].startswith("sha256:")
    timings = log.select("fetch_ms", "compute_ms", "latency_ms", "close_lag_ms")
    assert timings.null_count().sum_horizontal()[0] == 0
    # latency runs until the row is persisted, so it is at least the compute time
    assert (log["latency_ms"] >= log["compute_ms"]).all()
    assert (log["close_lag_ms"] >= log["latency_ms"]).all()

    audit = itb("serve", "audit", str(trained), "--day", DAY)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert "1440 logged rows, 1440 in the batch outputs" in audit.stdout
    assert "0 differences" in audit.stdout
    as_json = itb("--log-format", "json", "serve", "audit", str(trained), "--day", DAY)
    event = json.loads(as_json.stdout)
    assert as_json.returncode == 0 and event["event"] == "audit"
    assert (event["rows"], event["covered"], event["differences"], event["failed"]) == (1440, 1440, 0, False)


def test_restarted_replay_continues_without_loss_or_doubling(served: PipelineConfig) -> None:
    storage = Storage(served.data_root)
    first = replay_symbol(served, storage, ms("2024-03-31T00:00"), ms("2024-03-31T02:00"))
    assert (first.processed, first.already_logged) == (120, 0)
    # Killed after the log write, before the state write: the state lags one row behind the log.
    state_name = datasets.live_state("BTCUSDT")
    state = storage.read_json(state_name)
    storage.write_json(state_name, {**state, "last_timestamp": state["last_timestamp"] - 60_000})
    second = replay_symbol(served, storage, ms("2024-03-31T00:00"), ms("2024-03-31T04:00"))
    assert (second.processed, second.already_logged) == (120, 120)
    log = LiveLog(storage, "BTCUSDT").read_day("2024-03-31")
    expected = pl.int_range(ms("2024-03-31T00:00"), ms("2024-03-31T04:00"), 60_000, eager=True)
    assert log["timestamp"].to_list() == expected.to_list()
    assert storage.read_json(state_name)["last_timestamp"] == ms("2024-03-31T03:59")
    report = audit_symbol(served, storage, "2024-03-31")
    assert (report.rows, report.covered, report.differences, report.other_model_rows) == (240, 240, [], 0)
    assert not report.failed


def test_audit_reports_a_changed_value(served: PipelineConfig) -> None:
    storage = Storage(served.data_root)
    replay_symbol(served, storage, ms("2024-03-31T00:00"), ms("2024-03-31T01:00"))
    name = datasets.live_day("BTCUSDT", "2024-03-31")
    log = storage.read_parquet(name)
    tampered = ms("2024-03-31T00:30")
    changed = pl.when(pl.col("timestamp") == tampered).then(pl.col("close_STDDEV_15") * (1 + 1e-6))
    storage.write_parquet(
        name, log.with_columns(changed.otherwise(pl.col("close_STDDEV_15")).alias("close_STDDEV_15"))
    )
    report = audit_symbol(served, storage, "2024-03-31")
    assert report.failed and len(report.differences) == 1
    difference = report.differences[0]
    assert (difference.timestamp, difference.column, difference.table) == (
        tampered,
        "close_STDDEV_15",
        datasets.FEATURES,
    )
    assert difference.relative == pytest.approx(1e-6, rel=1e-3)


def test_serve_refuses_missing_models_and_models_of_other_features(trained: Path, tmp_path: Path) -> None:
    empty = write_config(tmp_path / "empty.json", config_data(tmp_path / "empty"))
    done = itb("serve", str(empty), "--replay", DAY, "2024-03-31")
    assert done.returncode == 2
    assert "no trained model models/high_10_gb" in done.stderr and "Traceback" not in done.stderr

    other = config_data(trained.parent / "data")
    other["feature_sets"][0]["config"]["windows"] = [1, 5, 10, 15, 61]
    changed = write_config(tmp_path / "other.json", other)
    done = itb("serve", str(changed), "--replay", DAY, "2024-03-31")
    assert done.returncode == 2
    assert "do not fit this config" in done.stderr and "close_SMA_60" in done.stderr, done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--replay", "2024-03-31", "2024-03-30"], "TO (2024-03-30) must be after FROM"),
        (["--replay", "2024-03-31", "tomorrow"], "'tomorrow' is not a UTC day"),
        (["--http", "nowhere"], "--http: 'nowhere' is not HOST:PORT"),
        (["--close-delay-s", "-1"], "--close-delay-s: -1 must not be negative"),
        (["--replay", "2025-01-01", "2025-01-02"], "cover 2024-03-09T00:00:00Z .. 2024-03-31T23:59:00Z"),
    ],
)
def test_serve_bad_arguments_exit_2(trained: Path, args: list[str], message: str) -> None:
    done = itb("serve", str(trained), *args)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr


def notifier(sent: list[str]) -> ConfiguredOutputs:
    config = ScoreNotificationConfig.model_validate(BANDS)
    return ConfiguredOutputs([("0:score_notification_model", ScoreNotifier(config, sent.append))])


def test_output_state_survives_a_restart(served: PipelineConfig, tmp_path: Path) -> None:
    whole: list[str] = []
    start, end = ms("2024-03-31T17:00"), ms("2024-03-31T20:00")
    replay_symbol(served, Storage(served.data_root), start, end, outputs=notifier(whole))
    assert len(whole) >= 3, whole

    other = served.model_copy(update={"data_root": str(tmp_path / "other")})
    shutil.copytree(served.data_root, other.data_root, ignore=shutil.ignore_patterns("live"))
    storage = Storage(other.data_root)
    split: list[str] = []
    replay_symbol(other, storage, start, ms("2024-03-31T18:30"), outputs=notifier(split))
    state = LiveLog(storage, "BTCUSDT").state()
    assert state is not None and set(state.outputs) == {"0:score_notification_model"}
    replay_symbol(other, storage, start, end, outputs=notifier(split))  # a new process: state restored
    assert split == whole


def test_recursive_indicators_after_their_declared_warm_up_pass_the_audit(tmp_path: Path) -> None:
    """EMA, RSI, MACD, ATR and ADX: the window holds their declared rows + warm-up, and the
    served values stay within the audit's tolerance of the full-history batch values."""
    data = config_data(tmp_path / "data")
    data["feature_sets"] += [
        {
            "generator": "talib",
            "config": {"columns": ["close"], "functions": ["EMA", "RSI"], "windows": [10, 30]},
        },
        {"generator": "talib", "config": {"columns": ["close"], "functions": [{"name": "MACD"}]}},
        {"generator": "talib", "config": {"functions": ["ATR", "ADX"], "windows": [14]}},
    ]
    path = write_config(tmp_path / "config.json", data)
    done = itb("run", str(path), "--backend", "inprocess", env=FAST)
    assert done.returncode == 0, done.stderr
    config = load_config(path)
    spec = serve_spec(config)
    assert spec.candle_rows > 500  # the slowest warm-up (ADX 14, RSI 30), not just the windows
    storage = Storage(config.data_root)
    report = replay_symbol(config, storage, ms("2024-03-31T00:00"), ms("2024-03-31T02:00"))
    assert report.processed == 120
    audit = audit_symbol(config, storage, "2024-03-31")
    assert audit.covered == 120 and not audit.failed
    print("recursive indicators: max relative difference", audit.max_relative)
    assert audit.max_relative <= TOLERANCE


class Retrain:
    """A sink that, after the candle ``at``, puts another run's model files into the data root
    (each write atomic, as `itb run` does): a retrain finishing between two ticks."""

    def __init__(self, source: Storage, target: Storage, at: int) -> None:
        self.source, self.target, self.at = source, target, at

    def send(self, row: Mapping[str, Any]) -> None:
        if row["timestamp"] == self.at:
            for name in self.source.list(datasets.MODELS_FOLDER):
                self.target.write_bytes(name, self.source.read_bytes(name))


@pytest.fixture(scope="module")
def retrained(tmp_path_factory: pytest.TempPathFactory) -> Storage:
    """Another run of the same config with fewer boosting rounds: other models, same features."""
    folder = tmp_path_factory.mktemp("retrained")
    data = config_data(folder / "data")
    data["train"]["algorithms"][0]["params"] = {"num_boost_round": 12}
    done = itb("run", str(write_config(folder / "config.json", data)), "--backend", "inprocess", env=FAST)
    assert done.returncode == 0, done.stderr
    return Storage(str(folder / "data"))


def test_model_watch_waits_for_the_run_that_writes_the_models(
    served: PipelineConfig, retrained: Storage
) -> None:
    storage = Storage(served.data_root)
    watch = ModelWatch(served, storage, serve_spec(served))
    key = watch.load().key
    assert watch.poll(key) is None  # nothing changed
    now = datetime.now(UTC)
    lock = LockInfo(
        "20261201T000000Z-abcdef", socket.gethostname(), os.getpid(), now.isoformat(), now.timestamp()
    )
    storage.write_bytes(LOCK_NAME, lock.to_json())
    Retrain(retrained, storage, 0).send({"timestamp": 0})
    assert watch.poll(key) is None  # a live run holds the data root: maybe half written
    storage.delete(LOCK_NAME)
    switched = watch.poll(key)
    assert switched is not None and switched.key != key
    assert watch.poll(switched.key) is None


def test_retrained_models_are_used_from_the_next_candle(served: PipelineConfig, retrained: Storage) -> None:
    storage = Storage(served.data_root)
    switch = ms("2024-03-31T00:29")
    report = replay_symbol(
        served, storage, ms("2024-03-31T00:00"), ms("2024-03-31T01:00"), [Retrain(retrained, storage, switch)]
    )
    assert report.model_switches == 1
    log = LiveLog(storage, "BTCUSDT").read_day("2024-03-31")
    before, after = log.filter(pl.col("timestamp") <= switch), log.filter(pl.col("timestamp") > switch)
    assert before.height == 30 and after.height == 30
    assert before["model_key"].n_unique() == after["model_key"].n_unique() == 1
    assert before["model_key"][0] != after["model_key"][0]
    for rows, root in ((before, storage), (after, retrained)):
        batch = root.read_parquet(datasets.PREDICTIONS).join(rows.select("timestamp"), on="timestamp")
        for score in ("high_10_gb", "low_10_gb"):
            assert rows[score].equals(batch[score]), (root.root_url, score)
    # the models used before the switch score the later rows differently: the switch is visible
    old = storage.read_parquet(datasets.PREDICTIONS).join(after.select("timestamp"), on="timestamp")
    assert not after["high_10_gb"].equals(old["high_10_gb"])
