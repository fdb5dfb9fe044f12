"""The ``itblib`` feature generator: rolling aggregates relative to a longer base window.

Each function aggregates a series over each of ``windows`` and over ``base_window`` and outputs
``100 * (aggregate - base) / base`` (as the reference project does), named like the reference:

========================  ===============================================  ====================
function                  series and aggregate                             output
========================  ===============================================  ====================
``close_WMA``             close, volume-weighted mean                      ``close_<w>``
``close_STD``             close, standard deviation (ddof 0)               ``close_std_<w>``
``volume_SMA``            volume, mean                                     ``volume_<w>``
``span_SMA``              high - low, mean                                 ``span_<w>``
``trades_SMA``            trades, mean                                     ``trades_<w>``
``tb_base_SMA``           taker-buy base volume / volume, mean             ``tb_base_<w>``
``close_AREA``            close, ``area`` (see ``itbstats``; not relative)  ``close_area_<w>``
``close_SLOPE``           close, least-squares slope (not relative)        ``close_trend_<w>``
``volume_SLOPE``          volume, least-squares slope (not relative)       ``volume_trend_<w>``
========================  ===============================================  ====================

``use_differences`` (default true, the reference's default) first turns close, volume and trades
into percent changes from the previous row. Windows need ``max(1, w // 2)`` values (trends: 1,
with slope 0 for a single value). Columns are read with the set's ``column_prefix`` and outputs
carry it too (``eth_close_5``). Like ``itbstats``, the value at row t depends only on the rows of
its window, so batch and online computations agree exactly.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from numpy.typing import NDArray
from pydantic import Field, field_validator

from itb.config.models import Model, Window, as_list
from itb.generators.frames import require_columns
from itb.generators.history import History
from itb.generators.registry import Generator
from itb.generators.rolling import chunks, padded, window_chunk
from itb.generators.windowed import finite

Array = NDArray[np.float64]

#: function -> (output stem, needed base columns)
FUNCTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "close_WMA": ("close", ("close", "volume")),
    "close_STD": ("close_std", ("close",)),
    "volume_SMA": ("volume", ("volume",)),
    "span_SMA": ("span", ("high", "low")),
    "trades_SMA": ("trades", ("trades",)),
    "tb_base_SMA": ("tb_base", ("tb_base_av", "volume")),
    "close_AREA": ("close_area", ("close",)),
    "close_SLOPE": ("close_trend", ("close",)),
    "volume_SLOPE": ("volume_trend", ("volume",)),
}


class ItbLibConfig(Model):
    base_window: int = Field(ge=1)
    windows: list[Window] = Field(min_length=1)
    functions: list[str] | None = Field(default=None, description="Default: all of them.")
    use_differences: bool = True

    # The reference project's form: a single value where a list is expected.
    _scalars = field_validator("windows", "functions", mode="before")(as_list)

    @field_validator("functions")
    @classmethod
    def _known(cls, value: list[str] | None) -> list[str] | None:
        unknown = [f for f in value or [] if f not in FUNCTIONS]
        if unknown:
            raise ValueError(f"unknown function(s) {unknown} (known: {', '.join(FUNCTIONS)})")
        return value


def rolling(values: Array, window: int, stat: str, weights: Array | None = None) -> Array:
    """A trailing-window statistic (``mean``, ``std``, ``wmean``, ``area``, ``slope``), chunked."""
    n = values.size
    out = np.empty(n)
    pv = padded(values, window)
    pw = padded(weights, window) if weights is not None else None
    need = 1 if stat == "slope" else max(1, window // 2)
    for a, b in chunks(n):
        w = window_chunk(pv, window, a, b)
        if stat == "mean":
            result = w.mean()
        elif stat == "std":
            result = np.sqrt(w.central_moment(2))
        elif stat == "wmean":
            assert pw is not None
            result = w.weighted_mean(pw[a : b + window - 1])
        elif stat == "slope":
            result = w.slope()
        else:
            from itb.generators.itbstats import _area

            result = _area(w)
        out[a:b] = np.where(w.count >= need, result, np.nan)
    return out


def _to_diff(values: Array) -> Array:
    out = np.full(values.size, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        out[1:] = 100.0 * (values[1:] - values[:-1]) / values[:-1]
    return np.where(np.isfinite(out), out, np.nan)


def _functions(cfg: ItbLibConfig) -> list[str]:
    return cfg.functions or list(FUNCTIONS)


def outputs(cfg: ItbLibConfig, column_prefix: str, feature_prefix: str) -> list[str]:
    return [
        f"{feature_prefix}{column_prefix}{FUNCTIONS[f][0]}_{w}" for f in _functions(cfg) for w in cfg.windows
    ]


def generate(df: pl.DataFrame, cfg: ItbLibConfig, column_prefix: str, feature_prefix: str) -> pl.DataFrame:
    functions = _functions(cfg)
    needed = sorted({c for f in functions for c in FUNCTIONS[f][1]})
    require_columns(df, [f"{column_prefix}{c}" for c in needed], "itblib feature set")
    col = {c: finite(df[f"{column_prefix}{c}"].cast(pl.Float64).to_numpy()) for c in needed}
    if cfg.use_differences:
        col = {c: _to_diff(v) if c in ("close", "volume", "trades") else v for c, v in col.items()}
    names = iter(outputs(cfg, column_prefix, feature_prefix))
    series: list[pl.Series] = []
    with np.errstate(divide="ignore", invalid="ignore"):
        for function in functions:
            if function == "close_WMA":
                source, stat, weights = col["close"], "wmean", col["volume"]
            elif function == "close_STD":
                source, stat, weights = col["close"], "std", None
            elif function == "span_SMA":
                source, stat, weights = col["high"] - col["low"], "mean", None
            elif function == "tb_base_SMA":
                source, stat, weights = col["tb_base_av"] / col["volume"], "mean", None
            elif function.endswith("_SMA"):
                source, stat, weights = col[function[: -len("_SMA")]], "mean", None
            elif function == "close_AREA":
                source, stat, weights = col["close"], "area", None
            else:
                source, stat, weights = col[function.split("_")[0]], "slope", None
            source = np.where(np.isfinite(source), source, np.nan)
            relative = stat in ("wmean", "std", "mean")
            base = rolling(source, cfg.base_window, stat, weights) if relative else None
            for window in cfg.windows:
                value = rolling(source, window, stat, weights)
                if base is not None:
                    value = 100.0 * (value - base) / base
                value = np.where(np.isfinite(value), value, np.nan)
                series.append(pl.Series(next(names), value).fill_nan(None))
    return pl.DataFrame(series)


#: Functions relative to the base window, and those reading no percent-change column.
_RELATIVE = {"close_WMA", "close_STD", "volume_SMA", "span_SMA", "trades_SMA", "tb_base_SMA"}
_LEVELS = {"span_SMA"}


def lookback(cfg: ItbLibConfig) -> History:
    """Per function: its longest window (with the base window when relative) minus one, plus one
    row when it reads a percent change (``use_differences``); the set needs the largest."""
    rows = 0
    for function in _functions(cfg):
        longest = max(cfg.windows) if function not in _RELATIVE else max(cfg.base_window, *cfg.windows)
        differences = cfg.use_differences and function not in _LEVELS
        rows = max(rows, longest - 1 + (1 if differences else 0))
    return History(rows=rows)


#: Registered by :mod:`itb.generators.builtins`.
GENERATORS = (
    Generator("itblib", "feature", ItbLibConfig, generate, outputs, doc=__doc__ or "", lookback=lookback),
)
