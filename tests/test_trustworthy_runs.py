"""Runs that tell the truth: typed records, one run per data root, SIGTERM, clear exit codes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from itb.config import parse_config
from itb.runs.lock import LOCK_NAME, LockHeld, LockInfo, RunLock, read_lock
from itb.runs.manifest import (
    SCHEMA_VERSION,
    RunManifest,
    RunStatus,
    StageStatus,
    list_runs,
    shown_status,
)
from itb.runs.runner import run_pipeline
from itb.storage import Storage

from tests.conftest import REPO, itb, write_config
from tests.polling import wait_for


def _newest(root: Path) -> RunManifest:
    return list_runs(Storage(str(root)))[-1]


def _dead_pid() -> int:
    """The pid of a process that has surely exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


# --- typed run records ------------------------------------------------------------------------
def test_manifest_on_disk_is_a_versioned_typed_record_with_blocked_by(
    small_config_data: dict[str, Any], tmp_path: Path
) -> None:
    root = tmp_path / "typed"
    config = parse_config(small_config_data)
    result = run_pipeline(config, backend="inprocess", data_root=str(root), only=["train"])
    stored = json.loads((root / "runs" / result.run_id / "manifest.json").read_text())
    assert stored["schema_version"] == SCHEMA_VERSION
    manifest = RunManifest.model_validate(stored)
    train = manifest.stages["train"]
    assert train.status is StageStatus.NOT_RUN
    assert train.blocked_by is not None and train.blocked_by.stage == "features"
    assert train.blocked_by.reason == "no_outputs"
    assert manifest.status is RunStatus.FAILED and result.exit_code == 1
    assert manifest.runner is not None and manifest.runner.pid == os.getpid()


def test_a_running_run_whose_runner_is_gone_is_listed_as_abandoned(
    small_config_data: dict[str, Any], tmp_path: Path
) -> None:
    root = tmp_path / "abandoned"
    result = run_pipeline(parse_config(small_config_data), backend="inprocess", data_root=str(root),
                          only=["merge"])  # fmt: skip
    path = root / "runs" / result.run_id / "manifest.json"
    stored = json.loads(path.read_text())
    stored.update(
        status="running", finished_at=None, runner={"host": socket.gethostname(), "pid": _dead_pid()}
    )
    path.write_text(json.dumps(stored))
    manifest = RunManifest.model_validate(stored)
    assert shown_status(manifest, None) is RunStatus.ABANDONED
    listed = itb("runs", "list", "--data-root", str(root))
    assert listed.returncode == 0, listed.stderr
    assert f"{result.run_id}  abandoned" in listed.stdout
    shown = itb("runs", "show", result.run_id, "--data-root", str(root))
    assert "abandoned" in shown.stdout
    # while the runner lives (this test process) and holds the lock, it is running
    stored["runner"]["pid"] = os.getpid()
    lock = LockInfo(result.run_id, socket.gethostname(), os.getpid(), "now", time.time())
    assert shown_status(RunManifest.model_validate(stored), lock) is RunStatus.RUNNING


# --- one run per data root --------------------------------------------------------------------
def test_lock_is_taken_by_exactly_one_of_many_concurrent_takers(tmp_path: Path) -> None:
    storage = Storage(str(tmp_path))
    won: list[str] = []
    lost: list[str] = []
    barrier = threading.Barrier(8)

    def take(i: int) -> None:
        barrier.wait()
        try:
            RunLock.acquire(storage, f"run-{i}")
            won.append(f"run-{i}")
        except LockHeld:
            lost.append(f"run-{i}")

    threads = [threading.Thread(target=take, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1 and len(lost) == 7
    holder = read_lock(storage)
    assert holder is not None and holder.run_id == won[0] and holder.pid == os.getpid()


def test_lock_on_an_object_store_uses_a_conditional_create() -> None:
    storage = Storage("memory://itb-lock-test/root")
    first = RunLock.acquire(storage, "first")
    with pytest.raises(LockHeld, match="in use by run first"):
        RunLock.acquire(storage, "second")
    first.release()
    assert read_lock(storage) is None
    RunLock.acquire(storage, "second").release()


def test_wait_takes_the_lock_once_the_holder_releases_it(tmp_path: Path) -> None:
    storage = Storage(str(tmp_path))
    first = RunLock.acquire(storage, "first")
    with pytest.raises(LockHeld, match="in use by run first"):
        RunLock.acquire(storage, "second")
    naps: list[float] = []

    def sleep(seconds: float) -> None:  # the holder finishes while the second run waits
        naps.append(seconds)
        first.release()

    second = RunLock.acquire(storage, "second", wait=True, sleep=sleep)
    assert naps == [1.0] and second.info.run_id == "second"
    second.release()
    assert not (tmp_path / LOCK_NAME).exists()


def test_stale_locks_are_reported_and_broken_only_on_request(tmp_path: Path) -> None:
    storage = Storage(str(tmp_path))
    dead = LockInfo("old-run", socket.gethostname(), _dead_pid(), "2026-01-01T00:00:00Z", time.time())
    storage.write_bytes(LOCK_NAME, dead.to_json())
    with pytest.raises(LockHeld, match=r"stale: its process \d+ no longer exists.*--break-lock"):
        RunLock.acquire(storage, "new-run")
    far = LockInfo("far-run", "another-host", 1, "2026-01-01T00:00:00Z", time.time() - 7200)
    storage.write_bytes(LOCK_NAME, far.to_json())
    with pytest.raises(LockHeld, match="in use by run far-run"):  # one hour allowed: not stale yet
        RunLock.acquire(storage, "new-run", stale_after_s=3 * 3600)
    with pytest.raises(LockHeld, match=r"2\.0 h old"):
        RunLock.acquire(storage, "new-run", stale_after_s=3600)
    taken = RunLock.acquire(storage, "new-run", stale_after_s=3600, break_lock=True)
    assert read_lock(storage) == taken.info
    live = LockInfo("live-run", socket.gethostname(), os.getpid(), "now", time.time())
    storage.write_bytes(LOCK_NAME, live.to_json())
    with pytest.raises(LockHeld, match="in use by run live-run"):  # a live holder is never broken
        RunLock.acquire(storage, "new-run", break_lock=True)


def test_two_runs_on_one_data_root_one_refuses_with_exit_2(
    small_config_data: dict[str, Any], tmp_path: Path
) -> None:
    """The first run holds the lock while its features stage sleeps; a second run on the same root
    is refused (exit 2, naming the holder) instead of racing it; the lock goes with the first run."""
    root = tmp_path / "shared-root"
    marker = tmp_path / "started"
    small_config_data["data_root"] = str(root)
    second_config = write_config(tmp_path / "second.json", small_config_data)
    small_config_data["feature_sets"].append(
        {"generator": "tests.userfuncs:sleepy", "config": {"marker": str(marker), "outputs": ["sleepy"]}}
    )
    first_config = write_config(tmp_path / "first.json", small_config_data)
    command = [sys.executable, "-m", "itb", "run", str(first_config), "--backend", "local"]
    first = subprocess.Popen(command, cwd=REPO, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(marker.exists)
        second = itb("run", str(second_config), "--only", "merge", "--backend", "inprocess")
        assert second.returncode == 2, second.stderr
        assert "is in use by run" in second.stderr and "--wait" in second.stderr
        assert second.stderr.count("\n") == 1  # one line, no traceback
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=60)
    assert first.returncode == 143
    assert len(list_runs(Storage(str(root)))) == 1  # the refused run left no manifest
    assert not (root / LOCK_NAME).exists()  # released when the first run ended


def test_itb_run_reports_a_stale_lock_and_breaks_it_on_request(small_config: Path, tmp_path: Path) -> None:
    root = tmp_path / "stale-root"
    dead = LockInfo("20260101T000000Z-abcdef", socket.gethostname(), _dead_pid(), "then", time.time())
    Storage(str(root)).write_bytes(LOCK_NAME, dead.to_json())
    args = ("run", str(small_config), "--only", "merge", "--data-root", str(root), "--backend", "inprocess")
    refused = itb(*args)
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1 and "stale" in refused.stderr and "--break-lock" in refused.stderr
    broken = itb(*args, "--break-lock")
    assert broken.returncode == 0, broken.stderr


# --- SIGTERM ------------------------------------------------------------------------------------
def test_sigterm_stops_the_run_like_ctrl_c_and_keeps_the_log_tail(
    small_config_data: dict[str, Any], tmp_path: Path
) -> None:
    marker = tmp_path / "started"
    small_config_data["feature_sets"].append(
        {"generator": "tests.userfuncs:sleepy", "config": {"marker": str(marker), "outputs": ["sleepy"]}}
    )
    root = Path(small_config_data["data_root"])
    config = write_config(tmp_path / "term.json", small_config_data)
    command = [sys.executable, "-m", "itb", "run", str(config), "--backend", "local"]
    runner = subprocess.Popen(command, cwd=REPO, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for(marker.exists)
    runner.send_signal(signal.SIGTERM)
    _, err = runner.communicate(timeout=60)
    assert runner.returncode == 143, err
    assert "terminated" in err
    manifest = _newest(root)
    assert manifest.status is RunStatus.INTERRUPTED and manifest.finished_at is not None
    features = manifest.stages["features"]
    assert features.status is StageStatus.INTERRUPTED and features.error == "interrupted (SIGTERM)"
    assert features.log_tail is not None and "sleepy: started" in features.log_tail
    assert "sleepy: started, [bold]markup[/] stays literal" in err  # the tail shown, markup not applied
    assert manifest.stages["train"].status is StageStatus.NOT_RUN
    assert not (root / LOCK_NAME).exists()
    assert shown_status(manifest, read_lock(Storage(str(root)))) is RunStatus.INTERRUPTED


# --- arguments and data roots ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--threads", "-1"], "--threads: must be at least 1 (got -1)"),
        (["--workers", "0"], "--workers: must be at least 1 (got 0)"),
        (["--only", "predict_rolling"], "stage 'predict_rolling' is not part of this config's pipeline"),
        (["--from", "predict_rolling"], "stage 'predict_rolling' is not part of this config's pipeline"),
        (["--data-root", "/proc/x"], "data root /proc/x: cannot write in /proc"),
        (["--data-root", "foo://x"], "data root foo://x: unknown storage protocol 'foo'"),
        (["--data-root", "/etc/hostname"], "data root /etc/hostname: /etc/hostname is a file, not a folder"),
    ],
)
def test_bad_run_arguments_exit_2_with_the_reason(
    small_config: Path, tmp_path: Path, extra: list[str], message: str
) -> None:
    args = ["run", str(small_config), "--backend", "inprocess"]
    if "--data-root" not in extra:
        args += ["--data-root", str(tmp_path / "args-root")]
    result = itb(*args, *extra)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "args-root" / "runs").exists()  # nothing ran


def test_stage_run_refuses_a_run_id_that_is_not_one(tmp_path: Path) -> None:
    root = tmp_path / "stage-root"
    escape = itb("stage", "run", "--data-root", str(root), "--run-id", "../../x", "--stage", "merge")
    assert escape.returncode == 2 and "'../../x' is not a run id" in escape.stderr
    unknown = itb("stage", "run", "--data-root", str(root), "--run-id", "20260101T000000Z-abcdef",
                  "--stage", "merge")  # fmt: skip
    assert unknown.returncode == 2 and "has no stored config" in unknown.stderr
    assert not root.exists() and not (tmp_path / "x").exists()  # nothing created for an unknown run


def test_a_config_path_that_is_a_folder_exits_2(tmp_path: Path) -> None:
    for command in ("run", "validate"):
        result = itb(command, str(tmp_path))
        assert result.returncode == 2 and "is a folder, not a config file" in result.stderr, result.stderr
