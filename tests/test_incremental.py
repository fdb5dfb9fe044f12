"""Incremental runs: a grown source appends to merged, features and labels, and the tables equal a
full recompute exactly; anything else (a changed past, a changed config) recomputes and says why.

Real BTCUSDT 1m candles from ../shared/data: a month up to the 2023-03-24 outage, then one more
day (the outage, 12:40-13:59, straddles the append boundary, so gap filling is exercised there).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from itb import datasets
from itb.compute.append import overlap_equal, splice, tail_plan
from itb.config.loader import parse_config
from itb.runs.manifest import StageRecord
from itb.runs.runner import run_pipeline
from itb.storage.parquet_append import encode_struct, read_footer, splice_row_groups
from polars.testing import assert_frame_equal

from tests.conftest import SHARED_DATA, load_default_config

SOURCE = SHARED_DATA / "binance" / "spot" / "BTCUSDT-1m.parquet"
TABLES = (datasets.MERGED, datasets.FEATURES, datasets.LABELS)
STAGES = ["merge", "features", "labels"]
START, BASE_END, GROWN_END = 1677196800000, 1679662200000, 1679748600000  # 02-24, 03-24 12:50, +1 day

pytestmark = pytest.mark.skipif(not SOURCE.exists(), reason="needs ../shared/data")


@pytest.fixture(scope="module")
def candles() -> pl.DataFrame:
    span = pl.col("timestamp").is_between(START, GROWN_END, closed="left")
    return pl.scan_parquet(SOURCE).filter(span).collect()


def _config(root: Path, source: Path, **changes: Any) -> Any:
    data = load_default_config()
    data.update(
        data_root=str(root), data_sources=[{"symbol": "BTCUSDT", "market": "spot", "path": str(source)}]
    )
    data["merge"] = {"gaps": "fill"}
    data.update(changes)
    return parse_config(data)


def _write(frame: pl.DataFrame, path: Path) -> None:
    frame.write_parquet(path.with_suffix(".tmp"))
    path.with_suffix(".tmp").replace(path)


def _run(config: Any) -> dict[str, StageRecord]:
    result = run_pipeline(config, backend="inprocess", only=STAGES)
    assert result.ok, [(n, r.error) for _, n, r in result.manifest.all_stages()]
    return result.manifest.stages


def _full(tmp_path: Path, frame: pl.DataFrame, **changes: Any) -> Path:
    root, source = tmp_path / "full", tmp_path / "full-source.parquet"
    _write(frame, source)
    stages = _run(_config(root, source, **changes))
    assert all(stages[s].incremental and stages[s].incremental.mode == "full" for s in STAGES)
    return root


def _assert_tables_equal(root: Path, other: Path) -> None:
    for table in TABLES:
        assert_frame_equal(pl.read_parquet(root / table), pl.read_parquet(other / table), check_exact=True)


def test_a_grown_source_appends_and_equals_a_full_recompute(tmp_path: Path, candles: pl.DataFrame) -> None:
    root, source = tmp_path / "data", tmp_path / "source.parquet"
    _write(candles.filter(pl.col("timestamp") < BASE_END), source)
    config = _config(root, source)
    first = _run(config)
    assert first["merge"].incremental is not None
    assert first["merge"].incremental.reason == "no earlier run to append to"
    _write(candles, source)
    stages = _run(config)
    grown = candles.height - candles.filter(pl.col("timestamp") < BASE_END).height
    for name in STAGES:
        record = stages[name].incremental
        assert record is not None and record.mode == "append", (name, record)
        assert record.computed_rows + record.reused_rows == stages[name].rows
    assert stages["merge"].incremental.reused_rows == first["merge"].rows  # type: ignore[union-attr]
    assert stages["merge"].incremental.computed_rows > grown  # type: ignore[union-attr]  # outage rows filled
    # labels recompute the horizon rows whose future was unknown: 120 more than the new rows
    labels, merge = stages["labels"].incremental, stages["merge"].incremental
    assert labels is not None and merge is not None
    assert labels.computed_rows == merge.computed_rows + 120
    assert stages["merge"].rows == (int(candles["timestamp"][-1]) - START) // 60_000 + 1
    full = _full(tmp_path, candles)
    _assert_tables_equal(root, full)
    forced = run_pipeline(config, backend="inprocess", only=STAGES, force=True).manifest.stages
    records = [forced[name].incremental for name in STAGES]
    assert all(r is not None and r.mode == "full" for r in records)
    assert records[0] is not None and records[0].reason.startswith("forced while up to date")
    _assert_tables_equal(root, full)


def test_a_changed_past_recomputes_and_says_why(tmp_path: Path, candles: pl.DataFrame) -> None:
    base = candles.filter(pl.col("timestamp") < BASE_END)
    root, source = tmp_path / "data", tmp_path / "source.parquet"
    _write(base, source)
    config = _config(root, source)
    _run(config)
    row = base.height - 10  # a corrected candle in the stored past, then the new day
    changed = candles.with_columns(
        close=pl.when(pl.int_range(pl.len()) == row).then(pl.col("close") * 1.01).otherwise(pl.col("close"))
    )
    _write(changed, source)
    stages = _run(config)
    merge, features = stages["merge"].incremental, stages["features"].incremental
    assert merge is not None and merge.mode == "full"
    assert merge.reason == "the source's rows before its earlier end changed"
    assert features is not None and features.mode == "full"
    assert "merged.parquet changed before its earlier end" in features.reason
    _assert_tables_equal(root, _full(tmp_path, changed))


def test_a_config_change_or_a_recursive_generator_recomputes(tmp_path: Path, candles: pl.DataFrame) -> None:
    base = candles.filter(pl.col("timestamp") < BASE_END)
    root, source = tmp_path / "data", tmp_path / "source.parquet"
    _write(base, source)
    _run(_config(root, source))
    ema = [{"generator": "talib", "config": {"columns": ["close"], "functions": ["EMA"], "windows": [10]}}]
    _write(candles, source)
    stages = _run(_config(root, source, feature_sets=ema))
    features = stages["features"].incremental
    assert features is not None and features.mode == "full"
    assert features.reason == "config or code changed since the earlier run"
    assert stages["merge"].incremental is not None and stages["merge"].incremental.mode == "append"
    more = candles.filter(pl.col("timestamp") < GROWN_END - 600_000)
    _write(more, source)  # shrunk: fewer rows than merged before
    stages = _run(_config(root, source, feature_sets=ema))
    assert stages["merge"].incremental is not None and stages["merge"].incremental.mode == "full"
    assert "fewer than" in stages["merge"].incremental.reason
    _write(candles, source)
    stages = _run(_config(root, source, feature_sets=ema))
    features = stages["features"].incremental
    assert features is not None and features.mode == "full"
    assert "recursive" in features.reason


def test_a_lookback_declared_too_short_fails_the_overlap_check() -> None:
    values = pl.Series("x", np.random.default_rng(1).normal(size=300))

    def window_max(x: pl.Series) -> pl.DataFrame:
        return pl.DataFrame({"m": x.rolling_max(10)})

    stored = window_max(values[:200])
    honest, short = tail_plan(200, back=9), tail_plan(200, back=3)
    assert overlap_equal(stored, window_max(values[honest.start :]), honest)
    assert not overlap_equal(stored, window_max(values[short.start :]), short)
    assert_frame_equal(splice(stored, window_max(values[honest.start :]), honest), window_max(values))


def test_parquet_row_groups_are_spliced_without_decoding_the_kept_ones() -> None:
    frame = pl.DataFrame({"t": np.arange(10_000), "v": np.random.default_rng(2).normal(size=10_000)})
    frame = frame.with_columns(
        w=pl.when(pl.col("t") % 7 == 0).then(None).otherwise(pl.col("v")), b=pl.col("t") % 3 == 0
    )
    buffer = io.BytesIO()
    frame.head(8_000).write_parquet(buffer, row_group_size=1_000, statistics=True, compression="lz4")
    stored = buffer.getvalue()
    footer = read_footer(stored)
    assert encode_struct(footer.meta) == stored[footer.start : -8]  # the footer codec round-trips
    assert footer.group_rows() == [1_000] * 8
    for kept in (8, 5):  # append, and replace the last three row groups
        part = io.BytesIO()
        frame.slice(kept * 1_000).write_parquet(part, statistics=True, compression="lz4")
        spliced = splice_row_groups(stored, kept, part.getvalue())
        assert spliced is not None
        data = stored[: spliced.cut] + spliced.tail
        assert_frame_equal(pl.read_parquet(io.BytesIO(data)), frame, check_exact=True)
        tail = pl.scan_parquet(io.BytesIO(data)).filter(pl.col("t") >= 7_990).collect()
        assert_frame_equal(tail, frame.slice(7_990), check_exact=True)
    other = io.BytesIO()
    frame.rename({"v": "u"}).slice(8_000).write_parquet(other)
    assert splice_row_groups(stored, 8, other.getvalue()) is None  # another schema: not spliced


def test_a_downloaded_month_folder_grows_and_appends(tmp_path: Path, candles: pl.DataFrame) -> None:
    """`itb download`'s layout: one file per month in a folder; the last month's file grows."""
    march = 1677628800000  # 2023-03-01
    root, folder = tmp_path / "data", tmp_path / "klines"
    folder.mkdir()
    _write(candles.filter(pl.col("timestamp") < march), folder / "2023-02.parquet")
    _write(
        candles.filter(pl.col("timestamp").is_between(march, BASE_END, closed="left")),
        folder / "2023-03.parquet",
    )
    config = _config(root, folder)
    _run(config)
    _write(candles.filter(pl.col("timestamp") >= march), folder / "2023-03.parquet")
    stages = _run(config)
    for name in STAGES:
        record = stages[name].incremental
        assert record is not None and record.mode == "append", (name, record)
    _assert_tables_equal(root, _full(tmp_path, candles))


def test_retrain_every_keeps_the_models_while_the_data_only_grew(
    tmp_path: Path, candles: pl.DataFrame
) -> None:
    """`train.retrain_every`: one more day keeps the models (train skipped, saying why), predict
    scores the new rows with them and counts them as holdout; a shorter span retrains."""
    root, source = tmp_path / "data", tmp_path / "source.parquet"
    _write(candles.filter(pl.col("timestamp") < BASE_END), source)
    train = load_default_config()["train"]
    train["algorithms"][0]["params"] = {"num_boost_round": 10, "num_leaves": 7}
    through_predict = [*STAGES, "train", "predict", "signals"]

    def run(every: str) -> dict[str, StageRecord]:
        config = _config(root, source, train={**train, "retrain_every": every})
        result = run_pipeline(config, backend="inprocess", only=through_predict)
        assert result.ok, [(n, r.error) for _, n, r in result.manifest.all_stages()]
        return result.manifest.stages

    first = run("2d")
    models = {p.name: p.read_bytes() for p in (root / "models").glob("*.*")}
    before = pl.read_parquet(root / datasets.PREDICTIONS)
    _write(candles, source)
    kept = run("2d")
    assert kept["train"].status == "skipped" and kept["train"].reason is not None
    assert kept["train"].reason.startswith("models kept: trained on data to 2023-03-24T12:39:00Z")
    assert "retrains at 2023-03-26T12:39:00Z" in kept["train"].reason
    assert {p.name: p.read_bytes() for p in (root / "models").glob("*.*")} == models
    assert kept["predict"].status == "succeeded" and kept["predict"].rows == kept["merge"].rows
    after = pl.read_parquet(root / datasets.PREDICTIONS)
    assert_frame_equal(
        after.head(before.height).select("timestamp", "holdout"), before.select("timestamp", "holdout")
    )
    assert after.slice(before.height)["holdout"].all()  # rows no model saw: holdout
    record = kept["predict"].incremental  # the same models: the new rows scored and appended
    assert record is not None and record.mode == "append" and record.reused_rows == before.height
    signals = kept["signals"].incremental
    assert signals is not None and signals.mode == "append" and signals.computed_rows == record.computed_rows
    metrics = (root / datasets.METRICS).read_text()
    appended = pl.read_parquet(root / datasets.SIGNALS)
    config = _config(root, source, train={**train, "retrain_every": "2d"})
    forced = run_pipeline(config, backend="inprocess", only=["predict", "signals"], force=True).manifest
    assert [forced.stages[s].incremental.mode for s in ("predict", "signals")] == ["full", "full"]  # type: ignore[union-attr]
    assert_frame_equal(pl.read_parquet(root / datasets.PREDICTIONS), after, check_exact=True)
    assert_frame_equal(pl.read_parquet(root / datasets.SIGNALS), appended, check_exact=True)
    assert (root / datasets.METRICS).read_text() == metrics
    assert forced.stages["signals"].metrics == kept["signals"].metrics  # counts over the whole table
    assert first["train"].status == "succeeded"
    retrained = run("1h")  # the data grew by a day, more than 1h: the models are due
    assert retrained["train"].status == "succeeded"
    assert {p.name: p.read_bytes() for p in (root / "models").glob("*.*")} != models
