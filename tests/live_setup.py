"""Set-up shared by the live-service tests: a week of real BTCUSDT 1m klines for the fake exchange,
the default config trained on 12 days of them, and private copies of its data root."""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tests.conftest import SHARED_DATA, itb, load_default_config, write_config
from tests.fakes.binance_server import load_klines

SPOT_FILE = SHARED_DATA / "binance" / "spot" / "BTCUSDT-1m.parquet"


def week_of_klines() -> pl.DataFrame:
    """2024-03-25 .. 2024-04-01 (the fake exchange's history); skips without ../shared/data."""
    if not SPOT_FILE.exists():
        pytest.skip(f"shared test data not found at {SPOT_FILE}")
    return load_klines(SPOT_FILE, "2024-03-25", "2024-04-01")


def train_twelve_days(
    config: Path, data_root: Path, edit: Callable[[dict[str, Any]], None] | None = None
) -> dict[str, Any]:
    """`itb run` of the default config (``edit``-ed) on 2024-03-20 .. 04-01 with small boosting, into
    ``data_root``; the config written to ``config``. Returns its data."""
    data = copy.deepcopy(load_default_config())
    data["data_root"] = str(data_root)
    data["merge"] = {"gaps": "fill", "start": "2024-03-20T00:00:00Z", "end": "2024-04-01T00:00:00Z"}
    data["train"]["algorithms"][0]["params"] = {"num_boost_round": 30, "num_leaves": 7}
    if edit is not None:
        edit(data)
    done = itb("run", str(write_config(config, data)), "--backend", "inprocess", env={"ITB_FSYNC": "0"})
    assert done.returncode == 0, done.stderr
    return data


def private_copy(trained: Path, tmp_path: Path, ignore: tuple[str, ...] = ("live",), **changes: Any) -> Path:
    """The trained config on a copy of its data root under ``tmp_path`` (without ``ignore``: each test
    its own live log), with ``changes`` to the config."""
    shutil.copytree(trained.parent / "data", tmp_path / "data", ignore=shutil.ignore_patterns(*ignore))
    data: dict[str, Any] = {**json.loads(trained.read_text()), "data_root": str(tmp_path / "data"), **changes}
    return write_config(tmp_path / "config.json", data)
