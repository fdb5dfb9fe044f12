"""Storage failures for real: a full disk (a tiny tmpfs) and a read-only folder (a read-only bind
mount; root ignores permission bits). Skipped where mounting is not allowed."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from itb.errors import ConfigError
from itb.runs.manifest import RunStatus, StageStatus, list_runs
from itb.storage import Storage
from itb.storage.store import StorageError
from itb.storage.url import check_data_root

from tests.conftest import itb, write_config


def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, check=False)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 400 KiB tmpfs: room for run records, not for a merged table of three weeks."""
    target = tmp_path / "disk"
    target.mkdir()
    mounted = _mount("-t", "tmpfs", "-o", "size=400k", "tmpfs", str(target))
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    yield target
    subprocess.run(["umount", "-l", str(target)], check=False)


@pytest.fixture
def read_only_folder(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "ro"
    folder.mkdir()
    (folder / "previous.parquet").write_bytes(b"previous")
    bound = _mount("--bind", str(folder), str(folder))
    if bound.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {bound.stderr.strip()}")
    remounted = _mount("-o", "remount,bind,ro", str(folder))
    if remounted.returncode != 0:
        subprocess.run(["umount", "-l", str(folder)], check=False)
        pytest.skip(f"cannot remount read-only here: {remounted.stderr.strip()}")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)


def _temporaries(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if ".tmp-" in p.name]


def test_a_full_disk_fails_the_run_in_one_line_and_frees_its_temporary(
    small_disk: Path, small_config_data: dict[str, Any], tmp_path: Path
) -> None:
    (small_disk / "merged.parquet").write_bytes(b"previous")
    config = write_config(tmp_path / "full.json", small_config_data)
    result = itb(
        "run", str(config), "--only", "merge", "--backend", "inprocess", "--data-root", str(small_disk)
    )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert (
        "cannot write merged.parquet" in result.stderr and "No space left on device [ENOSPC]" in result.stderr
    )
    manifest = list_runs(Storage(str(small_disk)))[-1]
    assert manifest.status is RunStatus.FAILED
    merge = manifest.stages["merge"]
    assert merge.status is StageStatus.FAILED and merge.error is not None and "ENOSPC" in merge.error
    assert _temporaries(small_disk) == []
    assert (small_disk / "merged.parquet").read_bytes() == b"previous"


def test_a_write_into_a_read_only_folder_is_a_storage_error_naming_the_dataset(
    read_only_folder: Path, tmp_path: Path
) -> None:
    storage = Storage(str(tmp_path))
    with pytest.raises(
        StorageError, match=r"cannot write ro/previous\.parquet .*Read-only file system \[EROFS\]"
    ):
        storage.write_bytes("ro/previous.parquet", b"new")
    assert (read_only_folder / "previous.parquet").read_bytes() == b"previous"
    assert _temporaries(read_only_folder) == []
    with pytest.raises(ConfigError, match=r"cannot write in .*Read-only file system"):
        check_data_root(str(read_only_folder / "data"))


def test_an_appending_write_on_a_full_disk_is_a_storage_error_and_keeps_the_table(small_disk: Path) -> None:
    """write_spliced (an incremental stage's append) goes through the same atomic write as every
    other: a full disk is a StorageError naming the dataset, the stored table and no temporary left."""
    storage = Storage(str(small_disk))
    stored = b"x" * 1000
    storage.write_bytes("features.parquet", stored)
    with pytest.raises(StorageError, match=r"cannot write features\.parquet .*\[ENOSPC\]"):
        storage.write_spliced("features.parquet", stored, 900, b"y" * 1_000_000)
    assert (small_disk / "features.parquet").read_bytes() == stored
    assert _temporaries(small_disk) == []
    written = storage.write_spliced("features.parquet", stored, 900, b"y" * 50)
    assert (small_disk / "features.parquet").read_bytes() == stored[:900] + b"y" * 50
    assert written.fingerprint == storage.fingerprint("features.parquet") and written.size == 950


def test_an_append_in_place_on_a_full_disk_is_a_storage_error_and_keeps_the_table(small_disk: Path) -> None:
    """An incremental stage's in-place append that runs out of room cuts the file back to the bytes
    it had and removes its marker: a StorageError naming the dataset, nothing else changed."""
    storage = Storage(str(small_disk))
    stored = b"x" * 1000
    first = storage.write_bytes("features.parquet", stored)
    with pytest.raises(StorageError, match=r"cannot append to features\.parquet .*\[ENOSPC\]"):
        storage.append_bytes("features.parquet", 1000, b"y" * 1_000_000, first.fingerprint)
    assert (small_disk / "features.parquet").read_bytes() == stored
    assert sorted(p.name for p in small_disk.iterdir()) == ["features.parquet"]
    storage.append_bytes("features.parquet", 1000, b"y" * 50, first.fingerprint)
    assert (small_disk / "features.parquet").read_bytes() == stored + b"y" * 50
