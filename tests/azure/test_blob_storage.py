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


def _committed_blocks(container_url: str, name: str) -> int:
    from azure.storage.blob import BlobClient

    container, path = container_url.removeprefix("abfs://").split("/", 1)
    client = BlobClient.from_connection_string(
        os.environ["AZURE_STORAGE_CONNECTION_STRING"], container, f"{path}/{name}"
    )
    committed, _ = client.get_block_list("committed")
    return len(committed)


def test_a_table_on_blob_grows_by_one_committed_block(container_url: str) -> None:
    """An incremental stage's append on Blob sends its new bytes only: one staged block and a commit
    of the block list (atomic for readers), conditional on the blob being the version it read."""
    from itb.compute.append import AppendRecord
    from itb.stages.incremental import Stored, TableOutcome
    from itb.storage.store import StorageError
    from polars.testing import assert_frame_equal

    storage = Storage(container_url)
    rng = np.random.default_rng(3)
    frame = pl.DataFrame({"timestamp": np.arange(60_000) * 60_000, "v": rng.random(60_000)})
    written = storage.write_parquet("features.parquet", frame.head(50_000))
    assert _committed_blocks(container_url, "features.parquet") == 1  # written as a block blob
    stored = Stored(written.fingerprint, written.size)
    for end in (55_000, 60_000):  # two daily appends
        keep = end - 5_000
        record = AppendRecord(mode="append", computed_rows=5_000, reused_rows=keep, reason="test")
        outcome = TableOutcome(frame.slice(keep, 5_000), keep, record, stored={"features.parquet": stored})
        grown = outcome.write(storage, "features.parquet")
        assert grown.size > stored.size and grown.size == storage.size("features.parquet")
        assert_frame_equal(storage.read_parquet("features.parquet"), frame.head(end), check_exact=True)
        stored = Stored(grown.fingerprint, grown.size)
    assert _committed_blocks(container_url, "features.parquet") == 3  # one block per append, no upload
    before = storage.read_bytes("features.parquet")
    with pytest.raises(StorageError, match=r"cannot append to features\.parquet .*the last run wrote 1\b"):
        storage.append_bytes("features.parquet", 1, b"x", stored.fingerprint)
    assert storage.read_bytes("features.parquet") == before
    # an object another tool uploaded in one request has no blocks: not appended to, left as it is
    storage.write_bytes("notes.json", b"{}")
    assert storage.append_bytes("notes.json", 2, b" ", "sha256:x") is None
    assert storage.read_bytes("notes.json") == b"{}"
