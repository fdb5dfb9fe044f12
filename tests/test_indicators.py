"""Features equal TA-Lib (the test-only oracle) on 100k real rows of the bundled sample."""

from __future__ import annotations

from importlib import resources

import numpy as np
import polars as pl
import pytest
from itb.generators import generate, indicators

talib = pytest.importorskip("talib")


@pytest.fixture(scope="module")
def closes() -> np.ndarray:
    path = resources.files("itb") / "sample" / "BTCUSDT-1m-2024Q1.parquet"
    df = pl.read_parquet(str(path))
    assert df.height >= 100_000
    return df["close"].to_numpy()[:100_000]


@pytest.mark.parametrize("function", ["SMA", "SUM", "VAR", "STDDEV", "LINEARREG_SLOPE"])
@pytest.mark.parametrize("window", [2, 5, 10, 15, 60, 1000])
def test_equal_to_talib(closes: np.ndarray, function: str, window: int) -> None:
    """Within 1e-9 relative to the price level (SUM: price x window, VAR: price squared): TA-Lib's
    running sums carry rounding noise of that size, far above 1e-9 of a small variance or slope."""
    ours = indicators.FUNCTIONS[function][0](closes, window)
    reference = getattr(talib, function)(closes, timeperiod=window)
    level = float(closes.max())
    scale = {"SUM": level * window, "VAR": level * level}.get(function, level)
    assert np.isnan(ours[: window - 1]).all()
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(reference))
    np.testing.assert_allclose(ours, reference, rtol=1e-9, atol=1e-9 * scale, equal_nan=True)


def test_missing_values_reach_only_their_windows(closes: np.ndarray) -> None:
    """A NaN and an inf: NaN exactly in the windows that contain them; elsewhere the clean values."""
    x = closes[:5000].copy()
    x[1000] = np.nan
    x[3000] = np.inf
    for function in ("SMA", "STDDEV", "LINEARREG_SLOPE"):
        ours = indicators.FUNCTIONS[function][0](x, 10)
        clean = indicators.FUNCTIONS[function][0](closes[:5000], 10)
        hit = np.zeros(x.size, dtype=bool)
        for bad in (1000, 3000):
            hit[bad : bad + 10] = True
        hit[:9] = True
        np.testing.assert_array_equal(np.isnan(ours), hit)
        np.testing.assert_array_equal(ours[~hit], clean[~hit])  # bit for bit: windows are independent


def test_sma_window_one_is_the_column(closes: np.ndarray) -> None:
    np.testing.assert_array_equal(indicators.sma(closes[:100], 1), closes[:100])


def test_generator_names_columns_like_the_reference(closes: np.ndarray) -> None:
    df = pl.DataFrame({"close": closes[:3000]})
    out = generate(
        "feature",
        "talib",
        df,
        {"columns": ["close"], "functions": ["SMA", "LINEARREG_SLOPE"], "windows": [5, 60]},
    )
    assert out.columns == [
        "close_SMA_5",
        "close_SMA_60",
        "close_LINEARREG_SLOPE_5",
        "close_LINEARREG_SLOPE_60",
    ]
    assert out["close_SMA_60"].null_count() == 59
    np.testing.assert_allclose(out["close_SMA_5"].to_numpy()[4:], talib.SMA(closes[:3000], 5)[4:], rtol=1e-9)


def test_generator_accepts_pandas_and_prefixes(closes: np.ndarray) -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"eth_close": closes[:500]})
    out = generate(
        "feature",
        "talib",
        frame,
        {"columns": ["close"], "functions": ["STDDEV"], "windows": [5]},
        column_prefix="eth_",
        feature_prefix="f_",
    )
    assert out.columns == ["f_eth_close_STDDEV_5"]


def test_long_slope_windows_are_exact_where_talib_overflows(closes: np.ndarray) -> None:
    """TA-Lib computes sum(x^2) of the x axis in 32-bit int: wrong slopes for windows above ~1024.
    We keep the arithmetic in float and agree with a least-squares fit instead."""
    window = 1440
    ours = indicators.linearreg_slope(closes[:3000], window)
    for end in (window - 1, 2000, 2999):
        segment = closes[end - window + 1 : end + 1]
        expected = np.polyfit(np.arange(window), segment, 1)[0]
        assert ours[end] == pytest.approx(expected, rel=1e-7)
