"""Trailing-window statistics as loops over window offsets (whole-column numpy operations).

Why offsets and not cumulative sums: a cumulative-sum difference depends on everything before the
window (its rounding changes with the table's start), so a live system computing on a short tail
would get different numbers than the batch that trained the model. Here the value at row t is
computed from rows t - window + 1 .. t only, by the same sequence of operations wherever the table
starts: batch and online results are identical bit for bit. The cost is O(rows x window) vector
work, which is fine for windows up to a few hundred (525k rows x 60 offsets is a few ms per pass).

Rows before the start of the data count as missing, as do NaNs (reference windows are cut at the
start of the data, as pandas' ``rolling(min_periods=...)`` does).
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]


class Windows:
    """The trailing windows of length ``window`` of a float column, one per row."""

    def __init__(self, values: Array, window: int, *, padded: Array | None = None, start: int = 0) -> None:
        """Windows over ``values``; or, with ``padded`` (``window - 1`` rows of history, NaN before
        the data start, then the rows), over rows ``start ..`` of a larger table (see :func:`chunks`)."""
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        if padded is None:
            padded = np.concatenate([np.full(window - 1, np.nan), np.asarray(values, dtype=np.float64)])
        self._raw = np.ascontiguousarray(padded, dtype=np.float64)
        self.window = window
        self.start = start
        self.values = self._raw[window - 1 :]
        self.rows = self.values.size
        valid = ~np.isnan(self._raw)
        self._complete = bool(valid.all())  # no missing values: masks can be skipped (same result)
        self._valid = valid.astype(np.float64)
        self._filled = np.where(valid, self._raw, 0.0)

    def _slice(self, array: Array, k: int) -> Array:
        return array[k : k + self.rows]

    def offsets(self) -> Iterator[Array]:
        """Window elements oldest first: for offset k, element k of every row's window (NaN if missing)."""
        for k in range(self.window):
            yield self._slice(self._raw, k)

    @property
    def newest(self) -> Array:
        return self.values

    @cached_property
    def missing_head(self) -> Array:
        """How many window slots of each row lie before the start of the data."""
        return np.maximum(0, self.window - 1 - self.start - np.arange(self.rows)).astype(np.float64)

    @cached_property
    def length(self) -> Array:
        """Window length as the reference sees it: cut at the start of the data."""
        return self.window - self.missing_head

    @cached_property
    def _sums(self) -> tuple[Array, Array]:
        total = np.zeros(self.rows)
        count = np.zeros(self.rows)
        for k in range(self.window):
            total += self._slice(self._filled, k)
            count += self._slice(self._valid, k)
        return total, count

    @property
    def count(self) -> Array:
        return self._sums[1]

    def mean(self) -> Array:
        total, count = self._sums
        with np.errstate(divide="ignore", invalid="ignore"):
            return total / count

    @cached_property
    def _moments(self) -> dict[int, Array]:
        mean = self.mean()
        s2, s3, s4 = np.zeros(self.rows), np.zeros(self.rows), np.zeros(self.rows)
        for k in range(self.window):
            d = self._slice(self._filled, k) - mean
            if not self._complete:
                d *= self._slice(self._valid, k)
            d2 = d * d
            s2 += d2
            s3 += d2 * d
            s4 += d2 * d2
        count = self.count
        with np.errstate(divide="ignore", invalid="ignore"):
            return {2: s2 / count, 3: s3 / count, 4: s4 / count}

    def central_moment(self, order: int) -> Array:
        """Population central moment of order 2, 3 or 4 (sum of (x - mean)^order / n)."""
        return self._moments[order]

    def flat(self, m2: Array) -> Array:
        """Windows whose variance is zero up to rounding (scipy's rule: m2 <= (1e-15 * mean)^2)."""
        return np.asarray(m2 <= (1e-15 * self.mean()) ** 2)

    def slope(self) -> Array:
        """Least-squares slope against the position in the window; 0 with fewer than two values."""
        count = self.count
        sum_x = np.zeros(self.rows)
        for k in range(self.window):
            sum_x += k * self._slice(self._valid, k)
        with np.errstate(divide="ignore", invalid="ignore"):
            mean_x = sum_x / count
        mean_y = self.mean()
        sxx = np.zeros(self.rows)
        sxy = np.zeros(self.rows)
        for k in range(self.window):
            dx = k - mean_x
            dy = self._slice(self._filled, k) - mean_y
            if not self._complete:
                valid = self._slice(self._valid, k)
                dx = dx * valid
                dy *= valid
            sxx += dx * dx
            sxy += dx * dy
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(count >= 2, sxy / sxx, 0.0)

    def weighted_mean(self, padded_w: Array) -> Array:
        """Sum of value x weight over sum of weight (rows where either is NaN are missing);
        ``padded_w`` is aligned with this object's padded values."""
        both = ~np.isnan(self._raw) & ~np.isnan(padded_w)
        products = np.where(both, self._raw * padded_w, 0.0)
        weight = np.where(both, padded_w, 0.0)
        top = np.zeros(self.rows)
        bottom = np.zeros(self.rows)
        for k in range(self.window):
            top += self._slice(products, k)
            bottom += self._slice(weight, k)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(bottom != 0, top / bottom, np.nan)


#: Rows per chunk: a few hundred KB per temporary array, so the offset loops stay in the CPU cache.
CHUNK = 16_384


def padded(values: Array, window: int) -> Array:
    """``values`` with ``window - 1`` NaNs in front (the missing history of the first rows)."""
    return np.concatenate([np.full(window - 1, np.nan), np.asarray(values, dtype=np.float64)])


def chunks(rows: int, chunk: int = CHUNK) -> Iterator[tuple[int, int]]:
    """Row ranges [a, b) to process one at a time; results do not depend on the chunking."""
    for a in range(0, rows, chunk):
        yield a, min(rows, a + chunk)


def window_chunk(padded_values: Array, window: int, a: int, b: int) -> Windows:
    """The :class:`Windows` of rows a..b-1 of the column ``padded_values`` was made from."""
    return Windows(np.empty(0), window, padded=padded_values[a : b + window - 1], start=a)
