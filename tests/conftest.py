"""Shared fixtures: the repository, the bundled sample, and small configs for fast pipeline runs."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from itb.config import jsonc

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = REPO / "configs" / "btcusdt-1m.jsonc"
SHARED_DATA = REPO.parent / "shared" / "data"


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
