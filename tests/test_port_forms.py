"""The reference project's config forms that itb accepts with the same meaning, each against an
oracle: TA-Lib, pandas as the reference project calls it, scikit-learn, or the rule by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest
import talib
from itb.compute.training import fit_label_models, training_table
from itb.config import parse_config
from itb.config.models import Algorithm, DataSource, GeneratorSet
from itb.errors import ConfigError
from itb.generators import generate
from itb.generators.registry import get_generator
from itb.models.svm import fit_svc
from itb.models.trained import fit_model, load_model
from itb.storage import Storage
from pydantic import ValidationError
from sklearn.svm import SVC

from tests.conftest import load_default_config

RNG = np.random.default_rng(12)
CLOSE = 100 * np.exp(np.cumsum(RNG.normal(0, 0.004, 2000)))
PRICES = pl.DataFrame({"close": CLOSE, "high": CLOSE * (1 + RNG.uniform(0, 0.004, 2000)),
                       "low": CLOSE * (1 - RNG.uniform(0, 0.004, 2000))})  # fmt: skip


def values(frame: pl.DataFrame, name: str) -> np.ndarray:
    return frame[name].cast(pl.Float64).fill_null(np.nan).to_numpy()


@pytest.mark.parametrize(
    ("kind", "generator", "scalar", "listed"),
    [
        ("feature", "talib", {"columns": "close", "functions": "SMA", "windows": 5},
         {"columns": ["close"], "functions": ["SMA"], "windows": [5]}),
        ("feature", "itbstats", {"columns": "close", "functions": "mean", "windows": 7},
         {"columns": ["close"], "functions": ["mean"], "windows": [7]}),
        ("label", "highlow2", {"function": "high", "thresholds": 0.5, "tolerance": 0.2, "horizon": 30,
                               "names": ["h"]},
         {"function": "high", "thresholds": [0.5], "tolerance": 0.2, "horizon": 30, "names": ["h"]}),
        ("label", "topbot2", {"function": "top", "level": 0.01, "tolerances": 0.2, "names": ["t"]},
         {"function": "top", "level": 0.01, "tolerances": [0.2], "names": ["t"]}),
    ],
)  # fmt: skip
def test_scalars_mean_lists_of_one(kind: str, generator: str, scalar: dict, listed: dict) -> None:
    assert generate(kind, generator, PRICES, scalar).equals(generate(kind, generator, PRICES, listed))  # type: ignore[arg-type]


def test_highlow2_negative_threshold_is_the_functions_sign() -> None:
    config = {"function": "low", "tolerance": 0.2, "horizon": 30, "names": ["l"]}
    negative = generate("label", "highlow2", PRICES, {**config, "thresholds": -0.5})
    assert negative.equals(generate("label", "highlow2", PRICES, {**config, "thresholds": [0.5]}))


def test_talib_names_string_goes_between_function_and_window() -> None:
    out = generate("feature", "talib", PRICES, {"columns": "close", "functions": "SMA", "windows": [5, 9],
                                                "names": "avg"})  # fmt: skip
    assert out.columns == ["close_SMA_avg_5", "close_SMA_avg_9"]
    expected = talib.SMA(CLOSE, timeperiod=9)
    assert values(out, "close_SMA_avg_9") == pytest.approx(expected, rel=1e-9, nan_ok=True)


def test_prefixes_join_with_an_underscore() -> None:
    assert DataSource(symbol="ETHUSDT", column_prefix="eth").column_prefix == "eth_"
    assert DataSource(symbol="ETHUSDT", column_prefix="eth_").column_prefix == "eth_"
    gset = GeneratorSet(generator="talib", column_prefix="eth", feature_prefix="f")
    assert (gset.column_prefix, gset.feature_prefix) == ("eth_", "f_")
    data = load_default_config()
    data["data_sources"].append(
        {"symbol": "ETHUSDT", "path": "sample:BTCUSDT-1m-2024Q1", "column_prefix": "eth"}
    )
    data["feature_sets"].append(
        {"generator": "talib", "column_prefix": "eth", "feature_prefix": "f",
         "config": {"columns": "close", "functions": "SMA", "windows": 5}}
    )  # fmt: skip
    config = parse_config(data)  # before: "no source provides 'ethclose'"
    prefixed = PRICES.rename({"close": "eth_close"})
    generator = get_generator("feature", "talib")
    out = generator.fn(prefixed, generator.validate(config.feature_sets[-1].config), "eth_", "f_")
    assert out.columns == ["f_eth_close_SMA_5"]


UP = np.array([0.6, 0.2, 0.5, 0.1, 0.0, 0.9])
DOWN = np.array([0.2, 0.6, 0.5, 0.3, 0.0, 0.05])
SCORES = pl.DataFrame({"up": UP, "down": DOWN})


@pytest.mark.parametrize("combine", [None, "no_combine", ""])
def test_combine_default_and_no_combine_are_max_abs(combine: str | None) -> None:
    config: dict = {"columns": ["up", "down"], "names": "s"}
    if combine is not None:
        config["combine"] = combine
    out = generate("signal", "combine", SCORES, config)
    # The reference rule, row by row: up if up >= down, else -down.
    assert out["s"].to_list() == pytest.approx(list(np.where(UP >= DOWN, UP, -DOWN)))


def test_smoothen_float_window_is_an_exponential_mean() -> None:
    frame = pl.DataFrame({"a": CLOSE[:300], "b": CLOSE[300:600]})
    out = generate("signal", "smoothen", frame, {"columns": ["a", "b"], "window": 10.0, "names": "e"})
    mean = pd.DataFrame({"a": CLOSE[:300], "b": CLOSE[300:600]}).mean(axis=1)
    expected = mean.ewm(span=10.0, min_periods=5, adjust=False).mean().to_numpy()
    assert values(out, "e") == pytest.approx(expected, rel=1e-12, nan_ok=True)
    with pytest.raises(ValidationError, match="float window is an ewm span"):
        generate("signal", "smoothen", frame, {"columns": "a", "window": 10.0, "method": "rolling"})


def test_highlow_with_only_horizon_makes_the_reference_set() -> None:
    horizon = 60
    out = generate("label", "highlow", PRICES, {"horizon": horizon})
    df = PRICES.to_pandas()
    # As the reference project computes it: future extremes via a shifted rolling window.
    high_max = (
        (df["high"].rolling(horizon, min_periods=horizon // 2).max().shift(-horizon) - df["close"])
        / df["close"]
        * 100
    )
    low_min = (
        (df["low"].rolling(horizon, min_periods=horizon // 2).min().shift(-horizon) - df["close"])
        / df["close"]
        * 100
    )
    known = slice(0, len(df) - horizon)
    assert values(out, "high_max_60")[known] == pytest.approx(high_max.clip(lower=0).to_numpy()[known])
    assert values(out, "low_min_60")[known] == pytest.approx((-low_min.clip(upper=0)).to_numpy()[known])
    checks = {"high_20": high_max >= 2.0, "high_03": high_max <= 0.3, "low_03": low_min >= -0.3,
              "low_10": low_min <= -1.0}  # fmt: skip
    for name, expected in checks.items():
        assert out[name].to_numpy()[known].tolist() == expected.to_numpy()[known].tolist(), name
    assert out.null_count().row(0) == (horizon,) * out.width  # itb: the tail is unknown (null)
    assert len(out.columns) == 22 and out.columns[0] == "high_max_60" and out.columns[11] == "low_min_60"


def test_reference_user_function_runs_through_the_adapter() -> None:
    config = {"columns": "close", "parameter": 3.0, "names": "close_x3"}
    out = generate("feature", "tests.itb_reference:scaled_close", PRICES, config, feature_prefix="f_")
    assert out.columns == ["f_close_x3"]  # the function's scratch column is not a feature
    assert values(out, "f_close_x3") == pytest.approx(CLOSE * 3.0)


def test_reference_algorithm_layout() -> None:
    algo = Algorithm.model_validate(
        {"name": "lc", "algo": "lc", "params": {"is_scale": False, "length": 500},
         "train": {"penalty": "l2", "C": 1.0, "class_weight": None, "solver": "sag", "max_iter": 100}}
    )  # fmt: skip
    assert (algo.scale, algo.length) == (False, 500)
    assert algo.params == {"penalty": "l2", "C": 1.0, "solver": "sag", "max_iter": 100}
    regressor = Algorithm.model_validate(
        {"name": "g", "algo": "gb", "params": {"is_regression": True}, "train": {}}
    )
    assert regressor.regression
    with pytest.raises(ValidationError, match="move \\['max_depth'\\] into 'train'"):
        Algorithm.model_validate({"name": "g", "params": {"max_depth": 3}, "train": {}})


def test_train_length_counts_back_from_the_end_of_the_training_range() -> None:
    data = load_default_config()
    data["train"]["length"] = 500
    data["train"]["algorithms"] = [
        {"name": "gb", "algo": "gb", "params": {"num_boost_round": 5}},
        {"name": "short", "algo": "gb", "params": {"num_boost_round": 5}, "length": 200},
    ]
    config = parse_config(data)
    n = 3000
    timestamps = np.arange(n, dtype=np.int64) * 60_000
    features = pl.DataFrame({"timestamp": timestamps, "x": RNG.normal(size=n)})
    labels = pl.DataFrame(
        {"timestamp": timestamps, "high_10": RNG.random(n) > 0.5, "low_10": RNG.random(n) > 0.5}
    )
    table = training_table(config, features, labels)
    # holdout starts at 2400; the label horizon (120) ends training at 2280; 500 rows before that.
    assert (table.holdout_start, table.train_end, table.train_start) == (2400, 2280, 1780)
    fitted = fit_label_models(table, "high_10", config.train.algorithms, seed=1, threads=1)
    assert [(f.rows, f.range_ms) for f in fitted] == [
        (500, (timestamps[1780], timestamps[2279])),
        (200, (timestamps[2080], timestamps[2279])),
    ]


def test_svc_scores_like_scikit_learn_and_survives_save_and_load(tmp_path: Path) -> None:
    x = RNG.normal(size=(600, 4))
    y = (x[:, 0] + 0.7 * RNG.normal(size=600)) > 0.2
    stored, used = fit_svc(x, y, {"C": 1.0}, seed=3)
    with pytest.warns(FutureWarning):  # scikit-learn 1.9 deprecates SVC(probability=True)
        reference = SVC(**used).fit(x, y)
    test = RNG.normal(size=(5000, 4)) * 1.5
    assert stored.probabilities(test) == pytest.approx(reference.predict_proba(test)[:, 1], abs=1e-12)
    algorithm = Algorithm(name="svc", algo="svc")
    model = fit_model("up_svc", algorithm, ["a", "b", "c", "d"], x, y, seed=3, threads=1)
    storage = Storage(str(tmp_path))
    model.save(storage, {})
    loaded = load_model(storage, "up_svc")
    assert loaded.predict(test).tolist() == model.predict(test).tolist()


def test_talib_columns_as_talib_arguments_are_named_as_the_reference_names_them() -> None:
    config = {
        "columns": {"high": "high", "low": "low", "close": "close"},
        "functions": ["ATR"],
        "windows": 14,
    }
    out = generate("feature", "talib", PRICES, config)
    assert out.columns == ["high_low_close_ATR_14"]
    expected = talib.ATR(*(PRICES[c].to_numpy() for c in ("high", "low", "close")), timeperiod=14)
    assert values(out, "high_low_close_ATR_14") == pytest.approx(expected, rel=1e-9, nan_ok=True)
    data = load_default_config()
    data["feature_sets"].append(
        {
            "generator": "talib",
            "config": {**config, "columns": {"high": "high", "low": "lowe", "close": "close"}},
        }
    )
    with pytest.raises(ConfigError, match=r"feature_sets\[2\].config.columns\[1\]: no source .* 'lowe'"):
        parse_config(data)
