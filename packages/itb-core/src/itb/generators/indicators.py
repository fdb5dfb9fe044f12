"""Technical indicators in numpy with TA-Lib's definitions, computed per window (not by running sums).

Three properties every function here keeps (tests prove them on real candles):

* **Exact windows.** A windowed indicator's value at row t is computed from its window's rows alone,
  with a numerically stable method: means and centred second moments by pairwise combination of
  power-of-two blocks (``windowed.moments``), CCI's mean deviation by loops over window offsets.
  No running sums over the history, so the value does not depend on where the data starts, and a
  flat window gives exactly 0 for VAR/STDDEV. TA-Lib's own rule "variance < 1e-8 -> 0" is an
  artefact of its ``E[x^2] - E[x]^2`` running sums (which lose all precision at price levels); it
  is *not* applied: a tiny variance is reported as it is, a flat window's is exactly 0.
* **Recursive indicators restart after gaps.** EMA, DEMA, TEMA, RSI, ATR, NATR, ADX, MACD and OBV
  run on each stretch of consecutive valid rows separately, exactly as at the data start (seeded on
  the stretch's first complete window, as TA-Lib seeds). So their value at row t depends on the
  rows since the last gap only; after a warm-up (``talib_features.lookback``) it is within 1e-12
  relative of the value computed from any earlier start. Why restart rather than carry the state
  over the gap: a carried state mixes prices from both sides of an outage as if adjacent, and a
  system that (re)starts after the outage could not reproduce it; a restart is what both see.
* **Missing is local.** NaN and +/-inf inputs are missing values; an output is NaN exactly where its
  window (or, for recursive indicators, the seed window of its stretch) is incomplete or holds a
  missing value. The generator turns NaN into null.

Other conventions follow TA-Lib: population variance, the lookbacks (the first output row of each
function), ``0`` where TA-Lib divides by a (near) zero: ROC of a zero price, RSI with no moves, CCI
with zero mean deviation, CORREL/BETA with no variance, MFI with total money flow below 1.0,
NATR of a zero close. Decimal prices stored in binary make mathematically equal typical prices
differ by an ulp; MFI counts a move below 1e-12 of the price as no move, and CCI a mean deviation
below 1e-12 of the price as a flat window (TA-Lib's own rounding lands on either side there).
TA-Lib parity means: equal to the current ``ta-lib`` wheel within 1e-9
relative (relative to the price level for price-level outputs, where TA-Lib's running sums carry
rounding noise of that size), and to exact rational arithmetic on random real windows.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from itb.generators.windowed import centred_deviation, finite, moments

Array = NDArray[np.float64]

#: TA-Lib's ``TA_IS_ZERO`` epsilon: denominators below it give 0, as in TA-Lib.
_EPS = 1e-14


def _check(window: int, minimum: int, name: str = "timeperiod") -> None:
    if window < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {window}")


# --------------------------------------------------------------------------------------------------
# Stretches of valid rows: recursive indicators run on each one as if it were the whole history.


def _stretches(valid: NDArray[np.bool_]) -> list[tuple[int, int]]:
    """Row ranges [a, b) of consecutive valid rows."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], valid.astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def _by_stretch(kernel: Callable[..., tuple[Array, ...]], *inputs: Array) -> tuple[Array, ...]:
    """Apply ``kernel`` (inputs without missing values -> outputs of the same length, NaN before
    its lookback) to every stretch of rows where all inputs are finite; NaN elsewhere.

    The loop is over gaps (a handful in real data), each step a whole-stretch computation."""
    xs = [finite(a) for a in inputs]
    valid = np.ones(xs[0].size, dtype=bool)
    for x in xs:
        valid &= ~np.isnan(x)
    outs: list[Array] | None = None
    for a, b in _stretches(valid):
        parts = kernel(*[x[a:b] for x in xs])
        if outs is None:
            outs = [np.full(xs[0].size, np.nan) for _ in parts]
        for out, part in zip(outs, parts, strict=True):
            out[a:b] = part
    if outs is None:  # no valid row at all: as many NaN outputs as the kernel gives on empty input
        outs = [np.full(xs[0].size, np.nan) for _ in kernel(*[x[:0] for x in xs])]
    return tuple(outs)


def _first_order(inputs: Array, state: float, a: float, b: float) -> Array:
    """``y[i] = a * y[i-1] + b * inputs[i]`` with ``y[-1] = state``, in compiled code (lfilter).

    EMA and Wilder smoothing are such recursions; a Python loop per row is what this module avoids.
    The rounding differs from TA-Lib's ``(x - prev) * k + prev`` by a few ulps."""
    if inputs.size == 0:
        return np.empty(0)
    from scipy.signal import lfilter

    out, _ = lfilter([b], [1.0, -a], inputs, zi=[a * state])
    return np.asarray(out, dtype=np.float64)


def _ema_run(x: Array, period: int, seed_start: int = 0) -> Array:
    """EMA of a stretch without missing values, seeded with the SMA of ``x[seed_start : +period]``."""
    out = np.full(x.size, np.nan)
    first = seed_start + period - 1
    if first >= x.size:
        return out
    k = 2.0 / (period + 1)
    seed = float(np.mean(x[seed_start : first + 1]))
    out[first] = seed
    out[first + 1 :] = _first_order(x[first + 1 :], seed, 1.0 - k, k)
    return out


# --------------------------------------------------------------------------------------------------
# Windowed statistics.


def sma(x: Array, window: int) -> Array:
    """TA_SMA. A window of 1 returns the input (TA-Lib itself requires >= 2)."""
    _check(window, 1)
    return moments(x, window).mean


def total(x: Array, window: int) -> Array:
    """TA_SUM: the window's mean times its length."""
    _check(window, 1)
    return moments(x, window).mean * float(window)


def var(x: Array, window: int, nbdev: float = 1.0) -> Array:
    """TA_VAR: population variance (TA-Lib ignores ``nbdev`` here)."""
    _check(window, 1)
    xx = moments(x, window, second=True).xx
    assert xx is not None
    return xx / float(window)


def stddev(x: Array, window: int, nbdev: float = 1.0) -> Array:
    """TA_STDDEV: ``sqrt(VAR) * nbdev``; exactly 0 for a flat window."""
    _check(window, 2)
    out = np.sqrt(var(x, window))
    return out if nbdev == 1.0 else out * nbdev


def wma(x: Array, window: int) -> Array:
    """TA_WMA: linear weights 1..window, the newest value weighted most.

    ``sum((k + 1) x_k) / (w (w + 1) / 2) = mean + 2 kx / (w (w + 1))`` with ``kx`` the centred
    position-value co-moment, so there is no cancellation at price levels."""
    _check(window, 1)
    m = moments(x, window, position=True)
    assert m.kx is not None
    return m.mean + m.kx * (2.0 / (window * (window + 1)))


def _linreg(x: Array, window: int) -> tuple[Array, Array]:
    """(mean, slope) of each window's least-squares line against the position (0 = oldest)."""
    _check(window, 2)
    m = moments(x, window, position=True)
    assert m.kx is not None
    return m.mean, m.kx / (window * (window * window - 1) / 12.0)


def linearreg_slope(x: Array, window: int = 14) -> Array:
    """TA_LINEARREG_SLOPE: least-squares slope per row (exact for any window; TA-Lib's 32-bit
    ``sum(x^2)`` overflows above ~1024)."""
    return _linreg(x, window)[1]


def linearreg(x: Array, window: int = 14) -> Array:
    """TA_LINEARREG: the regression line's value at the newest row."""
    mean, slope = _linreg(x, window)
    return mean + slope * ((window - 1) / 2.0)


def linearreg_intercept(x: Array, window: int = 14) -> Array:
    """TA_LINEARREG_INTERCEPT: the line's value at the oldest row of the window."""
    mean, slope = _linreg(x, window)
    return mean - slope * ((window - 1) / 2.0)


def linearreg_angle(x: Array, window: int = 14) -> Array:
    """TA_LINEARREG_ANGLE: ``atan(slope)`` in degrees."""
    return np.arctan(_linreg(x, window)[1]) * (180.0 / np.pi)


def tsf(x: Array, window: int = 14) -> Array:
    """TA_TSF: the regression line one step ahead."""
    mean, slope = _linreg(x, window)
    return mean + slope * ((window + 1) / 2.0)


def _extreme(x: Array, window: int, use_max: bool) -> Array:
    _check(window, 1)
    x = finite(x)
    out = np.full(x.size, np.nan)
    if x.size < window:
        return out
    view = np.lib.stride_tricks.sliding_window_view(x, window)
    out[window - 1 :] = view.max(axis=1) if use_max else view.min(axis=1)  # NaN propagates
    return out


def rolling_max(x: Array, window: int) -> Array:
    """TA_MAX: highest value over the window."""
    return _extreme(x, window, True)


def rolling_min(x: Array, window: int) -> Array:
    """TA_MIN: lowest value over the window."""
    return _extreme(x, window, False)


def mom(x: Array, window: int) -> Array:
    """TA_MOM: ``x[t] - x[t - window]``."""
    _check(window, 1)
    x = finite(x)
    out = np.full(x.size, np.nan)
    out[window:] = x[window:] - x[:-window]
    return out


def roc(x: Array, window: int) -> Array:
    """TA_ROC: ``(x[t] / x[t - window] - 1) * 100``; 0 where the old value is 0, as in TA-Lib."""
    _check(window, 1)
    x = finite(x)
    out = np.full(x.size, np.nan)
    old, new = x[:-window], x[window:]
    with np.errstate(divide="ignore", invalid="ignore"):
        out[window:] = np.where(old == 0.0, 0.0, (new / old - 1.0) * 100.0)
    return out


def _typical(high: Array, low: Array, close: Array) -> Array:
    return (finite(high) + finite(low) + finite(close)) / 3.0


def cci(high: Array, low: Array, close: Array, window: int = 14) -> Array:
    """TA_CCI: ``(tp - mean) / (0.015 * mean deviation)`` of the typical price over the window;
    0 for a flat window (mean deviation below 1e-12 of the price: equal decimal prices whose
    binary typical prices differ by an ulp are flat), as TA-Lib gives 0 for zero deviation."""
    _check(window, 2)
    tp = _typical(high, low, close)
    offset, deviation = centred_deviation(tp, window)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(deviation <= 1e-12 * np.abs(tp), 0.0, offset / (0.015 * deviation))
    out[np.isnan(deviation)] = np.nan
    return out


def mfi(high: Array, low: Array, close: Array, volume: Array, window: int = 14) -> Array:
    """TA_MFI: positive share of money flow (typical price x volume) over the window, in percent;
    0 where the total flow is below 1.0 (TA-Lib's rule). Needs ``window + 1`` rows."""
    _check(window, 2)
    tp = _typical(high, low, close)
    vol = finite(volume)
    diff = np.full(tp.size, np.nan)
    diff[1:] = tp[1:] - tp[:-1]
    # Prices are decimals stored in binary: equal typical prices can differ by an ulp of their
    # sum. Moves below 1e-12 relative are that noise and count as no move (neither flow).
    diff[np.abs(diff) <= 1e-12 * np.abs(tp)] = 0.0
    flow = tp * vol
    missing = np.isnan(diff) | np.isnan(flow)
    positive = np.where(missing, np.nan, np.where(diff > 0, flow, 0.0))
    negative = np.where(missing, np.nan, np.where(diff < 0, flow, 0.0))
    pos = moments(positive, window).mean * float(window)
    neg = moments(negative, window).mean * float(window)
    flows = pos + neg
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(flows < 1.0, 0.0, 100.0 * (pos / flows))
    out[np.isnan(flows)] = np.nan
    return out


def correl(x: Array, y: Array, window: int = 30) -> Array:
    """TA_CORREL: Pearson correlation from centred co-moments; 0 where the product of the two
    centred sums of squares is below 1e-14 (TA-Lib's rule)."""
    _check(window, 1)
    m = moments(x, window, y=y, second=True)
    assert m.xx is not None and m.yy is not None and m.xy is not None
    product = m.xx * m.yy
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(product < _EPS, 0.0, m.xy / np.sqrt(product))
    out[np.isnan(product)] = np.nan
    return out


def _returns(v: Array) -> Array:
    """Simple returns ``v[t] / v[t-1] - 1`` (0 after a zero price, as in TA-Lib); NaN at row 0."""
    out = np.full(v.size, np.nan)
    prev = v[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        out[1:] = np.where(np.abs(prev) < _EPS, 0.0, (v[1:] - prev) / prev)
    out[1:][np.isnan(prev) | np.isnan(v[1:])] = np.nan
    return out


def beta(x: Array, y: Array, window: int = 5) -> Array:
    """TA_BETA: least-squares beta of the returns of ``y`` on the returns of ``x`` over ``window``
    returns (``window + 1`` rows); 0 where ``window * centred sum of squares of x`` is below 1e-14."""
    _check(window, 1)
    m = moments(_returns(finite(x)), window, y=_returns(finite(y)), second=True)
    assert m.xx is not None and m.xy is not None
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(np.abs(window * m.xx) < _EPS, 0.0, m.xy / m.xx)
    out[np.isnan(m.xx) | np.isnan(m.xy)] = np.nan
    return out


def bbands(
    x: Array, timeperiod: int = 5, nbdevup: float = 2.0, nbdevdn: float = 2.0, matype: int = 0
) -> tuple[Array, ...]:
    """TA_BBANDS with a simple moving average (``matype`` 0) -> (upper, middle, lower)."""
    if matype != 0:
        raise ValueError("BBANDS: only matype 0 (SMA) is implemented natively")
    _check(timeperiod, 2)
    m = moments(x, timeperiod, second=True)
    assert m.xx is not None
    dev = np.sqrt(m.xx / float(timeperiod))
    up = dev if nbdevup == 1.0 else dev * nbdevup
    dn = dev if nbdevdn == 1.0 else dev * nbdevdn
    return m.mean + up, m.mean, m.mean - dn


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
    highest = rolling_max(high, fastk_period)
    lowest = rolling_min(low, fastk_period)
    diff = (highest - lowest) / 100.0
    with np.errstate(divide="ignore", invalid="ignore"):
        fastk = np.where(diff == 0.0, 0.0, (finite(close) - lowest) / diff)
    fastk[np.isnan(diff)] = np.nan
    slowk = sma(fastk, slowk_period)
    slowd = sma(slowk, slowd_period)
    slowk[np.isnan(slowd)] = np.nan  # TA-Lib starts both outputs at the full lookback
    return slowk, slowd


# --------------------------------------------------------------------------------------------------
# Recursive indicators: kernels on one stretch without missing values, applied by ``_by_stretch``.


def ema(x: Array, window: int) -> Array:
    """TA_EMA: seeded with the SMA of the first ``window`` values, then ``k = 2 / (window + 1)``."""
    _check(window, 1)
    if window == 1:
        return finite(x)
    return _by_stretch(lambda v: (_ema_run(v, window),), x)[0]


def dema(x: Array, window: int) -> Array:
    """TA_DEMA = 2 * EMA - EMA(EMA); both EMAs seeded like TA_EMA."""
    e1 = ema(x, window)
    return 2.0 * e1 - ema(e1, window)


def tema(x: Array, window: int) -> Array:
    """TA_TEMA = 3 * EMA - 3 * EMA(EMA) + EMA(EMA(EMA))."""
    e1 = ema(x, window)
    e2 = ema(e1, window)
    return 3.0 * e1 - 3.0 * e2 + ema(e2, window)


def _rsi_run(x: Array, window: int) -> Array:
    out = np.full(x.size, np.nan)
    if x.size <= window:
        return out
    diff = x[1:] - x[:-1]
    gains = np.where(diff > 0, diff, 0.0)
    losses = np.where(diff < 0, -diff, 0.0)
    a, b = (window - 1) / window, 1.0 / window
    g0 = float(np.mean(gains[:window]))
    l0 = float(np.mean(losses[:window]))
    gain = np.concatenate([[g0], _first_order(gains[window:], g0, a, b)])
    loss = np.concatenate([[l0], _first_order(losses[window:], l0, a, b)])
    both = gain + loss
    with np.errstate(divide="ignore", invalid="ignore"):
        out[window:] = np.where(np.abs(both) < _EPS, 0.0, 100.0 * (gain / both))
    return out


def rsi(x: Array, window: int = 14) -> Array:
    """TA_RSI (Wilder): average gain and loss over the first ``window`` changes, then Wilder
    smoothing ``avg = (avg * (window - 1) + value) / window``; 0 with no moves at all."""
    _check(window, 2)
    return _by_stretch(lambda v: (_rsi_run(v, window),), x)[0]


def _true_range(high: Array, low: Array, close: Array) -> Array:
    """TA_TRANGE for rows 1.. (the first row has no previous close)."""
    prev = close[:-1]
    h, lo = high[1:], low[1:]
    return np.maximum(np.maximum(h - lo, np.abs(h - prev)), np.abs(lo - prev))


def _atr_run(high: Array, low: Array, close: Array, window: int) -> Array:
    out = np.full(high.size, np.nan)
    if high.size <= window:
        return out
    tr = _true_range(high, low, close)
    if window == 1:
        out[1:] = tr
        return out
    seed = float(np.mean(tr[:window]))
    out[window] = seed
    out[window + 1 :] = _first_order(tr[window:], seed, (window - 1) / window, 1.0 / window)
    return out


def atr(high: Array, low: Array, close: Array, window: int = 14) -> Array:
    """TA_ATR: the first value is the mean of ``window`` true ranges, then Wilder smoothing."""
    _check(window, 1)
    return _by_stretch(lambda h, lo, c: (_atr_run(h, lo, c, window),), high, low, close)[0]


def natr(high: Array, low: Array, close: Array, window: int = 14) -> Array:
    """TA_NATR: ATR as a percentage of the close (0 where the close is 0)."""
    values = atr(high, low, close, window)
    c = finite(close)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(np.abs(c) < _EPS, 0.0, (values / c) * 100.0)
    out[np.isnan(values)] = np.nan
    return out


def _obv_run(close: Array, volume: Array) -> Array:
    if close.size == 0:
        return np.empty(0)
    steps = np.empty(close.size)
    steps[0] = volume[0]
    change = close[1:] - close[:-1]
    steps[1:] = np.where(change > 0, volume[1:], np.where(change < 0, -volume[1:], 0.0))
    return np.cumsum(steps)


def obv(close: Array, volume: Array) -> Array:
    """TA_OBV: running total of volume, added on up closes and subtracted on down closes. It is
    cumulative by definition (its level depends on the start); after a gap it starts again."""
    return _by_stretch(lambda c, v: (_obv_run(c, v),), close, volume)[0]


def _wilder_sums(raw: Array, window: int) -> Array:
    """ADX's smoothing: the plain sum of raw[0 : window - 1], then ``s = s - s / window + raw``."""
    seed = float(np.add.accumulate(raw[: window - 1])[-1]) if window > 1 else 0.0
    return _first_order(raw[window - 1 :], seed, 1.0 - 1.0 / window, 1.0)


def _adx_run(h: Array, lo: Array, c: Array, window: int) -> Array:
    out = np.full(h.size, np.nan)
    if h.size < 2 * window:
        return out
    diff_p = h[1:] - h[:-1]
    diff_m = lo[:-1] - lo[1:]
    minus = (diff_m > 0) & (diff_p < diff_m)
    minus_raw = np.where(minus, diff_m, 0.0)
    plus_raw = np.where(~minus & (diff_p > 0) & (diff_p > diff_m), diff_p, 0.0)
    minus_dm = _wilder_sums(minus_raw, window)
    plus_dm = _wilder_sums(plus_raw, window)
    tr = _wilder_sums(_true_range(h, lo, c), window)
    with np.errstate(divide="ignore", invalid="ignore"):
        minus_di = 100.0 * (minus_dm / tr)
        plus_di = 100.0 * (plus_dm / tr)
        di_sum = minus_di + plus_di
        ok = ~(np.abs(tr) < _EPS) & ~(np.abs(di_sum) < _EPS)
        dx = np.where(ok, 100.0 * (np.abs(minus_di - plus_di) / di_sum), 0.0)
    adx0 = float(np.add.accumulate(np.where(ok[:window], dx[:window], 0.0))[-1]) / window
    rest_dx, rest_ok = dx[window:], ok[window:]
    values = np.empty(rest_dx.size + 1)
    values[0] = adx0
    a, b = (window - 1) / window, 1.0 / window
    state, pos = adx0, 0
    # Where TA-Lib skips a DX (true range or DI sum ~ 0) the ADX holds its value: the recursion
    # restarts after each such row (rare: flat stretches), so it stays in compiled code.
    for skip in [*np.flatnonzero(~rest_ok).tolist(), rest_dx.size]:
        segment = _first_order(rest_dx[pos:skip], state, a, b)
        values[1 + pos : 1 + skip] = segment
        if segment.size:
            state = float(segment[-1])
        if skip < rest_dx.size:
            values[1 + skip] = state
        pos = skip + 1
    out[2 * window - 1 :] = values
    return out


def adx(high: Array, low: Array, close: Array, window: int = 14) -> Array:
    """TA_ADX (Wilder): smoothed directional movement and true range -> DX; the first ADX is the
    mean of ``window`` DX values, then Wilder smoothing. Lookback ``2 * window - 1``."""
    _check(window, 2)
    return _by_stretch(lambda h, lo, c: (_adx_run(h, lo, c, window),), high, low, close)[0]


def _macd_run(x: Array, fast: int, slow: int, signal: int) -> tuple[Array, Array, Array]:
    nan = np.full(x.size, np.nan)
    if x.size < slow + signal - 1:
        return nan, nan.copy(), nan.copy()
    slow_ema = _ema_run(x, slow)
    fast_ema = _ema_run(x, fast, slow - fast)
    line = fast_ema - slow_ema
    sig = _ema_run(line, signal, slow - 1) if signal > 1 else line.copy()
    start = slow - 1 + signal - 1
    line[:start] = np.nan
    sig[:start] = np.nan
    return line, sig, line - sig


def macd(x: Array, fastperiod: int = 12, slowperiod: int = 26, signalperiod: int = 9) -> tuple[Array, ...]:
    """TA_MACD -> (macd, signal, hist). As in TA-Lib, the fast EMA is seeded with the SMA of the
    ``fastperiod`` values ending where the slow EMA's first value is (not at the data start)."""
    _check(fastperiod, 2, "fastperiod")
    _check(slowperiod, 2, "slowperiod")
    _check(signalperiod, 1, "signalperiod")
    fast, slow = sorted((fastperiod, slowperiod))
    return _by_stretch(lambda v: _macd_run(v, fast, slow, signalperiod), x)


#: Single-input, single-window functions: name -> (function, minimum window). Names follow TA-Lib's.
FUNCTIONS: dict[str, tuple[Callable[[Array, int], Array], int]] = {
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
