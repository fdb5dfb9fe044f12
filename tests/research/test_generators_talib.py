"""The ``talib`` generator's native indicators equal the current TA-Lib wheel (the oracle) on real
candles; where TA-Lib's own running sums lose precision, exact rational arithmetic decides."""

from __future__ import annotations

from importlib import resources

import numpy as np
import polars as pl
import pytest
from itb.config.loader import parse_config
from itb.errors import ConfigError
from itb.generators import generate, get_generator, indicators

from tests.research.exact_reference import exact

talib = pytest.importorskip("talib")

ROWS = 100_000


@pytest.fixture(scope="module")
def candles() -> pl.DataFrame:
    path = resources.files("itb") / "sample" / "BTCUSDT-1m-2024Q1.parquet"
    return pl.read_parquet(str(path)).head(ROWS)


def arrays(df: pl.DataFrame) -> dict[str, np.ndarray]:
    return {c: df[c].cast(pl.Float64).to_numpy() for c in ("open", "high", "low", "close", "volume")}


#: Outputs on the price scale. TA-Lib's running sums carry rounding noise of order 1e-13 of the
#: price level (and STDDEV/VAR/LINEARREG lose all relative precision in flat windows), so these
#: are compared within 1e-9 relative to the price level (VAR: the squared price level).
PRICE_LEVEL = {"SMA", "EMA", "WMA", "DEMA", "TEMA", "MIN", "MAX", "MOM", "LINEARREG", "LINEARREG_INTERCEPT",
               "TSF", "STDDEV", "LINEARREG_SLOPE", "ATR", "MACD", "BBANDS"}  # fmt: skip
#: Oscillators on a 0..100 scale: within 1e-9 of that scale.
PERCENT = {"RSI", "ROC", "NATR", "ADX", "STOCH", "MFI", "CCI"}
#: Where TA-Lib's sums are ill-conditioned (near-flat windows), exact arithmetic decides.
EXACT = {"CCI", "CORREL", "BETA", "MFI"}


def scale_of(function: str, price: float, window: int) -> float:
    if function == "VAR":
        return price * price
    if function == "SUM":
        return price * window
    if function in PRICE_LEVEL:
        return price
    if function in PERCENT:
        return 100.0
    return 1.0


def assert_talib_equal(
    function: str, ours: np.ndarray, reference: np.ndarray, inputs: dict[str, np.ndarray], window: int = 0
) -> None:
    """Equal lookback; values within 1e-9 of ``max(|reference|, scale)``. Rows outside that (TA-Lib's
    cancellation in near-flat windows) must be rare, and there exact arithmetic must agree with us."""
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(reference))  # same lookback
    if function == "LINEARREG_ANGLE":  # compare the slopes behind the angles, on the price scale
        ours, reference = np.tan(np.radians(ours)), np.tan(np.radians(reference))
        function = "LINEARREG_SLOPE"
    price = float(np.nanmax(inputs["close"]))
    scale = scale_of(function, price, window)
    tolerance = 1e-9 * np.maximum(np.abs(reference), scale)
    off = np.flatnonzero(np.abs(ours - reference) > tolerance)
    if function not in EXACT:
        assert off.size == 0, f"{function}: {off.size} rows differ, e.g. row {off[:1]}"
        return
    assert off.size <= 0.002 * ours.size, f"{function}: {off.size} rows differ from TA-Lib"
    for t in off[:: max(1, off.size // 20)]:
        expected = exact(function, inputs, int(t), window)
        assert abs(ours[t] - expected) <= 1e-9 * max(abs(expected), scale), (function, t, ours[t], expected)


SINGLE = ["EMA", "WMA", "DEMA", "TEMA", "MIN", "MAX", "MOM", "ROC", "RSI", "LINEARREG", "LINEARREG_SLOPE",
          "LINEARREG_INTERCEPT", "LINEARREG_ANGLE", "TSF", "SMA", "SUM", "VAR", "STDDEV"]  # fmt: skip


@pytest.mark.parametrize("function", SINGLE)
@pytest.mark.parametrize("window", [2, 5, 14, 60, 1000])
def test_single_series_functions(candles: pl.DataFrame, function: str, window: int) -> None:
    a = arrays(candles)
    ours = indicators.FUNCTIONS[function][0](a["close"], window)
    assert_talib_equal(function, ours, getattr(talib, function)(a["close"], timeperiod=window), a, window)


@pytest.mark.parametrize("function", ["ATR", "NATR", "CCI", "ADX"])
@pytest.mark.parametrize("window", [2, 5, 14, 60, 500])
def test_high_low_close_functions(candles: pl.DataFrame, function: str, window: int) -> None:
    a = arrays(candles)
    ours = getattr(indicators, function.lower())(a["high"], a["low"], a["close"], window)
    reference = getattr(talib, function)(a["high"], a["low"], a["close"], timeperiod=window)
    assert_talib_equal(function, ours, reference, a, window)


@pytest.mark.parametrize("window", [2, 5, 14, 60])
def test_mfi_obv_correl_beta(candles: pl.DataFrame, window: int) -> None:
    a = arrays(candles)
    assert_talib_equal(
        "MFI",
        indicators.mfi(a["high"], a["low"], a["close"], a["volume"], window),
        talib.MFI(a["high"], a["low"], a["close"], a["volume"], timeperiod=window),
        a,
        window,
    )
    pair = {**a, "real0": a["high"], "real1": a["low"]}
    assert_talib_equal(
        "CORREL", indicators.correl(a["high"], a["low"], window), talib.CORREL(a["high"], a["low"], window),
        pair, window,
    )  # fmt: skip
    pair = {**a, "real0": a["open"], "real1": a["close"]}
    assert_talib_equal(
        "BETA", indicators.beta(a["open"], a["close"], window), talib.BETA(a["open"], a["close"], window),
        pair, window,
    )  # fmt: skip
    np.testing.assert_array_equal(indicators.obv(a["close"], a["volume"]), talib.OBV(a["close"], a["volume"]))


@pytest.mark.parametrize("periods", [(12, 26, 9), (5, 35, 5), (26, 12, 4)])
def test_macd(candles: pl.DataFrame, periods: tuple[int, int, int]) -> None:
    """MACD subtracts two EMAs of the price: the EMA recursions (lfilter vs TA-Lib's loop) differ
    by ulps of the price, so near a zero crossing we compare relative to the price level."""
    a = arrays(candles)
    for ours, reference in zip(
        indicators.macd(a["close"], *periods), talib.MACD(a["close"], *periods), strict=True
    ):
        assert_talib_equal("MACD", ours, reference, a)


@pytest.mark.parametrize("period", [5, 20])
def test_bbands_and_stoch(candles: pl.DataFrame, period: int) -> None:
    a = arrays(candles)
    for ours, reference in zip(
        indicators.bbands(a["close"], period), talib.BBANDS(a["close"], period), strict=True
    ):
        assert_talib_equal("BBANDS", ours, reference, a, period)
    for ours, reference in zip(
        indicators.stoch(a["high"], a["low"], a["close"], period, 3, 0, 4, 0),
        talib.STOCH(a["high"], a["low"], a["close"], period, 3, 0, 4, 0),
        strict=True,
    ):
        assert_talib_equal("STOCH", ours, reference, a)


def test_leading_nans_start_the_series_like_talib(candles: pl.DataFrame) -> None:
    """Missing rows at the start: the first stretch of valid rows is where TA-Lib starts too."""
    a = {k: v[:3000].copy() for k, v in arrays(candles).items()}
    a["low"][:9] = np.nan
    assert_talib_equal(
        "ADX",
        indicators.adx(a["high"], a["low"], a["close"], 14),
        talib.ADX(a["high"], a["low"], a["close"]),
        a,
    )
    assert_talib_equal(
        "ATR",
        indicators.atr(a["high"], a["low"], a["close"], 14),
        talib.ATR(a["high"], a["low"], a["close"]),
        a,
    )


def test_generator_names_and_multi_outputs(candles: pl.DataFrame) -> None:
    df = candles.head(5000)
    config = {
        "columns": ["close"],
        "functions": ["RSI", {"name": "MACD"}, {"name": "BBANDS", "timeperiod": 20}, "STOCH", "ATR", "OBV",
                      {"name": "CORREL", "columns": ["high", "low"]}],
        "windows": [14],
    }  # fmt: skip
    out = generate("feature", "talib", df, config)
    expected = [
        "close_RSI_14", "close_MACD_12_26_9", "close_MACDsignal_12_26_9", "close_MACDhist_12_26_9",
        "close_BBANDS_upper_20", "close_BBANDS_middle_20", "close_BBANDS_lower_20",
        "STOCH_slowk_5_3_3", "STOCH_slowd_5_3_3", "ATR_14", "OBV", "high_low_CORREL_14",
    ]  # fmt: skip
    assert out.columns == expected
    generator = get_generator("feature", "talib")
    assert generator.outputs(generator.validate(config), "", "") == expected
    a = arrays(df)
    np.testing.assert_allclose(out["close_RSI_14"].to_numpy()[14:], talib.RSI(a["close"], 14)[14:], rtol=1e-9)
    assert out["close_RSI_14"].null_count() == 14


def test_prefixed_sources_for_multi_asset_features(candles: pl.DataFrame) -> None:
    """ETH columns as features of a BTC table: inputs and names carry the column prefix."""
    df = candles.head(2000).select(pl.all().name.prefix("eth_"))
    out = generate(
        "feature", "talib", df, {"columns": ["close"], "functions": ["SMA", "ATR"], "windows": [5]},
        column_prefix="eth_", feature_prefix="f_",
    )  # fmt: skip
    assert out.columns == ["f_eth_close_SMA_5", "f_eth_ATR_5"]


def test_post_processing_relative_percentage_log(candles: pl.DataFrame) -> None:
    df = candles.head(3000)
    base = {"columns": ["close"], "functions": ["SMA"], "windows": [5, 10, 60]}
    plain = generate("feature", "talib", df, base)
    rel = generate("feature", "talib", df, {**base, "parameters": {"rel_base": "last", "rel_func": "rel_diff",
                                                                    "percentage": True}})  # fmt: skip
    s5, s60 = plain["close_SMA_5"].to_numpy(), plain["close_SMA_60"].to_numpy()
    np.testing.assert_allclose(rel["close_SMA_5"].to_numpy()[59:], ((s5 - s60) / s60 * 100)[59:], rtol=1e-12)
    np.testing.assert_allclose(rel["close_SMA_60"].to_numpy()[59:], (s60 * 100)[59:], rtol=1e-12)
    prev = generate("feature", "talib", df, {**base, "parameters": {"rel_base": "prev", "rel_func": "diff"}})
    np.testing.assert_allclose(
        prev["close_SMA_10"].to_numpy()[9:], (plain["close_SMA_10"] - plain["close_SMA_5"]).to_numpy()[9:]
    )
    first = generate(
        "feature", "talib", df, {**base, "parameters": {"rel_base": "first", "rel_func": "rel", "log": True}}
    )
    expected = np.log((plain["close_SMA_60"] / plain["close_SMA_5"]).to_numpy())
    np.testing.assert_allclose(first["close_SMA_60"].to_numpy()[59:], expected[59:], rtol=1e-12)


def test_config_errors_are_clear() -> None:
    generator = get_generator("feature", "talib")
    with pytest.raises(ValueError, match="unknown parameter"):
        generator.validate({"columns": ["close"], "functions": [{"name": "MACD", "fast": 3}]})
    with pytest.raises(ValueError, match="names has 1 entries but 3"):
        generator.outputs(
            generator.validate({"columns": ["close"], "functions": ["MACD"], "names": ["x"]}), "", ""
        )
    with pytest.raises(ValueError, match="windows >= 2"):
        generator.outputs(
            generator.validate({"columns": ["close"], "functions": ["RSI"], "windows": [1]}), "", ""
        )


def test_other_talib_functions_go_through_the_extra(candles: pl.DataFrame) -> None:
    df = candles.head(2000)
    out = generate(
        "feature", "talib", df, {"columns": ["close"], "functions": ["KAMA", "AROON"], "windows": [10]}
    )
    assert out.columns == ["close_KAMA_10", "AROON_aroondown_10", "AROON_aroonup_10"]
    np.testing.assert_allclose(out["close_KAMA_10"].to_numpy()[10:], talib.KAMA(arrays(df)["close"], 10)[10:])


def test_missing_extra_gives_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "talib", None)
    generator = get_generator("feature", "talib")
    with pytest.raises(ValueError, match=r"install the optional TA-Lib extra"):
        generator.validate({"columns": ["close"], "functions": ["KAMA"]})


def test_pipeline_config_validation_uses_predicted_names() -> None:
    data = {
        "symbol": "BTCUSDT",
        "data_sources": [{"symbol": "BTCUSDT", "path": "sample:BTCUSDT-1m-2024Q1"}],
        "feature_sets": [{"generator": "talib", "config": {"columns": ["close"], "functions": ["MACD"]}}],
        "label_sets": [{"generator": "highlow", "config": {"function": "high", "thresholds": [1.0],
                                                           "horizon": 60, "names": ["high_10"]}}],
        "train": {"features": ["close_MACDhist_12_26_9"], "labels": ["high_10"], "algorithms": [{"name": "gb"}]},  # noqa: E501
    }  # fmt: skip
    parse_config(data)
    data["train"]["features"] = ["close_MACD_hist"]  # type: ignore[index]
    with pytest.raises(ConfigError, match="no feature set produces column 'close_MACD_hist'"):
        parse_config(data)
