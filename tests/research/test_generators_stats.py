"""``itbstats`` and ``itblib`` against scipy / brute force on sampled windows; batch equals online."""

from __future__ import annotations

import itertools
from importlib import resources

import numpy as np
import polars as pl
import pytest
from itb.generators import generate

stats = pytest.importorskip("scipy.stats")

FUNCTIONS = ["skew", "kurtosis", "lsbm", "fmax", "fmin", "mean", "std", "area", "slope"]


@pytest.fixture(scope="module")
def candles() -> pl.DataFrame:
    path = resources.files("itb") / "sample" / "BTCUSDT-1m-2024Q1.parquet"
    return pl.read_parquet(str(path)).slice(10_000, 40_000)


def lsbm(x: np.ndarray) -> float:
    below = x < np.mean(x)
    return float(max((len(list(g)) for v, g in itertools.groupby(below) if v), default=0))


def area(x: np.ndarray) -> float:
    d = x - x[-1]
    return float(np.sum(d) / np.sum(np.abs(d)))


def reference(function: str, x: np.ndarray, bias: bool) -> float:
    return {
        "skew": lambda: stats.skew(x, bias=bias),
        "kurtosis": lambda: stats.kurtosis(x, bias=bias),
        "lsbm": lambda: lsbm(x),
        "fmax": lambda: np.argmax(x) / len(x),
        "fmin": lambda: np.argmin(x) / len(x),
        "mean": lambda: np.mean(x),
        "std": lambda: np.std(x),
        "area": lambda: area(x),
        "slope": lambda: stats.linregress(np.arange(len(x)), x).slope if len(x) > 1 else 0.0,
    }[function]()


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("window", [5, 15, 60])
def test_itbstats_equals_scipy_on_sampled_windows(candles: pl.DataFrame, window: int, bias: bool) -> None:
    out = generate(
        "feature", "itbstats", candles,
        {"columns": ["close"], "functions": FUNCTIONS, "windows": [window], "parameters": {"bias": bias}},
    )  # fmt: skip
    close = candles["close"].to_numpy()
    rows = [*np.random.default_rng(window).integers(0, close.size, 150).tolist(), 0, 1, window // 2, window]
    for t in rows:
        x = close[max(0, t - window + 1) : t + 1]
        for function in FUNCTIONS:
            got = out[f"close_{function}_{window}"][t]
            if len(x) < max(1, window // 2):
                assert got is None
                continue
            expected = reference(function, x, bias)
            too_few = not bias and len(x) < {"skew": 3, "kurtosis": 4}.get(function, 0)
            if too_few or not np.isfinite(expected) or (function in ("skew", "kurtosis") and np.ptp(x) == 0):
                assert got is None, (function, t)
                continue
            assert got == pytest.approx(expected, rel=1e-8, abs=1e-8), (function, window, t)


def test_itbstats_batch_equals_online_tail(candles: pl.DataFrame) -> None:
    """Computed on only the last window + k rows, the last k values are identical bit for bit."""
    config = {"columns": ["close", "volume"], "functions": FUNCTIONS, "windows": [5, 15, 60]}
    batch = generate("feature", "itbstats", candles, config)
    for tail in (60, 61, 77, 20_001):  # different offsets relative to the internal row chunks
        online = generate("feature", "itbstats", candles.tail(tail), config)
        k = tail - 59
        assert online.tail(k).equals(batch.tail(k)), tail


def test_itbstats_min_periods_and_names(candles: pl.DataFrame) -> None:
    df = candles.head(100).select(pl.col("close").alias("eth_close"))
    out = generate(
        "feature", "itbstats", df,
        {"columns": ["close"], "functions": ["mean"], "windows": [10], "parameters": {"min_periods": 10}},
        column_prefix="eth_",
    )  # fmt: skip
    assert out.columns == ["eth_close_mean_10"]
    assert out["eth_close_mean_10"].null_count() == 9


def test_itbstats_nans_are_missing_values() -> None:
    x = np.array([1.0, 2.0, np.nan, 4.0, 8.0, 3.0])
    out = generate("feature", "itbstats", pl.DataFrame({"v": x}), {"columns": ["v"], "functions": ["mean", "slope"],  # noqa: E501
                                                                    "windows": [4]})  # fmt: skip
    assert out["v_mean_4"][4] == pytest.approx(np.mean([2.0, 4.0, 8.0]))
    assert out["v_slope_4"][4] == pytest.approx(stats.linregress([1, 3, 4], [2.0, 4.0, 8.0]).slope)


def test_itblib_relative_aggregates(candles: pl.DataFrame) -> None:
    df = candles.head(3000)
    out = generate("feature", "itblib", df, {"base_window": 30, "windows": [5], "use_differences": False})
    assert out.columns == ["close_5", "close_std_5", "volume_5", "span_5", "trades_5", "tb_base_5",
                           "close_area_5", "close_trend_5", "volume_trend_5"]  # fmt: skip
    c, v = df["close"].to_numpy(), df["volume"].to_numpy()
    span = (df["high"] - df["low"]).to_numpy()
    tb = (df["tb_base_av"] / df["volume"]).to_numpy()
    for t in np.random.default_rng(1).integers(30, 3000, 40).tolist():

        def rel(f, series, weights=None, t=t):  # type: ignore[no-untyped-def]
            w5, w30 = slice(t - 4, t + 1), slice(t - 29, t + 1)
            a = f(series[w5]) if weights is None else np.sum(series[w5] * weights[w5]) / np.sum(weights[w5])
            b = (
                f(series[w30])
                if weights is None
                else np.sum(series[w30] * weights[w30]) / np.sum(weights[w30])
            )
            return 100 * (a - b) / b

        assert out["close_5"][t] == pytest.approx(rel(None, c, v), rel=1e-7, abs=1e-9)
        assert out["close_std_5"][t] == pytest.approx(rel(np.std, c), rel=1e-7, abs=1e-9)
        assert out["volume_5"][t] == pytest.approx(rel(np.mean, v), rel=1e-7, abs=1e-9)
        assert out["span_5"][t] == pytest.approx(rel(np.mean, span), rel=1e-7, abs=1e-9)
        assert out["tb_base_5"][t] == pytest.approx(rel(np.mean, tb), rel=1e-7, abs=1e-9)
        assert out["close_area_5"][t] == pytest.approx(area(c[t - 4 : t + 1]), rel=1e-9, abs=1e-12)
        assert out["close_trend_5"][t] == pytest.approx(
            stats.linregress(np.arange(5), c[t - 4 : t + 1]).slope
        )


def test_itblib_batch_equals_online_tail(candles: pl.DataFrame) -> None:
    config = {"base_window": 60, "windows": [5, 15]}
    batch = generate("feature", "itblib", candles, config)
    online = generate("feature", "itblib", candles.tail(200), config)
    assert online.tail(139).equals(batch.tail(139))
