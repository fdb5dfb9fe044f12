"""Shared fixtures: the repository, the bundled sample, and small configs for fast pipeline runs."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from itb.config import jsonc

from tests import netguard

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = REPO / "configs" / "btcusdt-1m.jsonc"
SHARED_DATA = REPO.parent / "shared" / "data"
FAULTS = Path(__file__).resolve().parent / "faults"

# Tests talk to 127.0.0.1 only: in this process and, through tests/faults/sitecustomize.py, in every
# Python process the tests start (see tests/netguard.py).
netguard.install()
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(FAULTS), os.environ.get("PYTHONPATH", "")) if p)


def pytest_sessionstart(session: pytest.Session) -> None:
    handle, path = tempfile.mkstemp(prefix="itb-netguard-", suffix=".log")
    os.close(handle)
    os.environ[netguard.LOG_ENV] = path


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    path = Path(os.environ.get(netguard.LOG_ENV, "/nonexistent"))
    if path.exists() and path.read_text().strip():
        refused = path.read_text()
        session.config.get_terminal_writer().line(
            f"network guard: connections outside 127.0.0.1 were refused:\n{refused}", red=True
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    path.unlink(missing_ok=True)


def load_default_config() -> dict[str, Any]:
    return jsonc.loads(DEFAULT_CONFIG.read_text())  # type: ignore[no-any-return]


@pytest.fixture
def small_config_data(tmp_path: Path) -> dict[str, Any]:
    """The default config on three weeks of the sample, with fewer boosting rounds: a fast full run."""
    data = copy.deepcopy(load_default_config())
    data["data_root"] = str(tmp_path / "data")
    data["merge"] = {"gaps": "fill", "start": "2024-02-01T00:00:00Z", "end": "2024-02-22T00:00:00Z"}
    data["train"]["algorithms"][0]["params"] = {"num_boost_round": 30, "num_leaves": 7}
    return data


def write_config(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(json.dumps(data, indent=2))
    return path


@pytest.fixture
def small_config(tmp_path: Path, small_config_data: dict[str, Any]) -> Path:
    return write_config(tmp_path / "config.json", small_config_data)


def itb(
    *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run the real `itb` command (same interpreter) and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "itb", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        cwd=REPO,
    )
