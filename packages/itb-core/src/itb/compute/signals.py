"""Signals: the signal sets applied in order to the predictions (each may use the previous ones)."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from itb.config.models import SignalSet
from itb.generators.registry import get_generator


def apply_signal_sets(df: pl.DataFrame, sets: Sequence[SignalSet]) -> pl.DataFrame:
    """``df`` with every set's columns added (a later set sees the earlier sets' columns)."""
    for sset in sets:
        generator = get_generator("signal", sset.generator)
        df = df.with_columns(generator.fn(df, generator.validate(sset.config), "", ""))
    return df


def signal_counts(df: pl.DataFrame) -> dict[str, int]:
    """How many rows each boolean signal column fires on (``holdout`` is a marker, not a signal)."""
    return {c: int(df[c].sum()) for c in df.columns if df[c].dtype == pl.Boolean and c != "holdout"}
