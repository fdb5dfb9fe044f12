"""Storage on ``abfs://`` against Azurite: options from the environment, big Parquet, atomic writes."""

from __future__ import annotations

import os
import threading

import numpy as np
import polars as pl
import pytest
from itb.storage import Storage
from itb.storage.url import azure_storage_options, storage_options_for


def test_options_from_environment_never_need_config() -> None:
    assert storage_options_for("./data") == {}
    assert storage_options_for("memory://x") == {}
    cs = azure_storage_options({"AZURE_STORAGE_CONNECTION_STRING": "cs"})
    assert cs["connection_string"] == "cs"
    key = azure_storage_options({"AZURE_STORAGE_ACCOUNT_NAME": "acct", "AZURE_STORAGE_ACCOUNT_KEY": "k"})
    assert key["account_name"] == "acct" and key["account_key"] == "k"
    default = azure_storage_options({"AZURE_STORAGE_ACCOUNT_NAME": "acct"})
    assert default == {"use_listings_cache": False, "account_name": "acct", "anon": False}


def test_big_parquet_roundtrip_and_fingerprint(container_url: str) -> None:
    storage = Storage(container_url)
    rng = np.random.default_rng(1)
    n = 1_500_000  # ~ 24 MB of random floats: several blocks, not one small PUT
    df = pl.DataFrame({"a": rng.random(n), "b": rng.random(n), "i": np.arange(n)})
    written = storage.write_parquet("features.parquet", df)
    assert written.size > 8 * 1024 * 1024
    assert storage.fingerprint("features.parquet") == written.fingerprint
    assert storage.read_parquet("features.parquet").equals(df)
    assert storage.list("") == ["features.parquet"]
    # The same frame gives the same bytes on Blob as on a local disk.
    assert Storage("memory://itb-fp").write_parquet("f.parquet", df).fingerprint == written.fingerprint


def test_write_bytes_is_one_atomic_upload(container_url: str) -> None:
    """A concurrent reader sees the old object or the new one, never a mix or a prefix."""
    storage = Storage(container_url)
    size = 24 * 1024 * 1024  # bigger than one block: the SDK stages blocks, then commits the list
    versions = [bytes([v]) * size for v in (1, 2, 3)]
    storage.write_bytes("big.bin", versions[0])
    seen: list[tuple[int, int]] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        reading = Storage(container_url)
        while not stop.is_set():
            try:
                data = reading.read_bytes("big.bin")
            except Exception as exc:  # a read racing an overwrite may fail (etag changed): not partial
                if "ConditionNotMet" in repr(exc) or "modified" in str(exc).lower():
                    continue
                errors.append(exc)
                return
            seen.append((len(data), len(set(data[:: 1024 * 1024]))))
            assert data in versions, "reader saw partial or mixed content"

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for data in versions[1:] * 2:
            storage.write_bytes("big.bin", data)
    finally:
        stop.set()
        thread.join(60)
    assert not errors, errors
    assert seen, "the reader never completed a read"
    assert all(length == size and distinct == 1 for length, distinct in seen)
    assert storage.read_bytes("big.bin") == versions[2]


@pytest.mark.skipif(os.name != "posix", reason="posix only")
def test_no_azure_import_for_local_roots(tmp_path: os.PathLike[str]) -> None:
    import subprocess
    import sys

    code = (
        "import sys; from itb.storage import Storage; Storage(sys.argv[1]).write_text('a.txt', 'x'); "
        "print(any(m.startswith(('azure', 'adlfs')) for m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"
