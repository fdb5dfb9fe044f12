"""Secrets resolve only where they are used, inside a scope that ends with the stage, and their values
never reach a log, the manifest or the data root."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from itb import secret_refs
from itb.config import parse_config
from itb.errors import ConfigError
from itb.runs.runner import run_pipeline

VALUE = "s3cr3t-value-4d1f9a7c"


def _files_containing(root: Path, value: str) -> list[str]:
    needle = value.encode()
    return sorted(
        str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()
    )


def test_pipeline_runs_with_an_unset_secret_that_no_stage_uses(
    small_config_data: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ITB_TEST_UNSET_TELEGRAM", raising=False)
    small_config_data["secrets"] = {"telegram_bot_token": "env:ITB_TEST_UNSET_TELEGRAM"}
    result = run_pipeline(parse_config(small_config_data), backend="inprocess")
    assert result.ok, result.manifest.model_dump_json(include={"stages"}, indent=1)
    assert result.manifest.stages["simulate"].status == "succeeded"


def test_a_missing_secret_fails_only_the_code_that_asks_for_it(
    small_config_data: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ITB_TEST_MISSING_SECRET", raising=False)
    small_config_data["secrets"] = {"token": "env:ITB_TEST_MISSING_SECRET"}
    small_config_data["feature_sets"].append({"generator": "tests.userfuncs:leak_secret", "config": {}})
    result = run_pipeline(parse_config(small_config_data), backend="inprocess", only=["merge", "features"])
    assert result.manifest.stages["merge"].status == "succeeded"
    features = result.manifest.stages["features"]
    assert features.status == "failed"
    assert "environment variable ITB_TEST_MISSING_SECRET is not set" in features.error


def test_secrets_resolve_on_first_use_and_are_gone_after_the_scope(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ITB_TEST_SCOPE_SECRET", VALUE)
    calls: list[str] = []

    def counting(ref: str) -> str:
        calls.append(ref)
        return "other-" + VALUE

    with secret_refs.activate() as scope:
        scope.define({"a": "env:ITB_TEST_SCOPE_SECRET", "b": "count:x", "c": "env:ITB_TEST_UNSET_XYZ"},
                     {"env": secret_refs._env, "count": counting})  # fmt: skip
        assert calls == []  # defining resolves nothing
        assert secret_refs.get("b") == secret_refs.get("b") == "other-" + VALUE
        assert calls == ["count:x"]  # resolved once, then cached in the scope
        assert secret_refs.redact(f"x other-{VALUE} y") == "x *** y"
        with pytest.raises(ConfigError, match="ITB_TEST_UNSET_XYZ is not set"):
            secret_refs.get("c")
        with pytest.raises(ConfigError, match="'nope' is not defined"):
            secret_refs.get("nope")
    with pytest.raises(ConfigError, match="no open secret scope"):
        secret_refs.get("a")
    assert secret_refs.known_values() == []
    assert secret_refs.redact(f"x other-{VALUE} y") == f"x other-{VALUE} y"  # nothing left to mask


def test_in_process_stage_logs_mask_secret_values(
    small_config_data: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ITB_TEST_INPROC_SECRET", VALUE)
    small_config_data["secrets"] = {"token": "env:ITB_TEST_INPROC_SECRET"}
    small_config_data["feature_sets"].append({"generator": "tests.userfuncs:leak_secret", "config": {}})
    seen: list[str] = []

    class Capture(logging.Handler):  # a handler of the caller's own: itb's records reach it masked
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(self.format(record))

    capture = Capture()
    logging.getLogger().addHandler(capture)
    try:
        config = parse_config(small_config_data)
        result = run_pipeline(config, backend="inprocess", only=["merge", "features"])
    finally:
        logging.getLogger().removeHandler(capture)
    features = result.manifest.stages["features"]
    log = result.storage.read_bytes(features.log).decode()
    assert features.status == "failed"
    assert "upstream rejected token ***" in log and VALUE not in log
    assert "upstream rejected token ***" in features.error
    assert any("upstream rejected token ***" in line for line in seen)
    assert not any(VALUE in line for line in seen)
    assert VALUE not in result.manifest.model_dump_json()
    assert _files_containing(Path(small_config_data["data_root"]), VALUE) == []


def test_local_stage_output_is_masked_before_it_reaches_the_data_root(
    small_config_data: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ITB_TEST_LOCAL_SECRET", VALUE)
    small_config_data["secrets"] = {"token": "env:ITB_TEST_LOCAL_SECRET"}
    small_config_data["feature_sets"].append({"generator": "tests.userfuncs:print_secret", "config": {}})
    result = run_pipeline(parse_config(small_config_data), backend="local", only=["merge", "features"])
    features = result.manifest.stages["features"]
    assert features.status == "succeeded", features
    log = result.storage.read_bytes(features.log).decode()
    for line in ("debug: token=***", "native: ***", "Authorization: Bearer ***", "split: *** end"):
        assert line in log, log
    assert _files_containing(Path(small_config_data["data_root"]), VALUE) == []


def test_sys_exit_in_user_code_fails_the_stage_with_the_message_masked(
    small_config_data: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ITB_TEST_EXIT_SECRET", VALUE)
    small_config_data["secrets"] = {"token": "env:ITB_TEST_EXIT_SECRET"}
    small_config_data["feature_sets"].append({"generator": "tests.userfuncs:exit_with_secret", "config": {}})
    result = run_pipeline(parse_config(small_config_data), backend="inprocess", only=["merge", "features"])
    features = result.manifest.stages["features"]  # the calling process is still here to look
    assert features.status == "failed"
    assert "cannot log in with ***" in features.error and VALUE not in result.manifest.model_dump_json()
