"""The ``itbstats`` feature generator: rolling statistics of one or more columns.

Functions (output ``<feature_prefix><column>_<function>_<window>``, ``<column>`` with the set's
``column_prefix``):

* ``skew``, ``kurtosis``: sample skewness and excess kurtosis; ``parameters.bias`` false (default,
  like pandas and the reference) applies the small-sample correction, as ``scipy.stats`` does with
  ``bias=False``. Windows with zero variance, or too few values for the correction (fewer
  than 3 for skew, 4 for kurtosis), give null (scipy would return the biased value there).
* ``lsbm``: longest run of consecutive values strictly below the window mean (tsfresh's
  ``longest_strike_below_mean``).
* ``fmax`` / ``fmin``: position of the first maximum / minimum in the window divided by its length
  (0 = oldest row).
* ``mean``, ``std`` (population, ddof 0).
* ``area``: sum of (x - newest) over sum of |x - newest|: +1 when the whole window lies above the
  newest value, -1 when below (null when all equal).
* ``slope``: least-squares slope per row (scipy's ``linregress`` on positions 0..n-1); 0 with
  fewer than two values, as in the reference.

Nulls, NaNs and infs are treated as missing values. A row gets a value when its window (the row and the
``window - 1`` before it, cut at the start of the data) holds at least ``min_periods`` values
(default ``max(1, window // 2)``, the reference's rule; ``parameters.min_periods`` overrides it,
an int, or a fraction of the window when below 1).

Batch and online give identical numbers: every statistic is computed by the same sequence of
whole-column operations over the window's offsets, so the value at row t depends only on rows
t - window + 1 .. t and not on where the table starts. Computing on the last ``window + k`` rows
reproduces the last ``k`` values of the full table exactly (bit for bit); a live system needs only
that tail. ``parameters`` also takes the shared post-processing keys (``rel_base``, ``rel_func``,
``percentage``, ``log``; see ``postprocess``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import polars as pl
from numpy.typing import NDArray
from pydantic import Field, field_validator

from itb.config.models import Model, Window, as_list
from itb.generators.frames import require_columns
from itb.generators.history import History
from itb.generators.postprocess import PostProcess, apply
from itb.generators.registry import Generator
from itb.generators.rolling import Windows, chunks, padded, window_chunk
from itb.generators.windowed import finite

Array = NDArray[np.float64]

#: Accepted names (and the reference project's aliases) -> canonical function.
ALIASES = {
    "skew": "skew", "scipy_skew": "skew", "pandas_skew": "skew",
    "kurtosis": "kurtosis", "scipy_kurtosis": "kurtosis", "pandas_kurtosis": "kurtosis",
    "lsbm": "lsbm", "fmax": "fmax", "fmin": "fmin", "mean": "mean", "std": "std",
    "area": "area", "slope": "slope",
}  # fmt: skip


class StatsParameters(PostProcess):
    bias: bool = Field(default=False, description="Biased (population) skew and kurtosis when true.")
    min_periods: float | None = Field(
        default=None, gt=0, description="Values a window needs: an int, or a fraction of the window if < 1."
    )


class ItbStatsConfig(Model):
    columns: list[str] = Field(min_length=1)
    functions: list[str] = Field(min_length=1)
    windows: list[Window] = Field(min_length=1)
    parameters: StatsParameters = Field(default_factory=StatsParameters)

    # The reference project's form: a single value where a list is expected.
    _scalars = field_validator("columns", "functions", "windows", mode="before")(as_list)

    @field_validator("functions")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = [f for f in value if f.lower() not in ALIASES]
        if unknown:
            raise ValueError(f"unknown function(s) {unknown} (known: {', '.join(sorted(ALIASES))})")
        return value


def min_periods(window: int, setting: float | None) -> int:
    if setting is None:
        return max(1, window // 2)
    return max(1, int(np.ceil(setting * window)) if setting < 1 else int(setting))


def _mean(w: Windows) -> Array:
    return w.mean()


def _std(w: Windows) -> Array:
    return np.sqrt(w.central_moment(2))


def _skew(w: Windows, bias: bool) -> Array:
    m2, m3 = w.central_moment(2), w.central_moment(3)
    n = w.count.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        g1 = m3 / m2**1.5
        if not bias:
            g1 = np.where(n > 2, g1 * np.sqrt(n * (n - 1)) / (n - 2), np.nan)
    return np.where(w.flat(m2), np.nan, g1)


def _kurtosis(w: Windows, bias: bool) -> Array:
    m2, m4 = w.central_moment(2), w.central_moment(4)
    n = w.count.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        g2 = m4 / (m2 * m2) - 3.0
        if not bias:
            g2 = np.where(n > 3, ((n + 1) * g2 + 6.0) * (n - 1) / ((n - 2) * (n - 3)), np.nan)
    return np.where(w.flat(m2), np.nan, g2)


def _lsbm(w: Windows) -> Array:
    mean = w.mean()
    run = np.zeros(w.rows)
    best = np.zeros(w.rows)
    for values in w.offsets():
        run += 1.0
        run *= values < mean  # NaN compares false: a missing value ends a run
        np.maximum(best, run, out=best)
    return best


def _first_extreme(w: Windows, use_max: bool) -> Array:
    best = np.full(w.rows, -np.inf if use_max else np.inf)
    position = np.zeros(w.rows)
    for k, values in enumerate(w.offsets()):
        better = values > best if use_max else values < best
        np.copyto(best, values, where=better)
        np.copyto(position, float(k), where=better)
    # Positions count from the window's first row; a window cut by the data start is shorter.
    return (position - w.missing_head) / w.length


def _area(w: Windows) -> Array:
    level = w.newest
    signed = np.zeros(w.rows)
    absolute = np.zeros(w.rows)
    for values in w.offsets():
        d = values - level
        d[np.isnan(d)] = 0.0
        signed += d
        absolute += np.abs(d)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(absolute > 0, signed / absolute, np.nan)


def _slope(w: Windows) -> Array:
    return w.slope()


def compute(function: str, values: Array | Windows, window: int, params: StatsParameters) -> Array:
    """One statistic of ``values`` over trailing windows (NaN where fewer than min_periods).

    Pass a :class:`Windows` to share its sums and moments between statistics of the same window.
    """
    w = values if isinstance(values, Windows) else Windows(values, window)
    name = ALIASES[function.lower()]
    fns: dict[str, Callable[[], Array]] = {
        "mean": lambda: _mean(w),
        "std": lambda: _std(w),
        "skew": lambda: _skew(w, params.bias),
        "kurtosis": lambda: _kurtosis(w, params.bias),
        "lsbm": lambda: _lsbm(w),
        "fmax": lambda: _first_extreme(w, True),
        "fmin": lambda: _first_extreme(w, False),
        "area": lambda: _area(w),
        "slope": lambda: _slope(w),
    }
    out = fns[name]()
    return np.where(w.count >= min_periods(window, params.min_periods), out, np.nan)


def outputs(cfg: ItbStatsConfig, column_prefix: str, feature_prefix: str) -> list[str]:
    return [
        f"{feature_prefix}{column_prefix}{column}_{function}_{window}"
        for column in cfg.columns
        for function in cfg.functions
        for window in cfg.windows
    ]


def generate(df: pl.DataFrame, cfg: ItbStatsConfig, column_prefix: str, feature_prefix: str) -> pl.DataFrame:
    sources = [f"{column_prefix}{c}" for c in cfg.columns]
    require_columns(df, sources, "itbstats feature set")
    names = iter(outputs(cfg, column_prefix, feature_prefix))
    series: list[pl.Series] = []
    n = df.height
    for source in sources:
        values = finite(df[source].cast(pl.Float64).to_numpy())  # null, NaN, inf: missing
        results = {(f, w): np.empty(n) for f in cfg.functions for w in cfg.windows}
        padded_by_window = {w: padded(values, w) for w in cfg.windows}
        for a, b in chunks(n):  # row chunks keep the offset loops in cache; results are unchanged
            for window in cfg.windows:
                shared = window_chunk(padded_by_window[window], window, a, b)
                for function in cfg.functions:
                    results[(function, window)][a:b] = compute(function, shared, window, cfg.parameters)
        for function in cfg.functions:
            group = [results[(function, window)] for window in cfg.windows]
            for result in apply(group, cfg.parameters):
                series.append(pl.Series(next(names), result).fill_nan(None))
    return pl.DataFrame(series)


def lookback(cfg: ItbStatsConfig) -> History:
    """A row reads its window: ``max(windows) - 1`` rows before it."""
    return History(rows=max(cfg.windows) - 1)


#: Registered by :mod:`itb.generators.builtins`.
GENERATORS = (
    Generator("itbstats", "feature", ItbStatsConfig, generate, outputs, doc=__doc__ or "", lookback=lookback),
)
