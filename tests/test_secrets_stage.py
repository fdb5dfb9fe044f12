"""Secrets resolve inside the stage: a missing one fails that stage clearly, and values never leak."""

from __future__ import annotations

from typing import Any

import pytest
from itb.config import parse_config
from itb.runs.runner import run_pipeline


def test_missing_secret_fails_the_stage_with_a_clear_error(
    small_config_data: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ITB_TEST_MISSING_SECRET", raising=False)
    small_config_data["secrets"] = {"token": "env:ITB_TEST_MISSING_SECRET"}
    result = run_pipeline(parse_config(small_config_data), backend="inprocess", only=["merge"])
    merge = result.manifest.stages["merge"]
    assert merge.status == "failed"
    assert "environment variable ITB_TEST_MISSING_SECRET is not set" in merge.error


def test_in_process_stage_logs_mask_secret_values(
    small_config_data: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    value = "in-process-s3cr3t-77"
    monkeypatch.setenv("ITB_TEST_INPROC_SECRET", value)
    small_config_data["secrets"] = {"token": "env:ITB_TEST_INPROC_SECRET"}
    small_config_data["feature_sets"].append({"generator": "tests.userfuncs:leak_secret", "config": {}})
    config = parse_config(small_config_data)
    result = run_pipeline(config, backend="inprocess", only=["merge", "features"])
    features = result.manifest.stages["features"]
    log = result.storage.read_bytes(features.log).decode()
    assert features.status == "failed"
    assert "upstream rejected token ***" in log and value not in log
    assert "upstream rejected token ***" in features.error
    assert value not in result.manifest.model_dump_json()
    assert value not in result.storage.read_bytes(f"runs/{result.run_id}/manifest.json").decode()
