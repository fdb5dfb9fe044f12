"""A remote data root that cannot be reached or refuses the credentials fails a run in one line
naming the dataset and the cause (never a traceback, never the key), in seconds: the Azure client's
retries are bounded through ``ITB_STORAGE_RETRY_TOTAL``/``ITB_STORAGE_CONNECTION_TIMEOUT_S``."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from itb.errors import ConfigError
from itb.runs.manifest import RunStatus, StageStatus, list_runs
from itb.storage import Storage
from itb.storage.azure_fs import client_limits
from itb.storage.store import StorageError, storage_error
from itb_azure.emulator.azurite import ACCOUNT, ACCOUNT_KEY, Azurite, free_port

from tests.conftest import itb, load_default_config

WRONG_KEY = "A" * 86 + "=="
LIMITS = {"ITB_STORAGE_RETRY_TOTAL": "0", "ITB_STORAGE_CONNECTION_TIMEOUT_S": "2"}


def connection_string(endpoint: str, key: str) -> str:
    return f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={key};BlobEndpoint={endpoint};"


def closed_endpoint() -> str:
    return f"http://127.0.0.1:{free_port()}/{ACCOUNT}"  # nothing listens there: connection refused


def merge_config(tmp_path: Path, data_root: str) -> Path:
    data = load_default_config()
    data["data_root"] = data_root
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    return path


def assert_one_line_failure(stderr: str, dataset: str, cause: str) -> None:
    assert "Traceback" not in stderr and "Warning" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert f"cannot write {dataset}" in lines[0] and cause in lines[0], stderr
    assert ACCOUNT_KEY not in stderr and WRONG_KEY not in stderr


def test_an_unreachable_account_fails_the_run_in_one_line(tmp_path: Path) -> None:
    env = {"AZURE_STORAGE_CONNECTION_STRING": connection_string(closed_endpoint(), ACCOUNT_KEY), **LIMITS}
    started = time.monotonic()
    result = itb("run", str(merge_config(tmp_path, "abfs://gone/data")), "--only", "merge",
                 "--backend", "inprocess", env=env, timeout=60)  # fmt: skip
    assert result.returncode == 1, result.stderr
    # the first thing a run writes is the data root's lock: no manifest can be written either
    assert_one_line_failure(result.stderr, "runs/.lock (abfs://gone/data/runs/.lock)", "ServiceRequestError")
    assert "Cannot connect to host 127.0.0.1" in result.stderr
    assert time.monotonic() - started < 20


def test_a_wrong_account_key_fails_the_run_in_one_line_and_writes_nothing(
    azurite: Azurite, container_url: str, tmp_path: Path
) -> None:
    env = {"AZURE_STORAGE_CONNECTION_STRING": connection_string(azurite.blob_endpoint, WRONG_KEY), **LIMITS}
    result = itb("run", str(merge_config(tmp_path, container_url)), "--only", "merge",
                 "--backend", "inprocess", env=env, timeout=60)  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert_one_line_failure(result.stderr, "runs/.lock", "Server failed to authenticate the request")
    assert Storage(container_url).list("") == []  # with the right key: no lock, manifest or temporary left


def test_reads_lists_and_checks_on_an_unreachable_account_are_storage_errors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", connection_string(closed_endpoint(), ACCOUNT_KEY))
    for name, value in LIMITS.items():
        monkeypatch.setenv(name, value)
    storage = Storage("abfs://gone/data")
    calls = {
        "read": lambda: storage.read_parquet("merged.parquet"),
        "check": lambda: storage.exists("merged.parquet"),
        "list": lambda: storage.list("models"),
    }
    for action, call in calls.items():
        with pytest.raises(StorageError) as caught:
            call()
        message = str(caught.value)
        assert message.startswith(f"cannot {action} "), message
        assert "ServiceRequestError: Cannot connect to host" in message and "\n" not in message
    # A bug inside the boundary is not a storage failure: it passes through as itself.
    with pytest.raises(TypeError), storage.remote_errors("read", "merged.parquet"):
        raise TypeError("a bug in itb")


def test_storage_errors_mask_credentials() -> None:
    cause = RuntimeError(
        f"denied: https://a.blob.core.windows.net/c/x?sv=2022&sig=s3cr3t%2F AccountKey={WRONG_KEY};"
    )
    message = str(storage_error("read", "x.parquet", "abfs://c/x.parquet?se=1&sig=s3cr3t", cause))
    assert "s3cr3t" not in message and WRONG_KEY not in message
    assert message.startswith("cannot read x.parquet (abfs://c/x.parquet?se=1&sig=***): RuntimeError: denied")


def test_client_limits_come_from_the_environment_and_bad_values_are_config_errors() -> None:
    assert client_limits({}) == {}
    assert client_limits(LIMITS) == {
        "retry_total": 0, "connection_timeout": 2.0, "initial_backoff": 1, "increment_base": 1
    }  # fmt: skip
    with pytest.raises(ConfigError, match="ITB_STORAGE_RETRY_TOTAL: 'many' is not a non-negative int"):
        client_limits({"ITB_STORAGE_RETRY_TOTAL": "many"})


def test_a_refused_dataset_write_fails_its_stage_in_one_line_and_the_manifest_says_so(
    azure_env: dict[str, str], container_url: str, small_config_data: dict[str, Any], tmp_path: Path
) -> None:
    """A blob under an active lease refuses every write without its lease id: a real service-side
    refusal of one dataset, after the lock and the manifest were written."""
    from azure.storage.blob import BlobServiceClient

    storage = Storage(container_url)
    storage.write_bytes("merged.parquet", b"previous")
    container, prefix = container_url.removeprefix("abfs://").split("/", 1)
    service = BlobServiceClient.from_connection_string(azure_env["AZURE_STORAGE_CONNECTION_STRING"])
    blob = service.get_blob_client(container, f"{prefix}/merged.parquet")
    lease = blob.acquire_lease(lease_duration=-1)
    try:
        config = tmp_path / "leased.json"
        config.write_text(json.dumps(small_config_data | {"data_root": container_url}))
        result = itb("run", str(config), "--only", "merge", "--backend", "inprocess", env=LIMITS, timeout=120)
        assert result.returncode == 1, result.stderr
        assert "Traceback" not in result.stderr
        assert "cannot write merged.parquet" in result.stderr and "HttpResponseError" in result.stderr
        assert "lease" in result.stderr and ACCOUNT_KEY not in result.stderr
        manifest = list_runs(storage)[-1]
        assert manifest.status is RunStatus.FAILED
        merge = manifest.stages["merge"]
        assert merge.status is StageStatus.FAILED and merge.error is not None
        assert (
            f"cannot write merged.parquet ({container_url}/merged.parquet): HttpResponseError" in merge.error
        )
        assert storage.read_bytes("merged.parquet") == b"previous"
        assert [name for name in storage.list("") if ".tmp-" in name] == []
    finally:
        lease.release()
