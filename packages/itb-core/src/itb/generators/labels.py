"""Label generators: what the future holds for each row, as booleans (null where unknown).

``highlow2``: for each row with close ``c``, does the price reach ``c * (1 + threshold%)`` (``function:
high``) within the next ``horizon`` rows *before* it falls to ``c * (1 - tolerance * threshold%)``?
(``function: low`` mirrors it.) A candle that touches both levels counts as against: the order
inside one candle is unknown, and an optimistic label would teach the model to take that risk. The
last ``horizon`` rows are null: their future is not known yet.

First crossings are found for all rows at once with binary lifting over a sparse table of window
maxima (minima): O(N log horizon) numpy operations, no per-row or per-window Python code.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from numpy.typing import NDArray
from pydantic import Field, model_validator

from itb.config.models import Model
from itb.generators.frames import require_columns
from itb.generators.registry import Generator, register


def first_cross(
    values: NDArray[np.float64], levels: NDArray[np.float64], horizon: int, up: bool
) -> NDArray[np.int64]:
    """For each row t, the smallest j in 1..horizon with values[t+j] >= levels[t] (``up``) or
    <= levels[t] (not ``up``); ``horizon + 1`` where there is none."""
    n = values.size
    pad = -np.inf if up else np.inf
    levels_cmp = levels if up else -levels
    series = values if up else -values
    # table[k][i] = max(series[i : i + 2**k]), padded past the end so blocks never run out.
    tables = [np.concatenate([series, np.full(horizon + 1, pad if up else -np.inf)])]
    while (1 << len(tables)) <= horizon:
        prev, step = tables[-1], 1 << (len(tables) - 1)
        tables.append(np.maximum(prev[:-step], prev[step:]))
    rows = np.arange(n)
    position = rows + 1  # candidate first index of the crossing
    for k in range(len(tables) - 1, -1, -1):
        block = 1 << k
        table = tables[k]
        index = np.minimum(position, table.size - 1)
        skip = (table[index] < levels_cmp) & (position + block - 1 <= rows + horizon)
        position = np.where(skip, position + block, position)
    base = tables[0]
    hit = (position <= rows + horizon) & (base[np.minimum(position, base.size - 1)] >= levels_cmp)
    return np.where(hit, position - rows, horizon + 1).astype(np.int64)


class HighLow2Config(Model):
    columns: list[str] = Field(
        default=["close", "high", "low"], min_length=3, max_length=3, description="close, high, low"
    )
    function: str = Field(pattern="^(high|low)$")
    thresholds: list[float] = Field(min_length=1, description="Percent moves, e.g. 2.0 for 2%.")
    tolerance: float = Field(ge=0, description="Adverse move allowed, as a multiple of the threshold.")
    horizon: int = Field(ge=1)
    names: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _names_match(self) -> HighLow2Config:
        if len(self.names) != len(self.thresholds):
            raise ValueError(f"names has {len(self.names)} entries, thresholds has {len(self.thresholds)}")
        if any(t <= 0 for t in self.thresholds):
            raise ValueError("thresholds must be positive percentages")
        return self


def highlow2(df: pl.DataFrame, cfg: HighLow2Config, column_prefix: str, feature_prefix: str) -> pl.DataFrame:
    close_col, high_col, low_col = (f"{column_prefix}{c}" for c in cfg.columns)
    require_columns(df, [close_col, high_col, low_col], "highlow2 label set")
    close = df[close_col].cast(pl.Float64).to_numpy()
    high = df[high_col].cast(pl.Float64).to_numpy()
    low = df[low_col].cast(pl.Float64).to_numpy()
    n = close.size
    known = np.arange(n) < n - cfg.horizon
    out = []
    for threshold, name in zip(cfg.thresholds, cfg.names, strict=True):
        frac = threshold / 100.0
        if cfg.function == "high":
            target = first_cross(high, close * (1 + frac), cfg.horizon, up=True)
            against = first_cross(low, close * (1 - cfg.tolerance * frac), cfg.horizon, up=False)
        else:
            target = first_cross(low, close * (1 - frac), cfg.horizon, up=False)
            against = first_cross(high, close * (1 + cfg.tolerance * frac), cfg.horizon, up=True)
        label = (target <= cfg.horizon) & (target < against)
        valid = known & ~np.isnan(close)
        out.append(pl.Series(f"{feature_prefix}{name}", label).set(pl.Series(~valid), None))
    return pl.DataFrame(out)


def highlow2_outputs(cfg: HighLow2Config, column_prefix: str, feature_prefix: str) -> list[str]:
    return [f"{feature_prefix}{name}" for name in cfg.names]


register(Generator("highlow2", "label", HighLow2Config, highlow2, highlow2_outputs, doc=__doc__ or ""))
