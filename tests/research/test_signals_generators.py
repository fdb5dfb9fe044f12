"""Signal generators against values computed by hand (and pandas, the reference project's library)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest
from itb.generators import generate

UP = [0.6, 0.2, 0.5, None, 0.0]
DOWN = [0.2, 0.6, 0.5, 0.3, 0.0]
FRAME = pl.DataFrame({"up": UP, "down": DOWN}, schema={"up": pl.Float64, "down": pl.Float64})


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("difference", [0.4, -0.4, 0.0, None, 0.0]),
        ("relative", [0.6 / 0.8 * 2 - 1, 0.2 / 0.8 * 2 - 1, 0.0, None, 0.0]),
        ("max-abs", [0.6, -0.6, 0.5, None, 0.0]),
    ],
)
def test_combine_modes(mode: str, expected: list[float | None]) -> None:
    out = generate("signal", "combine", FRAME, {"columns": ["up", "down"], "combine": mode, "names": "s"})
    got = out["s"].to_list()
    for g, e in zip(got, expected, strict=True):
        assert (g is None and e is None) or g == pytest.approx(e)


def test_combine_coefficient_and_constant() -> None:
    out = generate(
        "signal",
        "combine",
        FRAME,
        {"columns": ["up", "down"], "combine": "difference", "coefficient": 2.0, "constant": 0.1},
    )
    assert out["trade_score"][0] == pytest.approx(0.9)


def test_smoothen_rolling_and_ewm_match_pandas() -> None:
    rng = np.random.default_rng(3)
    values = rng.normal(size=200)
    values[[5, 6, 50]] = np.nan
    other = rng.normal(size=200)
    df = pl.DataFrame({"a": values, "b": other}).with_columns(pl.col("a").fill_nan(None))
    mean = pd.DataFrame({"a": values, "b": other}).mean(axis=1, skipna=True)

    rolling = generate("signal", "smoothen", df, {"columns": ["a", "b"], "window": 10, "names": "r"})
    expected = mean.rolling(10, min_periods=5).mean().to_numpy()
    assert rolling["r"].to_numpy() == pytest.approx(expected, nan_ok=True)

    ewm = generate("signal", "smoothen", df, {"columns": "a", "window": 8, "method": "ewm", "names": "e"})
    # The exponential mean restarts after each missing row, as pandas does on each stretch alone.
    series = pd.Series(values)
    stretch = series.isna().cumsum()
    reference = series.groupby(stretch).transform(lambda s: s.ewm(span=8, min_periods=4, adjust=False).mean())
    reference[series.isna()] = np.nan
    assert ewm["e"].fill_null(np.nan).to_numpy() == pytest.approx(reference.to_numpy(), nan_ok=True)
    assert ewm["e"].is_null().sum() == 3 + 3 + 3 + 3  # the NaNs; 3 rows before min_periods at each start


def test_smoothen_point_threshold() -> None:
    df = pl.DataFrame({"a": [0.1, 0.6, 0.7, 0.2]})
    out = generate(
        "signal", "smoothen", df, {"columns": "a", "point_threshold": 0.5, "window": 2, "names": "p"}
    )
    assert out["p"].to_list() == [0.0, 0.5, 1.0, 0.5]


def test_threshold_rule2_needs_both_scores() -> None:
    df = pl.DataFrame({"s1": [0.5, 0.5, -0.5, -0.5, None], "s2": [0.5, 0.0, -0.5, 0.0, 0.9]})
    params = {"buy_signal_threshold": 0.2, "buy_signal_threshold_2": 0.3,
              "sell_signal_threshold": -0.2, "sell_signal_threshold_2": -0.3}  # fmt: skip
    out = generate("signal", "threshold_rule2", df, {"columns": ["s1", "s2"], "parameters": params})
    assert out["buy_signal"].to_list() == [True, False, False, False, False]
    assert out["sell_signal"].to_list() == [False, False, True, False, False]


def test_threshold_rule_on_smoothed_score_validates_in_a_config() -> None:
    from itb.config import parse_config

    from tests.conftest import load_default_config

    data = load_default_config()
    data["signal_sets"].insert(
        1, {"generator": "smoothen", "config": {"columns": "trade_score", "window": 5, "names": "smooth"}}
    )
    data["signal_sets"][2]["config"]["columns"] = "smooth"
    parse_config(data)
    data["signal_sets"][2]["config"]["columns"] = "nope"
    with pytest.raises(Exception, match="unknown column 'nope'"):
        parse_config(data)
