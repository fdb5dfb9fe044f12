"""End to end on the bundled sample: local processes, skipping, --force, manifests, failures."""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from itb import datasets
from itb.config import parse_config
from itb.runs.manifest import RunManifest, list_runs
from itb.runs.runner import run_pipeline
from itb.storage import Storage

from tests.conftest import REPO, itb, write_config
from tests.faults import pause_before_commit
from tests.polling import wait_for

STAGES = ["merge", "features", "labels", "train", "predict", "signals", "simulate"]
PARQUET = [datasets.MERGED, datasets.FEATURES, datasets.LABELS, datasets.PREDICTIONS, datasets.SIGNALS]


def manifest_of(data_root: Path, run_id: str | None = None) -> RunManifest:
    """A run's manifest; the newest run's by default."""
    if run_id:
        return RunManifest.model_validate_json((data_root / "runs" / run_id / "manifest.json").read_text())
    return list_runs(Storage(str(data_root)))[-1]


@pytest.fixture(scope="module")
def first_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Path, Path, subprocess.CompletedProcess[str]]]:
    """One full local run shared by the tests that only read its results."""
    from tests.conftest import load_default_config

    tmp = tmp_path_factory.mktemp("pipeline")
    data = copy.deepcopy(load_default_config())
    data["data_root"] = str(tmp / "data")
    data["merge"] = {"gaps": "fill", "start": "2024-02-01T00:00:00Z", "end": "2024-02-22T00:00:00Z"}
    data["train"]["algorithms"][0]["params"] = {"num_boost_round": 30, "num_leaves": 7}
    data["secrets"] = {"telegram": "env:ITB_TEST_SECRET"}
    config = write_config(tmp / "config.json", data)
    # Stages resolve every declared secret at start, so each run of this config needs the variable.
    patch = pytest.MonkeyPatch()
    patch.setenv("ITB_TEST_SECRET", "s3cr3t-value-42")
    result = itb("run", str(config), "--backend", "local")
    yield config, tmp / "data", result
    patch.undo()


def test_full_run_succeeds_with_every_output(first_run: tuple[Path, Path, Any]) -> None:
    _, root, result = first_run
    assert result.returncode == 0, result.stderr
    models = [datasets.model_text("high_10_gb"), datasets.model_meta("low_10_gb")]
    for name in [*PARQUET, datasets.SIMULATION, *models]:
        assert (root / name).exists(), name
    merged = pl.read_parquet(root / datasets.MERGED)
    assert merged.height == 21 * 24 * 60
    assert merged["timestamp"].diff().drop_nulls().unique().to_list() == [60_000]
    features = pl.read_parquet(root / datasets.FEATURES)
    assert "close_SMA_5" in features.columns and "close_LINEARREG_SLOPE_60" in features.columns
    predictions = pl.read_parquet(root / datasets.PREDICTIONS)
    assert {"high_10_gb", "low_10_gb", "holdout"} <= set(predictions.columns)
    scores = predictions["high_10_gb"].drop_nulls()
    assert scores.len() > 0 and scores.min() >= 0 and scores.max() <= 1  # type: ignore[operator]
    assert "backtest:" in result.stdout and "holdout AUC" in result.stdout


def test_manifest_records_stages_inputs_outputs_and_no_secrets(first_run: tuple[Path, Path, Any]) -> None:
    _, root, result = first_run
    manifest = manifest_of(root)
    assert manifest.status == "succeeded" and manifest.backend == "local"
    assert manifest.config_hash.startswith("sha256:")
    assert {"python", "itb-core", "polars", "lightgbm"} <= set(manifest.versions)
    assert list(manifest.stages) == STAGES
    for name, stage in manifest.stages.items():
        assert stage.status == "succeeded", name
        assert stage.started_at <= stage.ended_at
        for output in stage.outputs.values():
            assert output.fingerprint.startswith("sha256:")
    features = manifest.stages["features"]
    assert features.inputs[datasets.MERGED] == manifest.stages["merge"].outputs[datasets.MERGED].model_dump()
    assert features.outputs[datasets.FEATURES].rows == 21 * 24 * 60
    assert "sample:BTCUSDT-1m-2024Q1" in manifest.stages["merge"].inputs
    holdout = manifest.stages["predict"].metrics["holdout"]["high_10_gb"]
    assert 0 <= holdout["auc"] <= 1 and holdout["rows"] > 0
    assert manifest.stages["simulate"].metrics["trades"] >= 0
    everything = "".join(
        p.read_text(errors="replace") for p in root.rglob("*") if p.suffix in (".json", ".log")
    )
    assert "s3cr3t-value-42" not in everything + result.stdout + result.stderr
    assert "env:ITB_TEST_SECRET" in (root / "runs" / manifest.run_id / "config.json").read_text()


def test_rerun_skips_every_stage(first_run: tuple[Path, Path, Any]) -> None:
    config, root, _ = first_run
    result = itb("run", str(config))
    assert result.returncode == 0, result.stderr
    manifest = manifest_of(root)
    assert {s.status for s in manifest.stages.values()} == {"skipped"}
    shown = itb("runs", "show", manifest.run_id, "--data-root", str(root))
    assert shown.returncode == 0 and "skipped" in shown.stdout


def test_force_into_a_second_root_gives_identical_outputs(
    first_run: tuple[Path, Path, Any], tmp_path: Path
) -> None:
    config, root, _ = first_run
    second = tmp_path / "second"
    result = itb("run", str(config), "--force", "--data-root", str(second))
    assert result.returncode == 0, result.stderr
    for name in [*PARQUET, datasets.SIMULATION]:
        assert (second / name).read_bytes() == (root / name).read_bytes(), name


def test_inprocess_backend_gives_the_same_fingerprints(
    first_run: tuple[Path, Path, Any], tmp_path: Path
) -> None:
    config, root, _ = first_run
    from itb.config import load_config

    result = run_pipeline(load_config(config), backend="inprocess", data_root=str(tmp_path / "inproc"))
    assert result.ok
    local = list_runs(Storage(str(root)))[0]
    for stage in STAGES:
        ours = result.manifest.stages[stage].outputs
        theirs = local.stages[stage].outputs
        for name in ours:
            if name.endswith((".parquet", ".json")) and not name.startswith("models/"):
                assert ours[name].fingerprint == theirs[name].fingerprint, (stage, name)


def test_only_and_from_select_stages(small_config_data: dict[str, Any], tmp_path: Path) -> None:
    config = parse_config(small_config_data)
    root = str(tmp_path / "sel")
    only = run_pipeline(config, backend="inprocess", data_root=root, only=["merge"])
    assert list(only.manifest.stages) == ["merge"] and only.ok
    missing = run_pipeline(config, backend="inprocess", data_root=root, only=["train"])
    assert missing.manifest.stages["train"].status == "not_run"
    assert "features has no outputs yet" in missing.manifest.stages["train"].error
    full = run_pipeline(config, backend="inprocess", data_root=root)
    assert full.manifest.stages["merge"].status == "skipped"
    assert full.manifest.stages["features"].status == "succeeded"
    tail = run_pipeline(config, backend="inprocess", data_root=root, start="signals", force=True)
    assert list(tail.manifest.stages) == ["signals", "simulate"]
    assert {s.status for s in tail.manifest.stages.values()} == {"succeeded"}


def test_dry_run_plans_without_running(small_config: Path, tmp_path: Path) -> None:
    result = itb("run", str(small_config), "--dry-run", "--data-root", str(tmp_path / "dry"))
    assert result.returncode == 0
    # train fans out: one step per model (high_10_gb, low_10_gb), then its finalize run
    assert result.stdout.count("itb stage run") == len(STAGES) + 2
    assert result.stdout.count("--stage train --threads 1 --step ") == 2
    assert not (tmp_path / "dry").exists()


def test_a_failing_stage_stops_its_dependents(small_config_data: dict[str, Any], tmp_path: Path) -> None:
    small_config_data["feature_sets"].append({"generator": "tests.userfuncs:boom", "config": {}})
    config = write_config(tmp_path / "boom.json", small_config_data)
    result = itb("run", str(config))
    assert result.returncode == 1
    assert "boom: this user function always fails" in result.stderr  # error and log tail shown
    manifest = manifest_of(Path(small_config_data["data_root"]))
    statuses = {name: s.status for name, s in manifest.stages.items()}
    assert statuses["merge"] == "succeeded" and statuses["labels"] == "succeeded"
    assert statuses["features"] == "failed"
    assert statuses["train"] == statuses["predict"] == statuses["signals"] == "not_run"
    assert manifest.status == "failed"
    log = Path(small_config_data["data_root"]) / manifest.stages["features"].log
    assert "boom" in log.read_text()


def test_user_functions_polars_and_pandas(small_config_data: dict[str, Any], tmp_path: Path) -> None:
    small_config_data["feature_sets"] += [
        {"generator": "tests.userfuncs:range_ratio", "config": {"outputs": ["range_ratio"]}},
        {"generator": "tests.userfuncs:body_pandas", "config": {"outputs": ["body"]}},
    ]
    result = run_pipeline(parse_config(small_config_data), backend="inprocess", only=["merge", "features"])
    assert result.ok, result.manifest
    features = result.storage.read_parquet(datasets.FEATURES)
    merged = result.storage.read_parquet(datasets.MERGED)
    assert features["body"].to_list() == (merged["close"] - merged["open"]).to_list()
    assert features["range_ratio"].to_list() == ((merged["high"] - merged["low"]) / merged["close"]).to_list()


def _stage_pids(stage: str, data_root: Path) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                # NUL-separated for an exec'd stage; one string for a forked one (its process title)
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").split()
            except OSError:
                continue
            if b"stage" in cmdline and stage.encode() in cmdline and str(data_root).encode() in cmdline:
                pids.append(int(entry.name))
    return pids


def _start_run(config: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "itb", "run", str(config)],
        cwd=REPO,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **env},
    )


def test_sigkill_mid_write_leaves_no_partial_output(
    small_config_data: dict[str, Any], tmp_path: Path
) -> None:
    root = Path(small_config_data["data_root"])
    config = write_config(tmp_path / "kill.json", small_config_data)
    runner = _start_run(config, pause_before_commit(datasets.FEATURES, 120))
    wait_for(lambda: list(root.glob(f".{datasets.FEATURES}.tmp-*")))  # the temporary file is complete
    pids = _stage_pids("features", root)
    assert pids
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    runner.communicate(timeout=300)
    assert runner.returncode == 1
    assert not (root / datasets.FEATURES).exists()
    assert not list(root.glob(f".{datasets.FEATURES}.tmp-*"))  # cleaned by the runner
    stage = manifest_of(root).stages["features"]
    assert stage.status == "failed" and "SIGKILL" in stage.error
    rerun = itb("run", str(config))
    assert rerun.returncode == 0, rerun.stderr
    statuses = {n: s.status for n, s in manifest_of(root).stages.items()}
    assert statuses["merge"] == "skipped" and statuses["features"] == "succeeded"
    assert statuses["simulate"] == "succeeded"


def test_ctrl_c_stops_children_and_records_interruption(
    small_config_data: dict[str, Any], tmp_path: Path
) -> None:
    root = Path(small_config_data["data_root"])
    config = write_config(tmp_path / "int.json", small_config_data)
    runner = _start_run(config, pause_before_commit(datasets.LABELS, 120))
    wait_for(lambda: list(root.glob(f".{datasets.LABELS}.tmp-*")))
    runner.send_signal(signal.SIGINT)
    _, err = runner.communicate(timeout=60)
    assert runner.returncode == 130, err
    assert "interrupted" in err
    assert not _stage_pids("labels", root)
    manifest = manifest_of(root)
    assert manifest.status == "interrupted"
    assert manifest.stages["labels"].status == "interrupted"
    assert manifest.stages["labels"].error == "interrupted (Ctrl-C)"
    assert not (root / datasets.LABELS).exists()


def test_stage_timeout(small_config_data: dict[str, Any], tmp_path: Path) -> None:
    small_config_data["backend"] = {"name": "local", "stage_timeout_s": 3}
    root = Path(small_config_data["data_root"])
    config = write_config(tmp_path / "timeout.json", small_config_data)
    result = itb("run", str(config), "--only", "merge", env=pause_before_commit(datasets.MERGED, 60))
    assert result.returncode == 1
    assert "timed out after 3s" in result.stderr
    assert not (root / datasets.MERGED).exists()
    assert not _stage_pids("merge", root)


def test_a_missing_source_fails_merge_in_the_manifest_for_library_callers(
    small_config_data: dict[str, Any], tmp_path: Path
) -> None:
    """run_pipeline without the CLI's input check: a failed merge on record, not an exception."""
    small_config_data["data_sources"][0]["path"] = str(tmp_path / "nowhere.parquet")
    result = run_pipeline(parse_config(small_config_data), backend="inprocess")
    assert result.status == "failed"
    stages = result.manifest.stages
    assert stages["merge"].status == "failed"
    assert "data not found" in stages["merge"].error and "nowhere.parquet" in stages["merge"].error
    assert stages["features"].status == stages["simulate"].status == "not_run"
