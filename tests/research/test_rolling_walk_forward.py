"""Walk-forward prediction: fanned-out steps (parallel local processes) equal the sequential
in-process reference bit for bit, and no model ever saw the rows it predicted."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from itb import datasets
from itb.compute.walk_forward import make_plan
from itb.config import parse_config
from itb.runs.manifest import list_runs
from itb.runs.runner import run_pipeline
from itb.stages.rolling import predict_rolling_sequential
from itb.storage.store import Storage

from tests.conftest import itb, write_config


def rolling_data(small_config_data: dict[str, Any]) -> dict[str, Any]:
    data = copy.deepcopy(small_config_data)
    # gb only: an lc step would import scikit-learn (seconds) in every step process; lc's
    # walk-forward path is the same code (fit_model), tested in test_models_algorithms.py
    data["train"]["algorithms"] = [{"name": "gb", "params": {"num_boost_round": 15, "num_leaves": 7}}]
    data["rolling"] = {"train_rows": 8000, "step_rows": 8000}
    data["simulate"] = {"fee": 0.001, "span": "all", "direction": "both"}
    return data


@pytest.fixture(scope="module")
def rolling_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path, Any]:
    from tests.conftest import load_default_config

    tmp = tmp_path_factory.mktemp("rolling")
    base = load_default_config()
    base["data_root"] = str(tmp / "data")
    base["merge"] = {"gaps": "fill", "start": "2024-02-01T00:00:00Z", "end": "2024-02-22T00:00:00Z"}
    data = rolling_data(base)
    config = write_config(tmp / "rolling.json", data)
    result = itb("run", str(config), "--backend", "local", "--workers", "2")
    return data, tmp / "data", result


def test_parallel_steps_equal_the_sequential_reference(rolling_run: tuple[dict[str, Any], Path, Any]) -> None:
    data, root, result = rolling_run
    assert result.returncode == 0, result.stderr
    got = pl.read_parquet(root / datasets.PREDICTIONS_ROLLING)
    reference = predict_rolling_sequential(parse_config(data | {"data_root": str(root)}), Storage(str(root)))
    assert got.columns == reference.columns
    assert got.equals(reference)  # bit-identical scores, same rows, same order
    assert got["holdout"].all() and got["timestamp"].is_sorted()
    for name in ("high_10_gb", "low_10_gb"):
        assert got[name].drop_nulls().len() == got.height


def test_no_model_saw_the_rows_it_predicted(rolling_run: tuple[dict[str, Any], Path, Any]) -> None:
    data, root, _ = rolling_run
    config = parse_config(data | {"data_root": str(root)})
    timestamps = pl.read_parquet(root / datasets.FEATURES)["timestamp"]
    plan = make_plan(config, timestamps)
    assert plan.horizon == 120 and plan.start == 8000 + 120 and plan.count == 3
    covered = []
    for k in range(plan.count):
        train_from, train_to, predict_from, predict_to = plan.window(k)
        assert train_to - train_from == 8000
        assert train_to + plan.horizon <= predict_from  # the last training label ends before prediction
        covered.extend(range(predict_from, predict_to))
    assert covered == list(range(plan.start, plan.rows))
    manifest = list_runs(Storage(str(root)))[-1]  # newest by creation time, not by second-resolution id
    stage = manifest.stages["predict_rolling"]
    assert stage.status == "succeeded" and list(stage.steps) == plan.step_ids()
    for k, info in enumerate(stage.steps.values()):
        assert info.status == "succeeded" and info.wall_s > 0 and info.peak_rss_mb > 0
        assert info.metrics["predict_rows"][0] == plan.window(k)[2]
    assert "high_10_gb" in stage.metrics["rolling"]
    assert json.loads((root / datasets.METRICS_ROLLING).read_text())["steps"] == plan.count
    # signals and the simulation use the walk-forward predictions
    signals = pl.read_parquet(root / datasets.SIGNALS)
    assert signals.height == plan.rows - plan.start
    assert manifest.stages["simulate"].metrics["trades"] >= 0


def test_dry_run_lists_steps(rolling_run: tuple[dict[str, Any], Path, Any], tmp_path: Path) -> None:
    data, _, _ = rolling_run
    config = write_config(tmp_path / "again.json", data)
    # Everything is up to date after the run: the dry run plans nothing until forced.
    idle = itb("run", str(config), "--dry-run")
    assert idle.returncode == 0 and "predict_rolling" not in idle.stdout
    assert "skip predict_rolling: up to date" in idle.stderr
    dry = itb("run", str(config), "--dry-run", "--force")
    assert dry.returncode == 0
    assert dry.stdout.count("--stage predict_rolling --threads 1 --step step-") == 3
    assert dry.stdout.count("--stage predict_rolling --threads 1 (") == 1  # the finalize run


def test_a_failing_step_fails_the_stage_and_stops_dependents(
    small_config_data: dict[str, Any], tmp_path: Path
) -> None:
    data = rolling_data(small_config_data)
    data["train"]["algorithms"] = [{"name": "gb", "params": {"num_boost_round": 5, "objective": "nonsense"}}]
    stages = ["merge", "features", "labels", "predict_rolling", "signals"]
    result = run_pipeline(parse_config(data), backend="inprocess", only=stages)
    stage = result.manifest.stages["predict_rolling"]
    assert stage.status == "failed" and stage.error.startswith("step step-0000 failed")
    assert result.manifest.stages["signals"].status == "not_run"
    assert not (Path(small_config_data["data_root"]) / datasets.PREDICTIONS_ROLLING).exists()


def test_rolling_config_errors(small_config_data: dict[str, Any]) -> None:
    data = rolling_data(small_config_data)
    data["rolling"] = {"train_rows": 8000, "train_span": "1d", "step_rows": 10}
    with pytest.raises(Exception, match="exactly one of train_rows and train_span"):
        parse_config(data)
    data["rolling"] = {"train_span": "2d", "step_rows": 1000, "start": 50}
    config = parse_config(data)
    timestamps = pl.Series("timestamp", [i * 60_000 for i in range(10_000)])
    with pytest.raises(Exception, match=r"rolling\.start"):
        make_plan(config, timestamps)
    config = parse_config(data | {"rolling": {"train_span": "2d", "step_rows": 1000}})
    assert make_plan(config, timestamps).train_rows == 2 * 24 * 60
