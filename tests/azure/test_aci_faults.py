"""Faults through the aci backend: each ends with a clear message and no container group left."""

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
from itb.config.loader import parse_config
from itb.runs.runner import RunResult, run_pipeline
from itb_azure.emulator.server import Emulator, Fault

from .conftest import groups_left

REPO = Path(__file__).resolve().parents[2]


def _merge_only(small_config_data: dict[str, Any], root: str, aci: dict[str, Any], **extra: Any) -> RunResult:
    data = copy.deepcopy(small_config_data)
    data["data_root"] = root
    data["merge"] = {"gaps": "fill", "start": "2024-02-01T00:00:00Z", "end": "2024-02-02T00:00:00Z"}
    data.setdefault("backend", {}).setdefault("options", {})["aci"] = aci
    data.update(extra)
    return run_pipeline(parse_config(data, "test"), backend="aci", only=["merge"])


def _assert_clean(emulator: Emulator, aci: dict[str, Any]) -> None:
    assert groups_left(emulator, aci["resource_group"]) == []
    deadline = time.monotonic() + 5
    while emulator.state.live_processes() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert emulator.state.live_processes() == 0


def test_container_exits_non_zero(
    small_config_data: dict[str, Any], container_url: str, aci_options: dict[str, Any], emulator: Emulator
) -> None:
    emulator.state.faults.append(Fault("exit", stage="merge", exit_code=3))
    result = _merge_only(small_config_data, container_url, aci_options)
    record = result.manifest.stages["merge"]
    assert result.status == "failed" and record.status == "failed"
    assert record.exit_code == 3
    assert "exit code 3" in record.error
    assert "injected failure: exit 3" in record.log_tail
    _assert_clean(emulator, aci_options)


def test_image_pull_error_never_starts(
    small_config_data: dict[str, Any], container_url: str, aci_options: dict[str, Any], emulator: Emulator
) -> None:
    emulator.state.faults.append(Fault("image_pull", stage="merge"))
    result = _merge_only(small_config_data, container_url, aci_options)
    record = result.manifest.stages["merge"]
    assert record.status == "failed"
    assert "image pull error" in record.error and "Failed to pull image" in record.error
    _assert_clean(emulator, aci_options)


def test_arm_429_is_retried_with_retry_after(
    small_config_data: dict[str, Any], container_url: str, aci_options: dict[str, Any], emulator: Emulator
) -> None:
    emulator.state.faults.append(Fault("throttle", count=2, retry_after=1, methods=("PUT",)))
    emulator.state.faults.append(Fault("throttle", count=1, retry_after=1, methods=("GET",)))
    started = time.monotonic()
    result = _merge_only(small_config_data, container_url, aci_options)
    assert result.ok, result.manifest.model_dump_json(include={"stages"}, indent=1)
    assert time.monotonic() - started >= 2.0  # the Retry-After seconds were waited
    assert all(f.count == 0 for f in emulator.state.faults)
    _assert_clean(emulator, aci_options)


def test_arm_429_that_never_ends_fails_clearly(
    small_config_data: dict[str, Any], container_url: str, aci_options: dict[str, Any], emulator: Emulator
) -> None:
    aci = {**aci_options, "retry_total": 1}
    emulator.state.faults.append(Fault("throttle", count=5, retry_after=0.2, methods=("PUT",)))
    result = _merge_only(small_config_data, container_url, aci)
    record = result.manifest.stages["merge"]
    assert record.status == "failed"
    assert "container group not created" in record.error and "429" in record.error
    emulator.state.faults.clear()
    _assert_clean(emulator, aci)


def test_stage_timeout_in_the_container(
    small_config_data: dict[str, Any], container_url: str, aci_options: dict[str, Any], emulator: Emulator
) -> None:
    aci = {**aci_options, "stages": {"merge": {"cpu": 1, "memory_gb": 1, "timeout_s": 1.5}}}
    emulator.state.faults.append(Fault("sleep", stage="merge", seconds=120))
    result = _merge_only(small_config_data, container_url, aci)
    record = result.manifest.stages["merge"]
    assert record.status == "failed" and "timed out after 1.5s" in record.error
    _assert_clean(emulator, aci)


def test_ctrl_c_mid_run_deletes_the_groups(
    small_config_data: dict[str, Any],
    tmp_path: Path,
    container_url: str,
    aci_options: dict[str, Any],
    aci_env: dict[str, str],
    emulator: Emulator,
) -> None:
    data = copy.deepcopy(small_config_data)
    data["data_root"] = container_url
    data["backend"] = {"name": "aci", "options": {"aci": aci_options}}
    config = tmp_path / "config.json"
    config.write_text(json.dumps(data))
    emulator.state.faults.append(Fault("sleep", stage="merge", seconds=300))
    process = subprocess.Popen(
        [sys.executable, "-m", "itb", "run", str(config), "--backend", "aci", "--only", "merge"],
        cwd=REPO,
        env={**os.environ, **aci_env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (
            groups_left(emulator, aci_options["resource_group"]) and emulator.state.live_processes()
        ):
            time.sleep(0.1)
        assert groups_left(emulator, aci_options["resource_group"]), "no container group was created"
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, err
    assert "interrupted" in err
    _assert_clean(emulator, aci_options)


@pytest.mark.parametrize("missing", ["subscription_id", "resource_group"])
def test_missing_settings_are_named(
    small_config_data: dict[str, Any], container_url: str, aci_options: dict[str, Any], missing: str
) -> None:
    aci = {k: v for k, v in aci_options.items() if k != missing}
    result = _merge_only(small_config_data, container_url, aci)
    assert missing in result.manifest.stages["merge"].error
