"""Conversions at the edges: users may hand in pandas; everything inside is polars."""

from __future__ import annotations

from typing import Any

import polars as pl

from itb.errors import DataError


def to_polars(df: Any) -> pl.DataFrame:
    if isinstance(df, pl.DataFrame):
        return df
    if isinstance(df, pl.LazyFrame):
        collected: pl.DataFrame = df.collect()
        return collected
    module = type(df).__module__
    if module.startswith("pandas"):
        converted: pl.DataFrame = pl.from_pandas(df, include_index=False)
        return converted
    raise DataError(f"expected a polars or pandas DataFrame, got {type(df).__name__}")


def require_columns(df: pl.DataFrame, columns: list[str], where: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(f"{where}: column(s) {missing} not in the input (it has {df.columns})")
