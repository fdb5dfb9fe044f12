"""The ``talib`` feature generator: indicators over columns and windows, named like the reference.

Output columns are ``<feature_prefix><column>_<FUNCTION>_<window>`` (e.g. ``close_SMA_5``), where
``<column>`` includes the source ``column_prefix`` (``eth_close_SMA_5``).
"""

from __future__ import annotations

import numpy as np
import polars as pl
from pydantic import Field, field_validator

from itb.config.models import Model
from itb.generators.frames import require_columns
from itb.generators.indicators import FUNCTIONS
from itb.generators.registry import Generator, register


class TalibConfig(Model):
    columns: list[str] = Field(min_length=1)
    functions: list[str] = Field(min_length=1)
    windows: list[int] = Field(min_length=1)
    names: list[str] | None = Field(
        default=None, description="Explicit output names, one per function x window x column."
    )

    @field_validator("functions")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = [f for f in value if f.upper() not in FUNCTIONS]
        if unknown:
            raise ValueError(f"unknown function(s) {unknown} (known: {', '.join(sorted(FUNCTIONS))})")
        return [f.upper() for f in value]

    @field_validator("windows")
    @classmethod
    def _positive(cls, value: list[int]) -> list[int]:
        if any(w < 1 for w in value):
            raise ValueError("windows must be positive integers")
        return value


def _plan(cfg: TalibConfig, column_prefix: str, feature_prefix: str) -> list[tuple[str, str, int, str]]:
    plan = []
    for column in cfg.columns:
        source = f"{column_prefix}{column}"
        for function in cfg.functions:
            minimum = FUNCTIONS[function][1]
            for window in cfg.windows:
                if window < minimum:
                    raise ValueError(f"{function} needs windows >= {minimum}, got {window}")
                plan.append((source, function, window, f"{feature_prefix}{source}_{function}_{window}"))
    if cfg.names is not None:
        if len(cfg.names) != len(plan):
            raise ValueError(f"names has {len(cfg.names)} entries but {len(plan)} features are generated")
        plan = [(s, f, w, name) for (s, f, w, _), name in zip(plan, cfg.names, strict=True)]
    return plan


def outputs(cfg: TalibConfig, column_prefix: str, feature_prefix: str) -> list[str]:
    return [name for *_, name in _plan(cfg, column_prefix, feature_prefix)]


def generate(df: pl.DataFrame, cfg: TalibConfig, column_prefix: str, feature_prefix: str) -> pl.DataFrame:
    plan = _plan(cfg, column_prefix, feature_prefix)
    require_columns(df, sorted({source for source, *_ in plan}), "talib feature set")
    arrays = {s: df[s].cast(pl.Float64).to_numpy() for s in {source for source, *_ in plan}}
    columns = []
    for source, function, window, name in plan:
        values = FUNCTIONS[function][0](np.asarray(arrays[source], dtype=np.float64), window)
        columns.append(pl.Series(name, values).fill_nan(None))
    return pl.DataFrame(columns)


register(Generator("talib", "feature", TalibConfig, generate, outputs, doc=__doc__ or ""))
