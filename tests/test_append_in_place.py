"""An incremental stage's table grows in place (new row groups and footer after the stored end) while
that stays compact, and is rewritten once the unused bytes or the small row groups it leaves pile
up; every version reads back exactly as the table it stands for."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from itb.compute.append import AppendRecord
from itb.stages import incremental
from itb.stages.incremental import Stored, TableOutcome
from itb.storage import Storage
from itb.storage.parquet_append import read_footer, unused_bytes
from polars.testing import assert_frame_equal

NAME = "features.parquet"


def _frame(rows: int) -> pl.DataFrame:
    values = np.random.default_rng(7).normal(size=rows)
    return pl.DataFrame({"timestamp": np.arange(rows, dtype=np.int64) * 60_000, "v": values}).with_columns(
        w=pl.when(pl.col("timestamp") % 7 == 0).then(None).otherwise(pl.col("v"))
    )


def _append(
    storage: Storage, frame: pl.DataFrame, keep: int, end: int, stored: Stored, unstable: int = 0
) -> Stored:
    record = AppendRecord(mode="append", computed_rows=end - keep, reused_rows=keep, reason="test")
    tail = frame.slice(keep, end - keep)
    outcome = TableOutcome(tail, keep, record, stored={NAME: stored}, unstable=unstable)
    written = outcome.write(storage, NAME)
    assert written.size == storage.size(NAME) and written.rows == end
    return Stored(written.fingerprint, written.size)


def _layout(path: Path) -> tuple[int, int, float]:
    """(file, row groups, unused share) of the stored table. ``file`` counts the files the name has
    stood for: it stays the same while the file grows in place and goes up when it is replaced (a
    hard link made at the last call still names the file then; inode numbers are reused)."""
    probe = path.with_name(path.name + ".probe")
    same = probe.exists() and probe.samefile(path)
    count = int(probe.with_suffix(".count").read_text()) if probe.with_suffix(".count").exists() else 0
    count += 0 if same else 1
    probe.with_suffix(".count").write_text(str(count))
    probe.unlink(missing_ok=True)
    os.link(path, probe)
    data = path.read_bytes()
    footer = read_footer(data)
    return count, len(footer.row_groups), unused_bytes(footer, len(data)) / len(data)


def test_daily_appends_grow_in_place_until_the_small_row_groups_are_joined(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(incremental, "MIN_GROUP_ROWS", 5_000)
    monkeypatch.setattr(incremental, "MAX_SMALL_GROUPS", 4)
    storage, path = Storage(str(tmp_path)), tmp_path / NAME
    base, day = 20_000, 100
    frame = _frame(base + 6 * day)
    first = storage.write_parquet(NAME, frame.head(base))
    stored = Stored(first.fingerprint, first.size)
    layouts = [_layout(path)]
    for n in range(1, 7):
        stored = _append(storage, frame, base + (n - 1) * day, base + n * day, stored)
        assert_frame_equal(pl.read_parquet(path), frame.head(base + n * day), check_exact=True)
        assert_frame_equal(storage.read_parquet(NAME), frame.head(base + n * day), check_exact=True)
        layouts.append(_layout(path))
    inodes, groups, unused = zip(*layouts, strict=True)
    # four appends in place (the same file, one small row group more each), then a fifth small group
    # would pass MAX_SMALL_GROUPS: rewritten whole (the footers left behind pass 1 % of so small a
    # file), one row group again
    assert inodes == (1, 1, 1, 1, 1, 2, 2) and groups == (1, 2, 3, 4, 5, 1, 2)
    assert all(share <= incremental.MAX_UNUSED_SHARE for share in unused)
    assert stored.fingerprint not in {first.fingerprint}


def test_labels_recomputed_tail_is_its_own_row_group_so_appends_replace_only_it(tmp_path: Path) -> None:
    """Labels recompute their last horizon rows on every append: written as a row group of their
    own (``unstable``), an append replaces that small group in place instead of the big one before."""
    storage, path = Storage(str(tmp_path)), tmp_path / NAME
    base, day, horizon = 40_000, 1_000, 120
    frame = _frame(base + 5 * day)
    unknown = frame.head(base).with_columns(
        v=pl.when(pl.int_range(pl.len()) >= base - horizon).then(0.0).otherwise("v")
    )
    record = AppendRecord(mode="full", computed_rows=base, reused_rows=0, reason="test")
    first = TableOutcome(unknown, 0, record, unstable=horizon).write(storage, NAME)
    assert read_footer(path.read_bytes()).group_rows() == [base - horizon, horizon]
    stored, layouts = Stored(first.fingerprint, first.size), [_layout(path)]
    for n in range(1, 6):
        end = base + n * day
        stored = _append(storage, frame, end - day - horizon, end, stored, unstable=horizon)
        assert_frame_equal(storage.read_parquet(NAME), frame.head(end), check_exact=True)
        layouts.append(_layout(path))
        assert read_footer(path.read_bytes()).group_rows()[-2:] == [day, horizon]
    assert {file for file, _, _ in layouts} == {1}  # every append in place
    # each append left only the replaced 120-row group and two footers: 0.6 % of so small a file
    shares = [share for _, _, share in layouts]
    assert shares == sorted(shares) and shares[-1] < 0.05


def test_an_append_that_would_leave_too_many_unused_bytes_rewrites_the_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Recomputing rows inside a big row group leaves the old group behind as unused bytes: past
    MAX_UNUSED_SHARE the table is written anew, which drops them."""
    storage, path = Storage(str(tmp_path)), tmp_path / NAME
    base, day = 300_000, 1_000
    frame = _frame(base + 3 * day)
    first = storage.write_parquet(NAME, frame.head(base))
    assert read_footer(path.read_bytes()).group_rows() == [100_000] * 3
    stored = Stored(first.fingerprint, first.size)
    assert _layout(path)[0] == 1
    # keep inside the last big row group: appending in place would leave a third of the file unused
    stored = _append(storage, frame, base - 500, base + day, stored)
    assert _layout(path)[0] == 2 and _layout(path)[2] < 0.01
    monkeypatch.setattr(incremental, "MAX_UNUSED_SHARE", 0.3)
    group_start = sum(read_footer(path.read_bytes()).group_rows()[:-1])
    stored = _append(storage, frame, group_start + 10, base + 2 * day, stored)
    in_place = _layout(path)
    assert in_place[0] == 2 and 0.2 < in_place[2] <= 0.3
    group_start = sum(read_footer(path.read_bytes()).group_rows()[:-1])
    stored = _append(storage, frame, group_start + 10, base + 3 * day, stored)
    rewritten = _layout(path)
    assert rewritten[0] == 3 and rewritten[2] < 0.01
    assert_frame_equal(pl.read_parquet(path), frame, check_exact=True)
