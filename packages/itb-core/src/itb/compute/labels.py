"""Labels: the label sets' generators over the merged table, and how far they look ahead."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from itb.compute.generator_sets import apply_generator_sets
from itb.config.models import GeneratorSet, PipelineConfig


def apply_label_sets(df: pl.DataFrame, sets: Sequence[GeneratorSet]) -> pl.DataFrame:
    """The new label columns (same rows as ``df``, no ``timestamp``), in set order."""
    return apply_generator_sets(df, sets, "label", "label_sets")


def label_horizon(config: PipelineConfig) -> int:
    """The longest look-ahead of any label set (rows); training keeps this gap before the holdout."""
    horizons = [int(s.config.get("horizon", 0)) for s in config.label_sets]
    return max(horizons, default=0)


def positive_shares(labels: pl.DataFrame) -> dict[str, float]:
    """Share of true (or mean value) per label column, rounded for the manifest."""
    return {c: round(float(labels[c].cast(pl.Float64).mean() or 0.0), 6) for c in labels.columns}  # type: ignore[arg-type]
