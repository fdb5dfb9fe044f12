"""Features: the feature sets' generators over the merged table."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from itb.compute.generator_sets import apply_generator_sets
from itb.config.models import GeneratorSet


def apply_feature_sets(df: pl.DataFrame, sets: Sequence[GeneratorSet]) -> pl.DataFrame:
    """The new feature columns (same rows as ``df``, no ``timestamp``), in set order."""
    return apply_generator_sets(df, sets, "feature", "feature_sets")
