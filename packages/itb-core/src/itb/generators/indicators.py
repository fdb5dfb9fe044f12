"""Technical indicators in numpy that reproduce classic TA-Lib (C 0.4-0.6) operation for operation.

TA-Lib keeps running sums (SMA, VAR) or recomputes per window (LINEARREG_SLOPE). Rounding depends
on that order, and for small variances or slopes it is visible far above 1e-9 relative. So instead
of a "better" formula we replay TA-Lib's order with vectorised numpy: a running sum is one
sequential ``np.cumsum`` over the interleaved additions and subtractions TA-Lib performs, and a
per-window sum is a loop over window offsets (not rows), each step a whole-column operation.

Inputs are float64 arrays; like TA-Lib's Python wrapper, leading NaNs are skipped and outputs before
``first valid + lookback`` are NaN. A NaN inside the data propagates as it does in TA-Lib.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]


def _prepare(x: Array, window: int, minimum: int) -> tuple[Array, int]:
    if window < minimum:
        raise ValueError(f"window must be >= {minimum}, got {window}")
    x = np.ascontiguousarray(x, dtype=np.float64)
    valid = np.flatnonzero(~np.isnan(x))
    begin = int(valid[0]) if valid.size else x.size
    return x, begin


def _running_window_sums(x: Array, window: int) -> Array:
    """Window sums exactly as TA-Lib's running total: add the new value, read, subtract the oldest."""
    n = x.size
    if n < window:
        return np.empty(0)
    seq = np.empty(window + 2 * (n - window), dtype=np.float64)
    seq[:window] = x[:window]
    seq[window::2] = -x[: n - window]
    seq[window + 1 :: 2] = x[window:]
    totals = np.cumsum(seq)
    out = np.empty(n - window + 1, dtype=np.float64)
    out[0] = totals[window - 1]
    out[1:] = totals[window + 1 :: 2]
    return out


def _place(x: Array, begin: int, lookback: int, values: Array) -> Array:
    out = np.full(x.size, np.nan)
    out[begin + lookback : begin + lookback + values.size] = values
    return out


def sma(x: Array, window: int) -> Array:
    """TA_SMA. A window of 1 returns the input (TA-Lib itself requires >= 2)."""
    x, begin = _prepare(x, window, 1)
    sums = _running_window_sums(x[begin:], window)
    return _place(x, begin, window - 1, sums / window)


def total(x: Array, window: int) -> Array:
    """TA_SUM."""
    x, begin = _prepare(x, window, 1)
    return _place(x, begin, window - 1, _running_window_sums(x[begin:], window))


def var(x: Array, window: int, nbdev: float = 1.0) -> Array:
    """TA_VAR: population variance from running sums of x and x*x (TA-Lib ignores nbdev here)."""
    x, begin = _prepare(x, window, 1)
    tail = x[begin:]
    mean1 = _running_window_sums(tail, window) / window
    mean2 = _running_window_sums(tail * tail, window) / window
    return _place(x, begin, window - 1, mean2 - mean1 * mean1)


def stddev(x: Array, window: int, nbdev: float = 1.0) -> Array:
    """TA_STDDEV: sqrt of TA_VAR times nbdev; variances below 1e-8 become 0, as in TA-Lib."""
    if window < 2:
        raise ValueError(f"window must be >= 2, got {window}")
    variance = var(x, window)
    out = np.where(variance < 1e-8, 0.0, np.sqrt(np.maximum(variance, 0.0)))
    if nbdev != 1.0:
        out = out * nbdev
    out[np.isnan(variance)] = np.nan
    return out


def linearreg_slope(x: Array, window: int) -> Array:
    """TA_LINEARREG_SLOPE: least-squares slope per window, x running 0..window-1 newest to oldest.

    TA-Lib computes ``sum(x^2)`` in 32-bit integers, which overflows for windows above 1024 and
    gives wrong slopes there; this keeps the same formula in exact integer/float arithmetic.
    """
    x, begin = _prepare(x, window, 2)
    tail = x[begin:]
    n = tail.size
    if n < window:
        return np.full(x.size, np.nan)
    count = n - window + 1
    sum_x = window * (window - 1) * 0.5
    sum_x_sqr = float(window * (window - 1) * (2 * window - 1) // 6)
    divisor = sum_x * sum_x - window * sum_x_sqr
    sum_y = np.zeros(count)
    sum_xy = np.zeros(count)
    for i in range(window - 1, -1, -1):  # loop over window offsets; each step covers every row
        values = tail[window - 1 - i : window - 1 - i + count]
        sum_y += values
        sum_xy += float(i) * values
    return _place(x, begin, window - 1, (window * sum_xy - sum_x * sum_y) / divisor)


#: Name -> (function, minimum window). Names follow TA-Lib's.
FUNCTIONS = {
    "SMA": (sma, 1),
    "SUM": (total, 1),
    "VAR": (var, 1),
    "STDDEV": (stddev, 2),
    "LINEARREG_SLOPE": (linearreg_slope, 2),
}
