"""Atomic, fingerprinted storage on local disk and memory://."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import polars as pl
import pytest
from itb.storage import Storage
from itb.storage.store import APPEND_MARK, StorageError

from tests.faults import pause_before_commit, pause_before_remove


def sample_frame(n: int = 1000, seed: int = 0) -> pl.DataFrame:
    return pl.DataFrame({"timestamp": list(range(n)), "x": [float((i * 7 + seed) % 13) for i in range(n)]})


def test_local_write_is_complete_and_fingerprinted(tmp_path: Path) -> None:
    storage = Storage(str(tmp_path / "root"))
    result = storage.write_parquet("a/b/data.parquet", sample_frame())
    path = tmp_path / "root" / "a" / "b" / "data.parquet"
    assert result.fingerprint == "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    assert result.rows == 1000 and result.size == path.stat().st_size
    assert storage.read_parquet("a/b/data.parquet").equals(sample_frame())
    assert [p.name for p in path.parent.iterdir()] == ["data.parquet"]  # no temporaries left


def test_same_frame_same_bytes_across_filesystems(tmp_path: Path) -> None:
    local = Storage(str(tmp_path)).write_parquet("x.parquet", sample_frame())
    memory = Storage(f"memory://itb-test-{uuid.uuid4().hex}").write_parquet("x.parquet", sample_frame())
    assert local.fingerprint == memory.fingerprint
    other = Storage(str(tmp_path)).write_parquet("y.parquet", sample_frame(seed=1))
    assert other.fingerprint != local.fingerprint


def test_a_write_never_removes_another_writers_temporary(tmp_path: Path) -> None:
    """Another process may be writing the same file right now: its temporary is not ours to delete
    (that deletion made a concurrent run fail with FileNotFoundError)."""
    storage = Storage(str(tmp_path))
    (tmp_path / ".x.parquet.tmp-other").write_bytes(b"half")
    storage.write_parquet("x.parquet", sample_frame())
    assert (tmp_path / ".x.parquet.tmp-other").read_bytes() == b"half"
    assert storage.list("") == ["x.parquet"]


def test_the_lock_holder_removes_every_stale_temporary(tmp_path: Path) -> None:
    storage = Storage(str(tmp_path))
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / ".x.parquet.tmp-dead").write_bytes(b"half")
    (tmp_path / ".y.json.tmp-dead").write_bytes(b"half")
    (tmp_path / "keep.parquet").write_bytes(b"data")
    assert storage.remove_stale_temporaries() == 2
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["keep.parquet"]


def test_a_killed_writer_leaves_the_previous_output(tmp_path: Path) -> None:
    storage = Storage(str(tmp_path))
    storage.write_parquet("out.parquet", sample_frame(seed=1))
    before = (tmp_path / "out.parquet").read_bytes()
    code = (
        "import polars as pl; from itb.storage import Storage; "
        f"Storage({str(tmp_path)!r}).write_parquet('out.parquet', pl.DataFrame({{'x': list(range(100000))}}))"
    )
    env = {**os.environ, **pause_before_commit("out.parquet", 60)}
    process = subprocess.Popen([sys.executable, "-c", code], env=env)
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".out.parquet.tmp-*")):
        assert time.monotonic() < deadline and process.poll() is None, "writer never got to the commit"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert (tmp_path / "out.parquet").read_bytes() == before
    assert storage.read_parquet("out.parquet").equals(sample_frame(seed=1))
    storage.remove_temporaries("out.parquet")
    assert storage.list("") == ["out.parquet"]


@pytest.mark.parametrize("root", ["memory://itb-json", "LOCAL"])
def test_json_round_trip(tmp_path: Path, root: str) -> None:
    storage = Storage(str(tmp_path) if root == "LOCAL" else root)
    storage.write_json("runs/r1/manifest.json", {"a": [1, 2], "b": None})
    assert storage.read_json("runs/r1/manifest.json") == {"a": [1, 2], "b": None}
    assert storage.exists("runs/r1/manifest.json") and not storage.exists("runs/r2/manifest.json")


def test_an_append_in_place_grows_the_file_and_names_the_new_version(tmp_path: Path) -> None:
    storage = Storage(str(tmp_path))
    path = tmp_path / "t.bin"
    first = storage.write_bytes("t.bin", b"a" * 100)
    inode = path.stat().st_ino
    grown = storage.append_bytes("t.bin", 100, b"b" * 10, first.fingerprint, rows=7)
    assert path.read_bytes() == b"a" * 100 + b"b" * 10 and path.stat().st_ino == inode
    assert (grown.size, grown.rows) == (110, 7) and grown.fingerprint.startswith("sha256:")
    assert grown.fingerprint != first.fingerprint
    again = Storage(str(tmp_path / "other"))
    again.write_bytes("t.bin", b"a" * 100)
    assert again.append_bytes("t.bin", 100, b"b" * 10, first.fingerprint).fingerprint == grown.fingerprint
    with pytest.raises(
        StorageError, match=r"cannot append to t\.bin .*it is 110 bytes, the last run wrote 100"
    ):
        storage.append_bytes("t.bin", 100, b"c", first.fingerprint)
    assert path.read_bytes() == b"a" * 100 + b"b" * 10
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other", "t.bin"]  # no marker, no temporary


def test_a_killed_append_leaves_the_previous_version_and_is_rolled_back(tmp_path: Path) -> None:
    """Killed after its bytes are written but before its commit (the marker's removal): readers
    through Storage see the previous table, and the lock holder's clean-up restores its bytes."""
    storage = Storage(str(tmp_path))
    written = storage.write_parquet("out.parquet", sample_frame(seed=1))
    before = (tmp_path / "out.parquet").read_bytes()
    code = (
        "import polars as pl; from itb.storage import Storage; "
        "from itb.stages.incremental import Stored, append_in_place; "
        f"append_in_place(Storage({str(tmp_path)!r}), 'out.parquet', 1000, "
        "pl.DataFrame({'timestamp': list(range(1000, 1500)), 'x': [1.0] * 500}), "
        f"Stored({written.fingerprint!r}, {written.size}))"
    )
    env = {**os.environ, **pause_before_remove("out.parquet" + APPEND_MARK, 60)}
    process = subprocess.Popen([sys.executable, "-c", code], env=env)
    deadline = time.monotonic() + 60
    marker = tmp_path / ("out.parquet" + APPEND_MARK)
    while not (marker.exists() and (tmp_path / "out.parquet").stat().st_size > len(before)):
        assert time.monotonic() < deadline and process.poll() is None, "writer never got to the commit"
        time.sleep(0.02)
    time.sleep(0.2)  # the paused writer has written and flushed everything but the commit
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert (tmp_path / "out.parquet").stat().st_size > len(before)  # the new bytes are there ...
    assert storage.read_parquet("out.parquet").equals(sample_frame(seed=1))  # ... but not committed
    assert storage.read_bytes("out.parquet") == before and storage.size("out.parquet") == len(before)
    assert storage.list("") == ["out.parquet"]
    assert storage.remove_stale_temporaries() == 1
    assert (tmp_path / "out.parquet").read_bytes() == before and not marker.exists()
    assert pl.read_parquet(tmp_path / "out.parquet").equals(sample_frame(seed=1))
