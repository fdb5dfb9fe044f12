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


# --------------------------------------------------------------------------------------------------
# Helpers shared by the kernels below.


def _begin_many(*arrays: Array) -> tuple[list[Array], int]:
    """Like TA-Lib's wrapper: skip the leading rows where any input is NaN."""
    xs = [np.ascontiguousarray(a, dtype=np.float64) for a in arrays]
    bad = np.zeros(xs[0].size, dtype=bool)
    for a in xs:
        bad |= np.isnan(a)
    good = np.flatnonzero(~bad)
    return xs, int(good[0]) if good.size else xs[0].size


#: TA-Lib 0.6's ``TA_IS_ZERO`` / ``TA_IS_ZERO_OR_NEG`` epsilon (0.4 used 1e-8).
_EPS = 1e-14


def _check(window: int, minimum: int, name: str = "timeperiod") -> None:
    if window < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {window}")


def _first_order(inputs: Array, state: float, a: float, b: float) -> Array:
    """``y[i] = a * y[i-1] + b * inputs[i]`` with ``y[-1] = state``, in compiled code (lfilter).

    EMA and Wilder smoothing are such recursions; they cannot be a cumulative sum, and a Python loop
    per row is what this module avoids. The rounding differs from TA-Lib's ``(x - prev) * k + prev``
    by a few ulps, far inside 1e-9 relative.
    """
    if inputs.size == 0:
        return np.empty(0)
    from scipy.signal import lfilter

    out, _ = lfilter([b], [1.0, -a], inputs, zi=[a * state])
    return np.asarray(out, dtype=np.float64)


def _window_sum_sequential(x: Array, window: int) -> Array:
    """Per-window sums, oldest to newest element (TA-Lib's loop order when it recomputes a window)."""
    count = x.size - window + 1
    if count <= 0:
        return np.empty(0)
    acc = np.zeros(count)
    for k in range(window):
        acc += x[k : k + count]
    return acc


def _ema_from(x: Array, period: int, seed_start: int, k: float | None = None) -> Array:
    """EMA whose seed is the SMA of ``x[seed_start : seed_start + period]`` (TA-Lib's default seed)."""
    out = np.full(x.size, np.nan)
    first = seed_start + period - 1
    if first >= x.size:
        return out
    k = 2.0 / (period + 1) if k is None else k
    seed = float(np.add.accumulate(x[seed_start : first + 1])[-1]) / period
    out[first] = seed
    out[first + 1 :] = _first_order(x[first + 1 :], seed, 1.0 - k, k)
    return out


# --------------------------------------------------------------------------------------------------
# Moving averages and windows.


def ema(x: Array, window: int) -> Array:
    """TA_EMA: seeded with the SMA of the first ``window`` values, then ``k = 2 / (window + 1)``."""
    _check(window, 1)
    x, begin = _prepare(x, window, 1)
    if window == 1:
        return x.copy()
    return _ema_from(x, window, begin)


def wma(x: Array, window: int) -> Array:
    """TA_WMA: linear weights 1..window, the newest value weighted most.

    TA-Lib updates the weighted sum incrementally (``sum += window * new; read; sum -= plain sum``,
    the plain sum itself a running total); both running totals are replayed as cumulative sums.
    """
    _check(window, 1)
    x, begin = _prepare(x, window, 1)
    tail = x[begin:]
    n = tail.size
    if n < window:
        return np.full(x.size, np.nan)
    if window == 1:
        return x.copy()
    count = n - window + 1
    # Plain running sum, as TA-Lib updates it: the first window-1 values, then +new, -trailing.
    plain_seq = np.empty(window - 1 + 2 * count)
    plain_seq[: window - 1] = tail[: window - 1]
    plain_seq[window - 1 :: 2] = tail[window - 1 :]
    plain_seq[window::2] = -np.concatenate([[0.0], tail[: count - 1]])
    plain = np.cumsum(plain_seq)[window::2]  # value after each step's "-trailing"
    # Weighted sum: i * x[i] for the first window-1 values, then +window*new, read, -plain.
    seq = np.empty(window - 1 + 2 * count)
    seq[: window - 1] = tail[: window - 1] * np.arange(1, window, dtype=np.float64)
    seq[window - 1 :: 2] = tail[window - 1 :] * float(window)
    seq[window::2] = -plain
    sums = np.cumsum(seq)[window - 1 :: 2]
    return _place(x, begin, window - 1, sums / float(window * (window + 1) // 2))


def dema(x: Array, window: int) -> Array:
    """TA_DEMA = 2 * EMA - EMA(EMA); both EMAs seeded like TA_EMA."""
    e1 = ema(x, window)
    return 2.0 * e1 - ema(e1, window)


def tema(x: Array, window: int) -> Array:
    """TA_TEMA = 3 * EMA - 3 * EMA(EMA) + EMA(EMA(EMA))."""
    e1 = ema(x, window)
    e2 = ema(e1, window)
    return 3.0 * e1 - 3.0 * e2 + ema(e2, window)


def _extreme(x: Array, window: int, use_max: bool) -> Array:
    _check(window, 1)
    x, begin = _prepare(x, window, 1)
    tail = x[begin:]
    if tail.size < window:
        return np.full(x.size, np.nan)
    view = np.lib.stride_tricks.sliding_window_view(tail, window)
    values = view.max(axis=1) if use_max else view.min(axis=1)
    return _place(x, begin, window - 1, values)


def rolling_max(x: Array, window: int) -> Array:
    """TA_MAX: highest value over the window (lookback ``window - 1``)."""
    return _extreme(x, window, True)


def rolling_min(x: Array, window: int) -> Array:
    """TA_MIN: lowest value over the window (lookback ``window - 1``)."""
    return _extreme(x, window, False)


def mom(x: Array, window: int) -> Array:
    """TA_MOM: ``x[t] - x[t - window]``."""
    _check(window, 1)
    x, begin = _prepare(x, window, 1)
    tail = x[begin:]
    return _place(x, begin, window, tail[window:] - tail[:-window])


def roc(x: Array, window: int) -> Array:
    """TA_ROC: ``(x[t] / x[t - window] - 1) * 100``; 0 where the old value is 0, as in TA-Lib."""
    _check(window, 1)
    x, begin = _prepare(x, window, 1)
    tail = x[begin:]
    old, new = tail[:-window], tail[window:]
    with np.errstate(divide="ignore", invalid="ignore"):
        values = np.where(old != 0.0, ((new / np.where(old != 0.0, old, 1.0)) - 1.0) * 100.0, 0.0)
    return _place(x, begin, window, values)


def rsi(x: Array, window: int = 14) -> Array:
    """TA_RSI (Wilder): average gain and loss over the first ``window`` changes, then Wilder
    smoothing ``avg = (avg * (window - 1) + value) / window``; TA-Lib's unstable period 0."""
    _check(window, 2)
    x, begin = _prepare(x, window, 2)
    tail = x[begin:]
    if tail.size <= window:
        return np.full(x.size, np.nan)
    diff = tail[1:] - tail[:-1]
    gains = np.where(diff > 0, diff, 0.0)
    losses = np.where(diff < 0, -diff, 0.0)
    a, b = (window - 1) / window, 1.0 / window
    g0 = float(np.add.accumulate(gains[:window])[-1]) / window
    l0 = float(np.add.accumulate(losses[:window])[-1]) / window
    gain = np.concatenate([[g0], _first_order(gains[window:], g0, a, b)])
    loss = np.concatenate([[l0], _first_order(losses[window:], l0, a, b)])
    total_ = gain + loss
    with np.errstate(divide="ignore", invalid="ignore"):
        values = np.where(np.abs(total_) < _EPS, 0.0, 100.0 * (gain / total_))
    return _place(x, begin, window, values)


def _true_range(high: Array, low: Array, close: Array) -> Array:
    """TA_TRANGE for rows 1.. (the first row has no previous close)."""
    prev = close[:-1]
    h, lo = high[1:], low[1:]
    return np.maximum(np.maximum(h - lo, np.abs(h - prev)), np.abs(lo - prev))


def atr(high: Array, low: Array, close: Array, window: int = 14) -> Array:
    """TA_ATR: the first value is the mean of ``window`` true ranges, then Wilder smoothing."""
    _check(window, 1)
    (high, low, close), begin = _begin_many(high, low, close)
    out = np.full(high.size, np.nan)
    h, lo, c = high[begin:], low[begin:], close[begin:]
    if h.size <= window:
        return out
    tr = _true_range(h, lo, c)
    if window == 1:
        out[begin + 1 :] = tr
        return out
    seed = float(np.add.accumulate(tr[:window])[-1]) / window
    values = np.concatenate([[seed], _first_order(tr[window:], seed, (window - 1) / window, 1.0 / window)])
    out[begin + window :] = values
    return out


def natr(high: Array, low: Array, close: Array, window: int = 14) -> Array:
    """TA_NATR: ATR as a percentage of the close (0 where the close is 0)."""
    values = atr(high, low, close, window)
    c = np.asarray(close, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(np.abs(c) < _EPS, 0.0, (values / c) * 100.0)
    out[np.isnan(values)] = np.nan
    return out


def cci(high: Array, low: Array, close: Array, window: int = 14) -> Array:
    """TA_CCI: ``(tp - mean) / (0.015 * mean deviation)`` of the typical price over the window.

    TA-Lib sums each window in the order of its circular buffer (slot ``(t - start) % window``),
    not in time order; the deviation ``tp - mean`` cancels, so we replay that order exactly.
    """
    _check(window, 2)
    (high, low, close), begin = _begin_many(high, low, close)
    out = np.full(high.size, np.nan)
    tp = (high[begin:] + low[begin:] + close[begin:]) / 3.0
    count = tp.size - window + 1
    if count <= 0:
        return out
    starts = np.arange(count)
    gathered = []
    for slot in range(window):
        gathered.append(tp[starts + (slot - starts) % window])
    average = np.zeros(count)
    for values in gathered:
        average += values
    average /= window
    deviation = np.zeros(count)
    for values in gathered:
        deviation += np.abs(values - average)
    last = tp[window - 1 :]
    diff = last - average
    ok = (diff != 0.0) & (deviation != 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        values = np.where(ok, diff / (0.015 * (deviation / window)), 0.0)
    out[begin + window - 1 :] = values
    return out


def mfi(high: Array, low: Array, close: Array, volume: Array, window: int = 14) -> Array:
    """TA_MFI: positive share of money flow (typical price x volume) over the window, in percent.

    TA-Lib keeps running sums (subtract the oldest flow, add the newest) and outputs 0 when the
    total flow is below 1.0; both are replayed exactly.
    """
    _check(window, 2)
    (high, low, close, volume), begin = _begin_many(high, low, close, volume)
    out = np.full(high.size, np.nan)
    tp = (high[begin:] + low[begin:] + close[begin:]) / 3.0
    if tp.size <= window:
        return out
    diff = tp[1:] - tp[:-1]
    flow = tp[1:] * volume[begin + 1 :]
    positive = _running_window_sums(np.where(diff > 0, flow, 0.0), window)
    negative = _running_window_sums(np.where(diff < 0, flow, 0.0), window)
    flows = positive + negative
    with np.errstate(divide="ignore", invalid="ignore"):
        values = np.where(flows < 1.0, 0.0, 100.0 * (positive / flows))
    out[begin + window :] = values
    return out


def obv(close: Array, volume: Array) -> Array:
    """TA_OBV: running total of volume, added on up closes and subtracted on down closes."""
    (close, volume), begin = _begin_many(close, volume)
    out = np.full(close.size, np.nan)
    c, v = close[begin:], volume[begin:]
    if c.size == 0:
        return out
    steps = np.empty(c.size)
    steps[0] = v[0]
    change = c[1:] - c[:-1]
    steps[1:] = np.where(change > 0, v[1:], np.where(change < 0, -v[1:], 0.0))
    out[begin:] = np.cumsum(steps)
    return out


def _wilder_sums(raw: Array, window: int) -> Array:
    """ADX's smoothing: the plain sum of raw[0 : window - 1], then ``s = s - s / window + raw``."""
    seed = float(np.add.accumulate(raw[: window - 1])[-1]) if window > 1 else 0.0
    return _first_order(raw[window - 1 :], seed, 1.0 - 1.0 / window, 1.0)


def adx(high: Array, low: Array, close: Array, window: int = 14) -> Array:
    """TA_ADX (Wilder): smoothed directional movement and true range -> DX; the first ADX is the
    mean of ``window`` DX values, then Wilder smoothing. Lookback ``2 * window - 1``.

    Where TA-Lib skips a DX (true range or DI sum ~ 0) the ADX holds its value; the recursion is
    restarted after each such row (rare: flat stretches), so it stays in compiled code.
    """
    _check(window, 2)
    (high, low, close), begin = _begin_many(high, low, close)
    out = np.full(high.size, np.nan)
    h, lo, c = high[begin:], low[begin:], close[begin:]
    if h.size < 2 * window:
        return out
    diff_p = h[1:] - h[:-1]
    diff_m = lo[:-1] - lo[1:]
    minus_raw = np.where((diff_m > 0) & (diff_p < diff_m), diff_m, 0.0)
    plus_raw = np.where(~((diff_m > 0) & (diff_p < diff_m)) & (diff_p > 0) & (diff_p > diff_m), diff_p, 0.0)
    tr_raw = _true_range(h, lo, c)
    # Smoothed values for rows window .. n-1 (raw index window-1 ..).
    minus_dm = _wilder_sums(minus_raw, window)
    plus_dm = _wilder_sums(plus_raw, window)
    tr = _wilder_sums(tr_raw, window)
    tr_ok = ~(np.abs(tr) < _EPS)
    with np.errstate(divide="ignore", invalid="ignore"):
        minus_di = 100.0 * (minus_dm / tr)
        plus_di = 100.0 * (plus_dm / tr)
        di_sum = minus_di + plus_di
        ok = tr_ok & ~(np.abs(di_sum) < _EPS)
        dx = np.where(ok, 100.0 * (np.abs(minus_di - plus_di) / di_sum), 0.0)
    first = dx[:window]
    acc = np.add.accumulate(np.where(ok[:window], first, 0.0))
    adx0 = float(acc[-1]) / window
    rest_dx, rest_ok = dx[window:], ok[window:]
    values = np.empty(rest_dx.size + 1)
    values[0] = adx0
    a, b = (window - 1) / window, 1.0 / window
    state, pos = adx0, 0
    skips = np.flatnonzero(~rest_ok)
    for skip in [*skips.tolist(), rest_dx.size]:  # segments between skipped rows (usually one)
        segment = _first_order(rest_dx[pos:skip], state, a, b)
        values[1 + pos : 1 + skip] = segment
        if segment.size:
            state = float(segment[-1])
        if skip < rest_dx.size:
            values[1 + skip] = state
        pos = skip + 1
    out[begin + 2 * window - 1 :] = values
    return out


# --------------------------------------------------------------------------------------------------
# Linear regression family, correlation, beta.


def _linreg_sums(x: Array, window: int) -> tuple[Array, int, Array, Array]:
    x, begin = _prepare(x, window, 2)
    tail = x[begin:]
    count = tail.size - window + 1
    sum_y = np.zeros(max(count, 0))
    sum_xy = np.zeros(max(count, 0))
    for i in range(window - 1, -1, -1):
        if count <= 0:
            break
        values = tail[window - 1 - i : window - 1 - i + count]
        sum_y += values
        sum_xy += float(i) * values
    return x, begin, sum_y, sum_xy


def _linreg(x: Array, window: int) -> tuple[Array, int, Array, Array]:
    """(input, begin, slope m, intercept b) as TA-Lib computes them (x = 0 at the oldest value)."""
    x, begin, sum_y, sum_xy = _linreg_sums(x, window)
    sum_x = window * (window - 1) * 0.5
    sum_x_sqr = float(window * (window - 1) * (2 * window - 1) // 6)
    divisor = sum_x * sum_x - window * sum_x_sqr
    m = (window * sum_xy - sum_x * sum_y) / divisor
    b = (sum_y - m * sum_x) / window
    return x, begin, m, b


def linearreg(x: Array, window: int = 14) -> Array:
    """TA_LINEARREG: the regression line's value at the newest row, ``b + m * (window - 1)``."""
    x, begin, m, b = _linreg(x, window)
    return _place(x, begin, window - 1, b + m * (window - 1))


def linearreg_intercept(x: Array, window: int = 14) -> Array:
    """TA_LINEARREG_INTERCEPT."""
    x, begin, _m, b = _linreg(x, window)
    return _place(x, begin, window - 1, b)


def linearreg_angle(x: Array, window: int = 14) -> Array:
    """TA_LINEARREG_ANGLE: ``atan(slope)`` in degrees."""
    x, begin, m, _ = _linreg(x, window)
    return _place(x, begin, window - 1, np.arctan(m) * (180.0 / 3.14159265358979323846))


def tsf(x: Array, window: int = 14) -> Array:
    """TA_TSF: the regression line one step ahead, ``b + m * window``."""
    x, begin, m, b = _linreg(x, window)
    return _place(x, begin, window - 1, b + m * window)


def correl(x: Array, y: Array, window: int = 30) -> Array:
    """TA_CORREL: Pearson correlation from running sums (replayed in TA-Lib's order); 0 where the
    variance product is ~0."""
    _check(window, 1)
    (x, y), begin = _begin_many(x, y)
    out = np.full(x.size, np.nan)
    a, b = x[begin:], y[begin:]
    if a.size < window:
        return out
    sx = _running_window_sums(a, window)
    sy = _running_window_sums(b, window)
    sxx = _running_window_sums(a * a, window)
    syy = _running_window_sums(b * b, window)
    sxy = _running_window_sums(a * b, window)
    denominator = (sxx - ((sx * sx) / window)) * (syy - ((sy * sy) / window))
    ok = ~(denominator < _EPS)
    with np.errstate(divide="ignore", invalid="ignore"):
        values = np.where(ok, (sxy - ((sx * sy) / window)) / np.sqrt(np.where(ok, denominator, 1.0)), 0.0)
    out[begin + window - 1 :] = values
    return out


def beta(x: Array, y: Array, window: int = 5) -> Array:
    """TA_BETA: least-squares beta of the returns of ``y`` on the returns of ``x`` (running sums,
    TA-Lib's order; 0 where the denominator is ~0)."""
    _check(window, 1)
    (x, y), begin = _begin_many(x, y)
    out = np.full(x.size, np.nan)
    a, b = x[begin:], y[begin:]
    if a.size <= window:
        return out

    def returns(v: Array) -> Array:
        prev = v[:-1]
        zero = np.abs(prev) < _EPS
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(zero, 0.0, (v[1:] - prev) / np.where(zero, 1.0, prev))

    rx, ry = returns(a), returns(b)
    s_x = _running_window_sums(rx, window)
    s_y = _running_window_sums(ry, window)
    s_xx = _running_window_sums(rx * rx, window)
    s_xy = _running_window_sums(rx * ry, window)
    n = float(window)
    denominator = n * s_xx - s_x * s_x
    ok = ~(np.abs(denominator) < _EPS)
    with np.errstate(divide="ignore", invalid="ignore"):
        values = np.where(ok, (n * s_xy - s_x * s_y) / np.where(ok, denominator, 1.0), 0.0)
    out[begin + window :] = values
    return out


# --------------------------------------------------------------------------------------------------
# Multi-output indicators.


def macd(x: Array, fastperiod: int = 12, slowperiod: int = 26, signalperiod: int = 9) -> tuple[Array, ...]:
    """TA_MACD -> (macd, signal, hist). As in TA-Lib, the fast EMA is seeded with the SMA of the
    ``fastperiod`` values ending where the slow EMA's first value is (not at the data start)."""
    _check(fastperiod, 2, "fastperiod")
    _check(slowperiod, 2, "slowperiod")
    _check(signalperiod, 1, "signalperiod")
    if slowperiod < fastperiod:
        fastperiod, slowperiod = slowperiod, fastperiod
    x, begin = _prepare(x, slowperiod, 2)
    nan = np.full(x.size, np.nan)
    if x.size - begin < slowperiod + signalperiod - 1:
        return nan, nan.copy(), nan.copy()
    slow = _ema_from(x, slowperiod, begin)
    fast = _ema_from(x, fastperiod, begin + slowperiod - fastperiod)
    line = fast - slow
    signal = _ema_from(line, signalperiod, begin + slowperiod - 1) if signalperiod > 1 else line.copy()
    start = begin + slowperiod - 1 + signalperiod - 1
    line[:start] = np.nan
    signal[:start] = np.nan
    return line, signal, line - signal


def bbands(
    x: Array, timeperiod: int = 5, nbdevup: float = 2.0, nbdevdn: float = 2.0, matype: int = 0
) -> tuple[Array, ...]:
    """TA_BBANDS with a simple moving average (``matype`` 0) -> (upper, middle, lower)."""
    if matype != 0:
        raise ValueError("BBANDS: only matype 0 (SMA) is implemented natively")
    _check(timeperiod, 2)
    middle = sma(x, timeperiod)
    variance = var(x, timeperiod)
    dev = np.where(variance < 1e-8, 0.0, np.sqrt(np.maximum(variance, 0.0)))
    dev[np.isnan(variance)] = np.nan
    up = dev if nbdevup == 1.0 else dev * nbdevup
    dn = dev if nbdevdn == 1.0 else dev * nbdevdn
    return middle + up, middle, middle - dn


def stoch(
    high: Array,
    low: Array,
    close: Array,
    fastk_period: int = 5,
    slowk_period: int = 3,
    slowk_matype: int = 0,
    slowd_period: int = 3,
    slowd_matype: int = 0,
) -> tuple[Array, ...]:
    """TA_STOCH with simple moving averages -> (slowk, slowd); both start at the full lookback."""
    if slowk_matype != 0 or slowd_matype != 0:
        raise ValueError("STOCH: only matype 0 (SMA) is implemented natively")
    _check(fastk_period, 1, "fastk_period")
    _check(slowk_period, 1, "slowk_period")
    _check(slowd_period, 1, "slowd_period")
    (high, low, close), begin = _begin_many(high, low, close)
    n = high.size
    nan = np.full(n, np.nan)
    lookback = fastk_period - 1 + slowk_period - 1 + slowd_period - 1
    if n - begin <= lookback:
        return nan, nan.copy()
    h, lo, c = high[begin:], low[begin:], close[begin:]
    highest = np.lib.stride_tricks.sliding_window_view(h, fastk_period).max(axis=1)
    lowest = np.lib.stride_tricks.sliding_window_view(lo, fastk_period).min(axis=1)
    diff = (highest - lowest) / 100.0
    with np.errstate(divide="ignore", invalid="ignore"):
        fastk = np.where(diff != 0.0, (c[fastk_period - 1 :] - lowest) / np.where(diff != 0, diff, 1.0), 0.0)
    slowk = sma(fastk, slowk_period)
    slowd = sma(slowk, slowd_period)
    outk, outd = nan.copy(), nan.copy()
    offset = begin + fastk_period - 1
    outk[offset:] = slowk
    outd[offset:] = slowd
    outk[: begin + lookback] = np.nan
    outd[: begin + lookback] = np.nan
    return outk, outd


#: Single-input, single-window functions: name -> (function, minimum window). Names follow TA-Lib's.
FUNCTIONS = {
    "SMA": (sma, 1),
    "SUM": (total, 1),
    "VAR": (var, 1),
    "STDDEV": (stddev, 2),
    "LINEARREG_SLOPE": (linearreg_slope, 2),
    "EMA": (ema, 1),
    "WMA": (wma, 1),
    "DEMA": (dema, 1),
    "TEMA": (tema, 1),
    "MIN": (rolling_min, 1),
    "MAX": (rolling_max, 1),
    "MOM": (mom, 1),
    "ROC": (roc, 1),
    "RSI": (rsi, 2),
    "LINEARREG": (linearreg, 2),
    "LINEARREG_INTERCEPT": (linearreg_intercept, 2),
    "LINEARREG_ANGLE": (linearreg_angle, 2),
    "TSF": (tsf, 2),
}
