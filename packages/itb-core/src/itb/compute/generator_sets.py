"""Running a list of generator sets (feature or label sets) over a table: the one loop behind
:func:`itb.compute.features.apply_feature_sets` and :func:`itb.compute.labels.apply_label_sets`."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from itb.config.models import GeneratorSet
from itb.errors import DataError
from itb.generators.registry import Kind, get_generator


def apply_generator_sets(
    df: pl.DataFrame, sets: Sequence[GeneratorSet], kind: Kind, where: str
) -> pl.DataFrame:
    """Run each set's generator over ``df``; returns only their new columns, in set order.

    ``where`` is the config key of the list (``feature_sets``), so that a generator returning the
    wrong number of rows is reported by its place in the config.
    """
    new: list[pl.DataFrame] = []
    for i, gset in enumerate(sets):
        generator = get_generator(kind, gset.generator)
        out = generator.fn(df, generator.validate(gset.config), gset.column_prefix, gset.feature_prefix)
        if out.height != df.height:
            raise DataError(f"{where}[{i}] ({gset.generator}): {out.height} rows, expected {df.height}")
        new.append(out)
    return pl.concat(new, how="horizontal") if new else pl.DataFrame()
