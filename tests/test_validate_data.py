"""``itb validate`` finds bad data and bad settings before a run; a stage that finds bad data exits 2."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from itb.config import parse_config
from itb.storage.sources import resolve_source

from tests.conftest import itb, load_default_config, write_config

ROWS = 3 * 24 * 60  # three days of 1m candles


def _sample(rows: int = ROWS) -> pl.DataFrame:
    config = parse_config(load_default_config())
    return pl.read_parquet(resolve_source(config.data_sources[0], config)[0]).head(rows)


@pytest.fixture
def source_config(small_config_data: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """The small config reading a Parquet file of its own (``source.parquet``), no merge window."""
    small_config_data["data_sources"][0]["path"] = str(tmp_path / "source.parquet")
    small_config_data["merge"] = {"gaps": "fill"}
    return small_config_data


def _validate(tmp_path: Path, data: dict[str, Any]) -> Any:
    return itb("validate", str(write_config(tmp_path / "config.json", data)))


def test_a_good_source_is_valid(source_config: dict[str, Any], tmp_path: Path) -> None:
    _sample().write_parquet(tmp_path / "source.parquet")
    result = _validate(tmp_path, source_config)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("write", "expected"),
    [
        (lambda p: p.write_text("timestamp,open\n1,2\n"), "source.parquet: not a readable Parquet file"),
        (lambda p: _sample().drop("close").write_parquet(p), "missing kline column(s) ['close']"),
        (lambda p: _sample().head(0).write_parquet(p), "source.parquet: has no rows"),
        (
            lambda p: _sample()
            .with_columns(pl.when(pl.int_range(pl.len()) == 5).then(pl.col("timestamp") + 30_000)
                          .otherwise(pl.col("timestamp")).alias("timestamp"))
            .write_parquet(p),
            "row 5: timestamp 1704067530000 is not on the 1m raster (1 such rows)",
        ),
        (lambda p: _sample(150).write_parquet(p), "train.holdout: 150 merged rows leave 0 for training"),
    ],
    ids=["not-parquet", "missing-column", "no-rows", "off-raster", "too-few-rows"],
)  # fmt: skip
def test_bad_source_data_is_found_by_validate(
    source_config: dict[str, Any], tmp_path: Path, write: Any, expected: str
) -> None:
    write(tmp_path / "source.parquet")
    result = _validate(tmp_path, source_config)
    assert result.returncode == 2
    assert "data_sources[0].path" in result.stderr or "train.holdout" in result.stderr
    assert expected in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("write", "expected"),
    [
        (lambda p: p.write_text("not parquet"), "source.parquet: not a readable Parquet file"),
        (lambda p: _sample().head(0).write_parquet(p), "source.parquet: has no rows"),
    ],
    ids=["not-parquet", "no-rows"],
)
def test_a_stage_finding_bad_data_makes_the_run_exit_2(
    source_config: dict[str, Any], tmp_path: Path, write: Any, expected: str
) -> None:
    write(tmp_path / "source.parquet")
    config = write_config(tmp_path / "config.json", source_config)
    result = itb("run", str(config), "--only", "merge", "--backend", "local")
    assert result.returncode == 2, result.stderr
    shown = " ".join(result.stderr.split())  # the terminal view wraps long lines
    assert expected in shown and "TypeError" not in shown


def test_settings_no_model_or_source_can_use_are_found(
    small_config_data: dict[str, Any], tmp_path: Path
) -> None:
    small_config_data["feature_sets"][0]["config"]["columns"] = ["closee"]
    small_config_data["train"]["algorithms"] = [
        {"name": "gb", "algo": "gb", "params": {"num_leaves": 7, "min_data": 5, "num_boost_round": 3,
                                                "num_leavs": 7}},
        {"name": "lc", "algo": "lc", "params": {"C": 1.0, "is_scale": True}},
    ]  # fmt: skip
    small_config_data["data_root"] = "/proc/x"
    result = _validate(tmp_path, small_config_data)
    assert result.returncode == 2
    err = result.stderr
    assert "feature_sets[0].config.columns[0]: no source or earlier feature set provides 'closee'" in err
    assert "train.algorithms[0].params.num_leavs: not a parameter of LightGBM" in err
    assert "params.num_leaves" not in err and "params.min_data" not in err  # names and aliases pass
    assert "train.algorithms[1].params.is_scale: not a parameter of scikit-learn's LogisticRegression" in err
    assert "params.C:" not in err
    assert "data_root: data root /proc/x: cannot write in /proc" in err


def test_an_empty_feature_set_list_is_an_error(small_config_data: dict[str, Any], tmp_path: Path) -> None:
    small_config_data["feature_sets"] = []
    small_config_data["train"]["features"] = None
    result = _validate(tmp_path, small_config_data)
    assert result.returncode == 2 and "feature_sets: empty" in result.stderr


def test_too_few_rows_for_training_exit_2_naming_the_tables_and_rows(
    small_config_data: dict[str, Any], tmp_path: Path
) -> None:
    small_config_data["merge"] = {
        "gaps": "fill",
        "start": "2024-02-01T00:00:00Z",
        "end": "2024-02-01T03:20:00Z",
    }
    config = write_config(tmp_path / "config.json", small_config_data)
    result = itb("run", str(config), "--backend", "local")
    assert result.returncode == 2, result.stderr
    shown = " ".join(result.stderr.split())
    # The two label models train as parallel steps; the first to fail stops the other, so either
    # label may be the one named.
    assert re.search(r"train: features.parquet/labels.parquet: only 0 usable rows for label '(high|low)_10'",
                     shown)  # fmt: skip
    assert "(rows 0..40 of 200 end the label horizon before the holdout at row 160" in shown
    assert "Traceback" not in shown
