"""Labels: the label sets' generators over the merged table."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from itb.compute.generator_sets import apply_generator_sets
from itb.config.models import GeneratorSet


def apply_label_sets(df: pl.DataFrame, sets: Sequence[GeneratorSet]) -> pl.DataFrame:
    """The new label columns (same rows as ``df``, no ``timestamp``), in set order."""
    return apply_generator_sets(df, sets, "label", "label_sets")


def positive_shares(labels: pl.DataFrame) -> dict[str, float]:
    """Share of true (or mean value) per label column, rounded for the manifest."""
    return {c: round(float(labels[c].cast(pl.Float64).mean() or 0.0), 6) for c in labels.columns}  # type: ignore[arg-type]
