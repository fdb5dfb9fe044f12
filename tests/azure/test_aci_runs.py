"""Batch on ACI finds its own work again: a killed runner's groups are found by tag and name and
deleted (``itb runs clean`` or the next run on the data root); dry runs check the data root and
plan without credentials."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from itb.cli.main import main
from itb.config.loader import parse_config
from itb.runs.runner import run_pipeline
from itb_azure.emulator.server import Emulator, Fault

from .conftest import groups_left

REPO = Path(__file__).resolve().parents[2]


def _write_config(data: dict[str, Any], path: Path, root: str, aci: dict[str, Any] | None = None) -> Path:
    data = copy.deepcopy(data)
    data["data_root"] = root
    data["merge"] = {"gaps": "fill", "start": "2024-02-01T00:00:00Z", "end": "2024-02-02T00:00:00Z"}
    if aci is not None:
        data["backend"] = {"name": "aci", "options": {"aci": aci}}
    path.write_text(json.dumps(data))
    return path


def _group_tags(emulator: Emulator, resource_group: str) -> list[dict[str, str]]:
    with emulator.state.lock:
        return [
            dict(g.body.get("tags") or {}) for g in emulator.state.groups.values() if g.rg == resource_group
        ]


def _kill_runner_mid_merge(config: Path, env: dict[str, str], emulator: Emulator, rg: str) -> str:
    """Start ``itb run`` on aci, wait for its merge container to run, kill -9 the runner; its run id."""
    emulator.state.faults.append(Fault("sleep", stage="merge", seconds=300))
    process = subprocess.Popen(
        [sys.executable, "-m", "itb", "run", str(config), "--backend", "aci", "--only", "merge"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (
            groups_left(emulator, rg) and emulator.state.live_processes()
        ):
            time.sleep(0.1)
        assert groups_left(emulator, rg), "no container group was created"
    finally:
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL
    time.sleep(0.3)  # nothing may clean up after a SIGKILL: the group must still be there
    tags = _group_tags(emulator, rg)
    assert len(tags) == 1 and emulator.state.live_processes() >= 1
    return tags[0]["itb-run-id"]


def test_killed_runner_groups_are_deleted_by_runs_clean(
    small_config_data: dict[str, Any],
    tmp_path: Path,
    container_url: str,
    aci_options: dict[str, Any],
    aci_env: dict[str, str],
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rg = aci_options["resource_group"]
    config = _write_config(small_config_data, tmp_path / "config.json", container_url, aci_options)
    run_id = _kill_runner_mid_merge(config, {**os.environ, **aci_env}, emulator, rg)
    name = groups_left(emulator, rg)[0]
    assert name == f"itb-{run_id.lower()}-merge-a1"  # the name the run id, task and attempt give

    assert main(["runs", "clean", run_id, "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert f"deleted {name} (aci)" in out
    assert groups_left(emulator, rg) == []
    # A second clean finds the run's manifest but nothing left; an unknown run is an error.
    assert main(["runs", "clean", run_id, "--config", str(config)]) == 0
    assert "nothing left on the aci backend" in capsys.readouterr().out
    assert main(["runs", "clean", "20200101T000000Z-abcdef", "--config", str(config)]) == 2
    assert "unknown run '20200101T000000Z-abcdef'" in capsys.readouterr().err


@pytest.mark.slow
def test_the_next_run_deletes_a_killed_runners_groups(
    small_config_data: dict[str, Any],
    tmp_path: Path,
    container_url: str,
    aci_options: dict[str, Any],
    aci_env: dict[str, str],
    emulator: Emulator,
) -> None:
    rg = aci_options["resource_group"]
    config = _write_config(small_config_data, tmp_path / "config.json", container_url, aci_options)
    killed = _kill_runner_mid_merge(config, {**os.environ, **aci_env}, emulator, rg)
    emulator.state.faults.clear()
    data = json.loads(config.read_text())
    rerun = run_pipeline(parse_config(data, "test"), backend="aci", only=["merge"], break_lock=True)
    assert rerun.ok, rerun.manifest.model_dump_json(include={"stages"}, indent=1)
    assert rerun.run_id != killed
    assert groups_left(emulator, rg) == []  # the killed run's group too, not only the rerun's own
    deadline = time.monotonic() + 5
    while emulator.state.live_processes() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert emulator.state.live_processes() == 0


@pytest.mark.parametrize(
    ("extra", "named"), [([], "data_root: "), (["--data-root", "/tmp/itb-local-root"], "--data-root: ")]
)
def test_dry_run_with_a_local_data_root_is_exit_2(
    small_config_data: dict[str, Any],
    tmp_path: Path,
    extra: list[str],
    named: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = _write_config(small_config_data, tmp_path / "config.json", str(tmp_path / "data"))
    assert main(["run", str(config), "--backend", "aci", "--dry-run", *extra]) == 2
    err = capsys.readouterr().err
    assert named in err and "not reachable from an aci container" in err and "Traceback" not in err


def test_dry_run_on_blob_without_credentials_plans_every_stage(
    small_config_data: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in (
        "AZURE_STORAGE_CONNECTION_STRING",
        "AZURE_STORAGE_ACCOUNT_NAME",
        "AZURE_STORAGE_ACCOUNT_KEY",
    ):
        monkeypatch.delenv(name, raising=False)
    config = _write_config(small_config_data, tmp_path / "config.json", "abfs://itbdata/data")
    assert main(["run", str(config), "--backend", "aci", "--dry-run"]) == 0
    captured = capsys.readouterr()
    notes, lines = captured.err.splitlines(), captured.out.splitlines()
    assert notes[0].startswith("itb: estimates: fixed guesses")
    assert notes[1].startswith("itb: could not read the stored state under abfs://itbdata/data: ValueError")
    groups = [line for line in lines if line.startswith("aci container group")]
    stages = parse_config(json.loads(config.read_text()), "t")
    from itb.stages.registry import planned_stages

    assert [line.split("-a1:")[0].rsplit("-", 1)[-1] for line in groups] == [
        s.replace("_", "-") for s in planned_stages(stages)
    ]
    assert all("(guess)" in line and "$" in line for line in groups)


def test_dry_run_estimates_come_from_the_last_successful_run(
    small_config_data: dict[str, Any], tmp_path: Path, container_url: str, aci_options: dict[str, Any]
) -> None:
    config = _write_config(small_config_data, tmp_path / "config.json", container_url, aci_options)
    parsed = parse_config(json.loads(config.read_text()), "test")
    done = run_pipeline(parsed, backend="inprocess", only=["merge"])
    assert done.ok
    merge_s = done.manifest.stages["merge"].wall_s
    manifest = run_pipeline(parsed, backend="aci", dry_run=True).manifest
    plan, notes = manifest.plan or [], manifest.plan_notes or []
    assert notes[0].startswith(f"estimates: stage times measured by run {done.run_id}")
    assert "skip merge: up to date" in notes  # the plan proves merge current: no group for it
    assert not any("-merge-a1:" in line for line in plan)
    features = next(line for line in plan if "-features-a1:" in line)
    assert "(guess)" in features  # never measured under this config
    forced = run_pipeline(parsed, backend="aci", dry_run=True, force=True).manifest.plan or []
    merge = next(line for line in forced if "-merge-a1:" in line)
    assert f"estimate {merge_s:.4g}s (measured)" in merge
