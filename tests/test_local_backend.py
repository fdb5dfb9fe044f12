"""The local backend's two ways to start a stage process: forked from a fork server, or exec'd.

Both must look the same to the stage (outputs, environment and working directory as at launch,
its own process group) and to the runner (exit codes, logs, stopping everything it started).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from itb.backends import StageRunSpec
from itb.config import parse_config
from itb.errors import ConfigError
from itb.runs.runner import run_pipeline
from itb_local.backend import LocalBackend, LocalHandle, Zygote, ZygoteError, thread_env

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the fork server needs os.fork")

PROBE = """
import json, os, subprocess, sys, time
import polars as pl

def report(argv):
    json.dump({
        "argv": argv,
        "marker": os.environ.get("ITB_TEST_FORK_MARKER"),
        "cwd": os.getcwd(),
        "pid": os.getpid(),
        "pgid": os.getpgid(0),
        "path0": sys.path[0],
        "cmdline": open("/proc/self/cmdline", "rb").read().replace(b"\\0", b" ").decode().strip(),
        "polars_threads": pl.thread_pool_size(),
    }, open("probe.json", "w"))
    print("probe done")
    return 7

def linger(argv):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    open("grandchild.pid", "w").write(str(child.pid))
    time.sleep(120)
    return 0
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_for_file(path: Path, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while not path.exists() or not path.read_text():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)
    return path.read_text()


@pytest.fixture
def zygote() -> Any:
    server = Zygote(sys.executable, {**os.environ, **thread_env(1)}, threads=1)
    yield server
    server.close()


@pytest.fixture
def probe_dir(tmp_path: Path) -> Path:
    (tmp_path / "forkprobe.py").write_text(PROBE)
    return tmp_path


def test_forked_and_execd_stages_give_identical_outputs(
    small_config_data: dict[str, Any], tmp_path: Path
) -> None:
    fingerprints = {}
    for start in ("fork", "exec"):
        data = {**small_config_data, "data_root": str(tmp_path / start)}
        data["backend"] = {"name": "local", "options": {"local": {"start": start}}}
        result = run_pipeline(parse_config(data), backend="local")
        assert result.ok, result.manifest
        fingerprints[start] = {
            f"{stage}/{name}": output.fingerprint
            for stage, record in result.manifest.stages.items()
            for name, output in record.outputs.items()
        }
    assert len(fingerprints["fork"]) >= 8
    assert fingerprints["fork"] == fingerprints["exec"]


def test_a_forked_child_gets_the_launch_environment_cwd_session_and_title(
    zygote: Zygote, probe_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # set after the fork server started: the child must still see it
    monkeypatch.setenv("ITB_TEST_FORK_MARKER", "marker-42")
    env = {**os.environ, **thread_env(1)}
    pid = zygote.fork(
        ["stage", "run", "--stage", "x"], env, str(probe_dir), probe_dir / "p.log", "forkprobe:report"
    )
    assert zygote.wait(pid, 30) == 7  # the entry's return value is the exit code
    seen = json.loads((probe_dir / "probe.json").read_text())
    assert seen["argv"] == ["stage", "run", "--stage", "x"]
    assert seen["marker"] == "marker-42"
    assert seen["cwd"] == str(probe_dir) and seen["path0"] == str(probe_dir)  # like `python -m` there
    assert seen["pid"] == pid and seen["pgid"] == pid  # its own process group, for stopping it whole
    assert seen["cmdline"] == "itb stage run --stage x"  # what ps shows
    assert seen["polars_threads"] == 1  # the fork server's thread settings
    assert (probe_dir / "p.log").read_text() == "probe done\n"  # stdout goes to the run's log


def test_the_itb_entry_point_runs_in_a_forked_child(zygote: Zygote, tmp_path: Path) -> None:
    pid = zygote.fork(["plugins"], dict(os.environ), str(tmp_path), tmp_path / "plugins.log")
    assert zygote.wait(pid, 30) == 0
    assert "itb-local" in (tmp_path / "plugins.log").read_text()
    pid = zygote.fork(["no-such-command"], dict(os.environ), str(tmp_path), tmp_path / "bad.log")
    assert zygote.wait(pid, 30) == 2  # argparse's usage error, as from the command line
    assert "invalid choice" in (tmp_path / "bad.log").read_text()


def test_cancel_stops_a_forked_stage_and_what_it_started(
    probe_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(probe_dir)
    backend = LocalBackend()
    try:
        server = backend._zygote_for(1)
        assert server is not None
        pid = server.fork([], dict(os.environ), str(probe_dir), probe_dir / "l.log", "forkprobe:linger")
        handle = LocalHandle(
            StageRunSpec("r", "merge", str(probe_dir)), probe_dir / "l.log", pid, zygote=server
        )
        grandchild = int(_wait_for_file(probe_dir / "grandchild.pid"))
        assert backend.poll(handle).state == "running" and _alive(grandchild)
        backend.cancel(handle)
        result = backend.poll(handle)
        assert result.state == "failed" and "SIGTERM" in result.message
        assert not _alive(pid) and not _alive(grandchild)
    finally:
        backend.close()


def test_a_dead_fork_server_fails_its_running_stages(probe_dir: Path) -> None:
    server = Zygote(sys.executable, {**os.environ, **thread_env(1)}, threads=1)
    pid = server.fork([], dict(os.environ), str(probe_dir), probe_dir / "l.log", "forkprobe:linger")
    _wait_for_file(probe_dir / "grandchild.pid")
    os.kill(server.process.pid, signal.SIGKILL)
    server.process.wait()
    deadline = time.monotonic() + 10
    while server.exit_code(pid) is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert server.exit_code(pid) == -signal.SIGKILL
    time.sleep(0.2)
    assert not _alive(pid)
    with pytest.raises(ZygoteError):
        server.fork([], dict(os.environ), str(probe_dir), probe_dir / "x.log")
    server.close()


def test_closing_the_backend_ends_the_fork_server_and_its_children(probe_dir: Path) -> None:
    backend = LocalBackend()
    server = backend._zygote_for(1)
    assert server is not None
    pid = server.fork([], dict(os.environ), str(probe_dir), probe_dir / "l.log", "forkprobe:linger")
    grandchild = int(_wait_for_file(probe_dir / "grandchild.pid"))
    backend.handles.append(
        LocalHandle(StageRunSpec("r", "merge", str(probe_dir)), probe_dir / "l.log", pid, zygote=server)
    )
    backend.close()
    assert server.process.poll() is not None
    time.sleep(0.2)
    assert not _alive(pid) and not _alive(grandchild)


def test_fork_and_exec_report_the_same_failure(tmp_path: Path) -> None:
    """A stage run for a run that does not exist fails alike; threads unlike the server's use exec."""
    backend = LocalBackend()
    try:
        forked = backend.launch(StageRunSpec("20240101T000000Z-aaaaaa", "merge", str(tmp_path), 1))
        execd = backend.launch(StageRunSpec("20240101T000000Z-aaaaaa", "merge", str(tmp_path), 2))
        assert forked.zygote is not None and forked.process is None
        assert execd.process is not None and execd.zygote is None
        results = []
        for handle in (forked, execd):
            deadline = time.monotonic() + 60
            while not (result := backend.poll(handle)).done:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            results.append((result.state, result.exit_code))
            assert "has no stored config" in backend.logs(handle)
        assert results[0] == results[1] and results[0][0] == "failed" and results[0][1] == 2
    finally:
        backend.close()


def test_a_fork_server_that_cannot_start_falls_back_to_exec(tmp_path: Path) -> None:
    backend = LocalBackend({"preload": ["itb_no_such_module_for_the_test"]})
    try:
        handle = backend.launch(StageRunSpec("20240101T000000Z-aaaaaa", "merge", str(tmp_path), 1))
        assert handle.process is not None and backend._zygote_failed
        assert backend.poll(handle).state in ("running", "failed")
    finally:
        backend.close()


def test_backend_options_are_checked() -> None:
    with pytest.raises(ConfigError, match="start"):
        LocalBackend({"start": "spawn"})
    with pytest.raises(ConfigError, match="preload"):
        LocalBackend({"preload": "sklearn"})
