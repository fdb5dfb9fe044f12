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

from typing import Any

import numpy as np
import polars as pl
from numpy.typing import NDArray
from pydantic import Field, field_validator, model_validator

from itb.config.models import Model, as_list
from itb.generators.frames import require_columns
from itb.generators.history import History
from itb.generators.registry import Generator


def _tables(values: NDArray[np.float64], horizon: int, up: bool) -> list[NDArray[np.float64]]:
    """``table[k][i] = max(series[i : i + 2**k])`` (series = values, or -values when not ``up``),
    padded past the end so blocks never run out."""
    series = values if up else -values
    tables = [np.concatenate([series, np.full(horizon + 1, -np.inf)])]
    while (1 << len(tables)) <= horizon:
        prev, step = tables[-1], 1 << (len(tables) - 1)
        tables.append(np.maximum(prev[:-step], prev[step:]))
    return tables


def first_cross(
    values: NDArray[np.float64],
    levels: NDArray[np.float64],
    horizon: int,
    up: bool,
    rows: NDArray[np.int64] | None = None,
    tables: list[NDArray[np.float64]] | None = None,
) -> NDArray[np.int64]:
    """For each row t, the smallest j in 1..horizon with values[t+j] >= levels[t] (``up``) or
    <= levels[t] (not ``up``); ``horizon + 1`` where there is none.

    With ``rows`` only those rows are answered (``levels`` then holds their levels, in that order);
    ``tables`` passes :func:`_tables` of ``values`` built already."""
    levels_cmp = levels if up else -levels
    if tables is None:
        tables = _tables(values, horizon, up)
    if rows is None:
        rows = np.arange(values.size)
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


def _reaches(
    tables: list[NDArray[np.float64]], levels_cmp: NDArray[np.float64], horizon: int
) -> NDArray[np.bool_]:
    """Per row t: is max(series[t+1 .. t+horizon]) >= levels_cmp[t]? Two overlapping blocks of the
    largest power of two cover the window; past the end the tables hold -inf."""
    n = levels_cmp.size
    k = len(tables) - 1
    table = tables[k]
    width = 1 << k
    window_max = np.maximum(table[1 : n + 1], table[horizon - width + 1 : horizon - width + 1 + n])
    return window_max >= levels_cmp  # type: ignore[no-any-return]


class _Crossings:
    """First crossings of one price series, its tables built once for every label that needs them.

    Only rows whose level is reached at all within the horizon (one sparse-table lookup per row)
    go through the binary search; the others have no crossing. Exact for series without NaN, where
    "reached" is just "the window maximum is at least the level"; with NaN every row is searched."""

    def __init__(self, values: NDArray[np.float64], horizon: int, up: bool) -> None:
        self.values, self.horizon, self.up = values, horizon, up
        self.tables = _tables(values, horizon, up)
        self.exact_reach = not bool(np.isnan(values).any())

    def reached(self, levels: NDArray[np.float64]) -> NDArray[np.bool_]:
        """Rows whose level is reached within the horizon; all rows when that cannot be told."""
        if not self.exact_reach:
            return np.ones(levels.size, dtype=bool)
        return _reaches(self.tables, levels if self.up else -levels, self.horizon)

    def first(self, levels: NDArray[np.float64], rows: NDArray[np.int64]) -> NDArray[np.int64]:
        """:func:`first_cross` for ``rows`` only (``levels`` of every row)."""
        return first_cross(self.values, levels[rows], self.horizon, self.up, rows, self.tables)


class HighLow2Config(Model):
    columns: list[str] = Field(
        default=["close", "high", "low"], min_length=3, max_length=3, description="close, high, low"
    )
    function: str = Field(pattern="^(high|low)$")
    thresholds: list[float] = Field(min_length=1, description="Percent moves, e.g. 2.0 for 2%.")
    tolerance: float = Field(ge=0, description="Adverse move allowed, as a multiple of the threshold.")
    horizon: int = Field(ge=1)
    names: list[str] = Field(min_length=1)

    @field_validator("thresholds", mode="before")
    @classmethod
    def _reference_thresholds(cls, value: Any) -> Any:
        """A single threshold is a list of one; the sign is the function's (``low`` with -2.0 is a 2%
        fall), as in the reference project."""
        value = as_list(value)
        if not isinstance(value, list):
            return value
        return [abs(v) if isinstance(v, int | float) else v for v in value]

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
    valid = known & ~np.isnan(close)
    ups = _Crossings(high, cfg.horizon, up=True)
    downs = _Crossings(low, cfg.horizon, up=False)
    out = []
    for threshold, name in zip(cfg.thresholds, cfg.names, strict=True):
        frac = threshold / 100.0
        if cfg.function == "high":
            goal, goal_level = ups, close * (1 + frac)
            stop, stop_level = downs, close * (1 - cfg.tolerance * frac)
        else:
            goal, goal_level = downs, close * (1 - frac)
            stop, stop_level = ups, close * (1 + cfg.tolerance * frac)
        # Label true: the goal is crossed within the horizon, before the stop. Rows never reaching
        # the goal are false whatever the stop does, so only the others are searched.
        rows = np.flatnonzero(goal.reached(goal_level) & valid)
        target = goal.first(goal_level, rows)
        against = stop.first(stop_level, rows)
        label = np.zeros(n, dtype=bool)
        label[rows] = (target <= cfg.horizon) & (target < against)
        out.append(pl.Series(f"{feature_prefix}{name}", label).set(pl.Series(~valid), None))
    return pl.DataFrame(out)


def highlow2_outputs(cfg: HighLow2Config, column_prefix: str, feature_prefix: str) -> list[str]:
    return [f"{feature_prefix}{name}" for name in cfg.names]


def _forward_only(cfg: object) -> History:
    """A label at row t reads rows t .. t + horizon only: no row before it (the horizon is forward)."""
    return History()


def _whole_series(cfg: object) -> History:
    """topbot2's extrema come from recursive splitting of the whole series: all history."""
    return History(cumulative=True)


HIGHLOW2 = Generator(
    "highlow2", "label", HighLow2Config, highlow2, highlow2_outputs, doc=__doc__ or "", lookback=_forward_only
)


# --------------------------------------------------------------------------------------------------
# highlow: the largest rise (fall) within the horizon against thresholds.


class HighLowConfig(Model):
    """``highlow``: ``function: high`` -> is max(high[t+1..t+horizon]) / close[t] - 1 >= threshold%?
    (``condition: reach``, default) or does it stay below it (``condition: stay``)? ``function: low``
    mirrors it with the lowest low and a fall of threshold%. The last ``horizon`` rows are null.

    With ``horizon`` alone (no function, thresholds, names) it makes the reference project's fixed
    set: ``high_max_<h>`` (the largest rise in %, 0 if none), ``high_10`` .. ``high_30`` (a rise of
    at least 1.0 .. 3.0%), ``high_01`` .. ``high_05`` (every high within 0.1 .. 0.5% above the
    close), ``low_min_<h>`` (the largest fall in %, 0 if none), ``low_01`` .. ``low_05`` (every low
    within 0.1 .. 0.5% below) and ``low_10`` .. ``low_30`` (a fall of at least 1.0 .. 3.0%)."""

    columns: list[str] = Field(
        default=["close", "high", "low"], min_length=3, max_length=3, description="close, high, low"
    )
    function: str | None = Field(default=None, pattern="^(high|low)$")
    condition: str = Field(default="reach", pattern="^(reach|stay)$")
    thresholds: list[float] | None = Field(
        default=None, min_length=1, description="Percent moves, e.g. 1.0 for 1%."
    )
    horizon: int = Field(ge=1)
    names: list[str] | None = Field(default=None, min_length=1)

    _scalars = field_validator("thresholds", mode="before")(as_list)

    @model_validator(mode="after")
    def _names_match(self) -> HighLowConfig:
        given = [k for k in ("function", "thresholds", "names") if getattr(self, k) is not None]
        if not given:
            return self  # the reference project's fixed set
        if len(given) < 3:
            raise ValueError("give function, thresholds and names together, or horizon alone")
        assert self.names is not None and self.thresholds is not None
        if len(self.names) != len(self.thresholds):
            raise ValueError(f"names has {len(self.names)} entries, thresholds has {len(self.thresholds)}")
        if any(t <= 0 for t in self.thresholds):
            raise ValueError("thresholds must be positive percentages")
        return self


def future_extreme(values: NDArray[np.float64], horizon: int, use_max: bool) -> NDArray[np.float64]:
    """max (min) of values[t+1 .. t+horizon] per row; NaN where the horizon runs past the end."""
    n = values.size
    out = np.full(n, np.nan)
    if n <= horizon:
        return out
    view = np.lib.stride_tricks.sliding_window_view(values[1:], horizon)
    out[: n - horizon] = view.max(axis=1) if use_max else view.min(axis=1)
    return out


#: The reference project's fixed highlow labels: (name, threshold %, reach (>=) or stay (<=)).
REFERENCE_HIGH = [(f"high_{round(t * 10):02d}", t, True) for t in (1.0, 1.5, 2.0, 2.5, 3.0)] + [
    (f"high_{round(t * 10):02d}", t, False) for t in (0.1, 0.2, 0.3, 0.4, 0.5)
]
REFERENCE_LOW = [(f"low_{round(t * 10):02d}", t, False) for t in (0.1, 0.2, 0.3, 0.4, 0.5)] + [
    (f"low_{round(t * 10):02d}", t, True) for t in (1.0, 1.5, 2.0, 2.5, 3.0)
]


def reference_highlow(close: NDArray[np.float64], high: NDArray[np.float64], low: NDArray[np.float64],
                      horizon: int) -> dict[str, NDArray[Any]]:  # fmt: skip
    """The reference project's fixed set (see :class:`HighLowConfig`), NaN (null) on the tail."""
    with np.errstate(divide="ignore", invalid="ignore"):
        rise = (future_extreme(high, horizon, True) - close) / close * 100.0  # the reference's formula
        fall = -(future_extreme(low, horizon, False) - close) / close * 100.0  # positive: a fall
    out: dict[str, NDArray[Any]] = {f"high_max_{horizon}": np.maximum(rise, 0.0)}
    out |= {name: rise >= t if reach else rise <= t for name, t, reach in REFERENCE_HIGH}
    out[f"low_min_{horizon}"] = np.maximum(fall, 0.0)
    out |= {name: fall >= t if reach else fall <= t for name, t, reach in REFERENCE_LOW}
    return out


def highlow(df: pl.DataFrame, cfg: HighLowConfig, column_prefix: str, feature_prefix: str) -> pl.DataFrame:
    close_col, high_col, low_col = (f"{column_prefix}{c}" for c in cfg.columns)
    require_columns(df, [close_col, high_col, low_col], "highlow label set")
    close = df[close_col].cast(pl.Float64).to_numpy()
    if cfg.function is None:
        high, low = (df[c].cast(pl.Float64).to_numpy() for c in (high_col, low_col))
        columns = reference_highlow(close, high, low, cfg.horizon)
        unknown = pl.Series(np.isnan(columns[f"high_max_{cfg.horizon}"]))
        return pl.DataFrame(
            [pl.Series(f"{feature_prefix}{k}", v).set(unknown, None) for k, v in columns.items()]
        )
    assert cfg.thresholds is not None and cfg.names is not None
    up = cfg.function == "high"
    extreme = future_extreme(df[(high_col if up else low_col)].cast(pl.Float64).to_numpy(), cfg.horizon, up)
    with np.errstate(divide="ignore", invalid="ignore"):
        move = (extreme / close - 1.0) * 100.0 if up else (1.0 - extreme / close) * 100.0
    valid = ~np.isnan(move)
    out = []
    for threshold, name in zip(cfg.thresholds, cfg.names, strict=True):
        label = move >= threshold if cfg.condition == "reach" else move < threshold
        out.append(pl.Series(f"{feature_prefix}{name}", label).set(pl.Series(~valid), None))
    return pl.DataFrame(out)


def highlow_outputs(cfg: HighLowConfig, column_prefix: str, feature_prefix: str) -> list[str]:
    if cfg.names is None:
        h = cfg.horizon
        names = [f"high_max_{h}", *(n for n, *_ in REFERENCE_HIGH)]
        names += [f"low_min_{h}", *(n for n, *_ in REFERENCE_LOW)]
        return [f"{feature_prefix}{name}" for name in names]
    return [f"{feature_prefix}{name}" for name in cfg.names]


HIGHLOW = Generator(
    "highlow",
    "label",
    HighLowConfig,
    highlow,
    highlow_outputs,
    doc=HighLowConfig.__doc__ or "",
    lookback=_forward_only,
)


# --------------------------------------------------------------------------------------------------
# topbot2: tops (bottoms) separated by a level, labelled within a tolerance.


class TopBot2Config(Model):
    """``topbot2``: label the rows near tops (``function: top``) or bottoms (``bot``) of a column.

    A top is the highest value of a stretch that the series leaves by falling ``level`` (a
    fraction: 0.01 = 1%) below it on both sides; tops are found by recursive splitting as in the
    reference: take the maximum of an interval, find the nearest rows left and right that are
    ``level`` below it, record it if both exist, then search the parts outside them. Rows strictly
    between the nearest rows left and right that are ``tolerance x level`` below the top are
    labelled true (one name per tolerance). Rows after the right edge of the last confirmed extremum
    are null: whether they belong to a top depends on data not seen yet.
    """

    columns: str = "close"
    function: str = Field(pattern="^(top|bot)$")
    level: float = Field(gt=0, lt=1, description="Minimum move around an extremum, as a fraction.")
    tolerances: list[float] = Field(min_length=1, description="Label width: fractions of the level, (0, 1].")
    names: list[str] = Field(min_length=1)

    _scalars = field_validator("tolerances", mode="before")(as_list)

    @model_validator(mode="after")
    def _names_match(self) -> TopBot2Config:
        if len(self.names) != len(self.tolerances):
            raise ValueError(f"names has {len(self.names)} entries, tolerances has {len(self.tolerances)}")
        if any(not 0 < t <= 1 for t in self.tolerances):
            raise ValueError("tolerances must be in (0, 1]")
        return self


def find_extremums(
    values: NDArray[np.float64], is_max: bool, level: float, tolerance: float
) -> list[tuple[int, int, int, int, int]]:
    """(left level, left tolerance, extremum, right tolerance, right level) indexes, sorted.

    Python iterations happen per extremum found (each a few numpy scans of its interval), not per
    row; intervals shrink as they are split, so the total work is O(rows x depth).
    """
    x = values if is_max else -values
    found: list[tuple[int, int, int, int, int]] = []
    stack = [(0, x.size - 1)] if x.size else []
    while stack:
        a, b = stack.pop()  # inclusive bounds
        segment = x[a : b + 1]
        if segment.size == 0 or np.isnan(segment).all():
            continue
        m = a + int(np.nanargmax(segment))
        peak = values[m]
        if is_max:
            level_val, tol_val = peak - level * abs(peak), peak - tolerance * abs(peak)
            below_level = values[a : b + 1] < level_val
            below_tol = values[a : b + 1] < tol_val
        else:
            level_val, tol_val = peak + level * abs(peak), peak + tolerance * abs(peak)
            below_level = values[a : b + 1] > level_val
            below_tol = values[a : b + 1] > tol_val
        rel = m - a
        left_hits = np.flatnonzero(below_level[: rel + 1])
        right_hits = np.flatnonzero(below_level[rel:])
        left = a + int(left_hits[-1]) if left_hits.size else None
        right = m + int(right_hits[0]) if right_hits.size else None
        if left is not None and right is not None:
            left_tol = a + int(np.flatnonzero(below_tol[: rel + 1])[-1])
            right_tol = m + int(np.flatnonzero(below_tol[rel:])[0])
            found.append((left, left_tol, m, right_tol, right))
        if left is not None and a < left:
            stack.append((a, left))
        if right is not None and right < b:
            stack.append((right, b))
    return sorted(found, key=lambda e: e[2])


def topbot2(df: pl.DataFrame, cfg: TopBot2Config, column_prefix: str, feature_prefix: str) -> pl.DataFrame:
    column = f"{column_prefix}{cfg.columns}"
    require_columns(df, [column], "topbot2 label set")
    values = df[column].cast(pl.Float64).to_numpy()
    out = []
    for tolerance, name in zip(cfg.tolerances, cfg.names, strict=True):
        extremums = find_extremums(values, cfg.function == "top", cfg.level, cfg.level * tolerance)
        label = np.zeros(values.size, dtype=np.int8)
        if extremums:
            starts = np.array([e[1] + 1 for e in extremums])
            ends = np.array([e[3] for e in extremums])  # exclusive
            delta = np.zeros(values.size + 1, dtype=np.int64)
            np.add.at(delta, starts, 1)
            np.add.at(delta, ends, -1)
            label = (np.cumsum(delta[:-1]) > 0).astype(np.int8)
        known = np.zeros(values.size, dtype=bool)
        last_right = max((e[4] for e in extremums), default=-1)
        known[: last_right + 1] = True
        out.append(pl.Series(f"{feature_prefix}{name}", label.astype(bool)).set(pl.Series(~known), None))
    return pl.DataFrame(out)


def topbot2_outputs(cfg: TopBot2Config, column_prefix: str, feature_prefix: str) -> list[str]:
    return [f"{feature_prefix}{name}" for name in cfg.names]


TOPBOT2 = Generator(
    "topbot2",
    "label",
    TopBot2Config,
    topbot2,
    topbot2_outputs,
    doc=TopBot2Config.__doc__ or "",
    lookback=_whole_series,
)

#: Registered by :mod:`itb.generators.builtins`.
GENERATORS = (HIGHLOW2, HIGHLOW, TOPBOT2)
