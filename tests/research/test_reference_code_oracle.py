"""itb's reading of the reference project's config forms against the reference's own code.

The oracle is intelligent-trading-bot's ``common`` package: the unmodified copy kept for tests in
``tests/research/itb_code`` (MIT, see its README), or another checkout named by ``ITB_REFERENCE``.
Each test runs the reference function the way its pipeline calls it and itb's generator on the same
input. Where itb deliberately differs (README, "Coming from intelligent-trading-bot"), the test pins
the difference to exactly the documented rows instead of skipping them.
"""

from __future__ import annotations

import ast
import importlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest
from itb.config import jsonc
from itb.config.models import Algorithm
from itb.generators import generate
from itb.models.trained import fit_model
from itb.serve.score_notification import NEUTRAL, Band, ScoreNotificationConfig, band_of

from tests.itb_reference import SAMPLE_1M

REFERENCE = Path(os.environ.get("ITB_REFERENCE") or Path(__file__).parent / "itb_code")
SOURCES = Path(__file__).parents[2] / "packages"
# The reference code's own pandas deprecations are not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword")

RNG = np.random.default_rng(5)
UP, DOWN = RNG.random(500), RNG.random(500)
UP[[3, 10]] = DOWN[[3, 10]]  # ties: up >= down counts as up

N = 3000
CLOSE = 100 * np.exp(np.cumsum(RNG.normal(0, 0.004, N)))
HIGH = CLOSE * (1 + RNG.uniform(0, 0.006, N))
LOW = CLOSE * (1 - RNG.uniform(0, 0.006, N))
PRICES = pl.DataFrame({"close": CLOSE, "high": HIGH, "low": LOW})


def _forget_reference() -> None:
    for name in [m for m in sys.modules if m == "common" or m.startswith("common.")]:
        del sys.modules[name]


@pytest.fixture(scope="module")
def reference() -> Iterator[Any]:
    """``reference.<module>`` imports ``common.<module>`` from the reference code."""
    _forget_reference()  # another test may have put its own ``common`` package on the path
    sys.path.insert(0, str(REFERENCE))

    class Modules:
        def __getattr__(self, name: str) -> ModuleType:
            return importlib.import_module(f"common.{name}")

    try:
        yield Modules()
    finally:
        sys.path.remove(str(REFERENCE))
        _forget_reference()


def column(frame: pl.DataFrame, name: str) -> np.ndarray:
    return frame[name].cast(pl.Float64).fill_null(np.nan).to_numpy()


def reference_output(fn: Any, frame: pd.DataFrame, config: dict[str, Any]) -> np.ndarray:
    df, names = fn(frame.copy(), config)
    return df[names[0]].astype(float).to_numpy()


def test_the_oracle_is_the_reference_code_and_itb_never_imports_it() -> None:
    assert (REFERENCE / "common" / "gen_features.py").is_file(), REFERENCE
    offenders = [
        str(path)
        for path in SOURCES.glob("*/src/**/*.py")
        if any(
            line.lstrip().startswith(("import common", "from common"))
            for line in path.read_text().splitlines()
        )
    ]
    assert offenders == []


@pytest.mark.parametrize("combine", [None, "no_combine", "difference", "relative"])
@pytest.mark.parametrize("coefficient", [1.0, 2.5, 0])
def test_combine_as_the_reference_computes_it(
    reference: Any, combine: str | None, coefficient: float
) -> None:
    config: dict[str, Any] = {
        "columns": ["up", "down"],
        "names": "s",
        "coefficient": coefficient,
        "constant": 0.1,
    }
    if combine is not None:
        config["combine"] = combine
    expected = reference_output(
        reference.gen_signals.generate_combine_scores, pd.DataFrame({"up": UP, "down": DOWN}), config
    )
    # itb applies a zero coefficient as written; the reference ignored it (`itb port` writes 1).
    ours = {**config, "coefficient": coefficient or 1.0}
    got = generate("signal", "combine", pl.DataFrame({"up": UP, "down": DOWN}), ours)["s"].to_numpy()
    assert got == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("window", [10.0, 7.5, 12])
def test_smoothen_window_as_the_reference_computes_it(reference: Any, window: float) -> None:
    config = {"columns": ["up", "down"], "names": "e", "window": window}
    frame = pd.DataFrame({"up": UP, "down": DOWN})
    expected = reference_output(reference.gen_signals.generate_smoothen_scores, frame, config)
    got = generate("signal", "smoothen", pl.DataFrame({"up": UP, "down": DOWN}), config)["e"]
    assert got.fill_null(np.nan).to_numpy() == pytest.approx(expected, rel=1e-12, nan_ok=True)


@pytest.mark.parametrize(
    "config",
    [
        {"columns": "close", "functions": "SMA", "windows": [5, 9], "names": "avg"},
        {"columns": ["close"], "functions": ["LINEARREG_SLOPE", "STDDEV"], "windows": [10, 60]},
        {"columns": {"high": "high", "low": "low", "close": "close"}, "functions": ["ATR"], "windows": 14},
        {"columns": "close", "functions": ["SMA"], "windows": [1, 3, 6],
         "parameters": {"rel_base": "last", "rel_func": "rel", "percentage": True}},
    ],
    ids=["names-string", "lists", "argument-columns", "relative"],
)  # fmt: skip
def test_talib_forms_name_and_compute_as_the_reference(reference: Any, config: dict[str, Any]) -> None:
    df = PRICES.to_pandas()
    names = reference.gen_features.generate_features_talib(df, config)
    ours = generate("feature", "talib", PRICES, config)
    assert ours.columns == names
    for name in names:
        # itb computes each window from its own rows; TA-Lib's running sums agree within 1e-9.
        assert column(ours, name) == pytest.approx(df[name].to_numpy(), rel=1e-9, abs=1e-9, nan_ok=True), name


def test_prefixes_read_the_same_columns_and_keep_the_column_prefix_in_the_name(reference: Any) -> None:
    """The one documented naming difference: the reference drops the column prefix from output
    names (so two sources' features would overwrite each other); itb keeps it."""
    df = pd.DataFrame({"timestamp": np.arange(N), "eth_close": CLOSE, "close": CLOSE[::-1].copy()})
    fs = {"generator": "talib", "column_prefix": "eth", "feature_prefix": "f",
          "config": {"columns": "close", "functions": "SMA", "windows": [5]}}  # fmt: skip
    out, names = reference.generators.generate_feature_set(df, fs, {}, None, 0)
    assert names == ["f_close_SMA_5"]
    ours = generate(
        "feature", "talib", pl.from_pandas(df), fs["config"], column_prefix="eth_", feature_prefix="f_"
    )
    assert ours.columns == ["f_eth_close_SMA_5"]
    assert column(ours, "f_eth_close_SMA_5") == pytest.approx(out["f_close_SMA_5"].to_numpy(), nan_ok=True)


@pytest.mark.parametrize("function", ["mean", "std", "scipy_skew", "pandas_skew", "pandas_kurtosis", "lsbm",
                                      "fmax", "area", "slope"])  # fmt: skip
def test_itbstats_as_the_reference_computes_it(reference: Any, function: str) -> None:
    config = {"columns": "close", "functions": function, "windows": [10, 31]}
    df = PRICES.head(600).to_pandas()
    names = reference.gen_features.generate_features_itbstats(df, config)
    ours = generate("feature", "itbstats", PRICES.head(600), config)
    assert ours.columns == names
    for name in names:
        assert column(ours, name) == pytest.approx(df[name].to_numpy(), rel=1e-7, abs=1e-9, nan_ok=True), name


def test_reference_scipy_kurtosis_is_pearson_with_bias(reference: Any) -> None:
    """The reference calls ``stats.kurtosis(x, 0, bias)``: the third argument is ``fisher``, so it
    gets Pearson kurtosis with bias. itb's ``scipy_kurtosis`` is the excess, unbiased one (as named);
    with ``bias: true`` it is the reference's value minus 3."""
    config = {"columns": "close", "functions": "scipy_kurtosis", "windows": [20]}
    df = PRICES.head(600).to_pandas()
    (name,) = reference.gen_features.generate_features_itbstats(df, config)
    theirs = df[name].to_numpy()
    biased = generate("feature", "itbstats", PRICES.head(600), {**config, "parameters": {"bias": True}})
    assert column(biased, name) == pytest.approx(theirs - 3.0, rel=1e-7, nan_ok=True)
    unbiased = column(generate("feature", "itbstats", PRICES.head(600), config), name)
    pandas_excess = df["close"].rolling(20, min_periods=10).kurt().to_numpy()
    assert unbiased == pytest.approx(pandas_excess, rel=1e-7, nan_ok=True)
    assert np.count_nonzero(np.abs(unbiased - theirs) > 1e-6) > 500  # every row differs


def test_highlow_with_only_horizon_equals_the_reference_but_for_the_unknown_tail(reference: Any) -> None:
    horizon = 60
    df = PRICES.to_pandas()
    names = reference.gen_labels_highlow.generate_labels_highlow(df, horizon=horizon)
    ours = generate("label", "highlow", PRICES, {"horizon": horizon})
    extra = ["high_to_low_60"]  # computed by the reference but not in its returned names
    assert ours.columns == names or sorted(ours.columns) == sorted(names + extra)
    known = slice(0, N - horizon)
    for name in ours.columns:
        theirs = df[name].to_numpy()
        mine = ours[name]
        if mine.dtype == pl.Boolean:
            assert mine.to_numpy()[known].tolist() == theirs[known].astype(bool).tolist(), name
            # The reference writes False where the future is not known yet; itb writes null.
            assert mine[N - horizon :].null_count() == horizon and not theirs[N - horizon + 1 :].any(), name
        else:
            assert column(ours, name)[known] == pytest.approx(theirs.astype(float)[known], rel=1e-12), name


@pytest.mark.parametrize("function", ["high", "low"])
def test_highlow2_differs_from_the_reference_only_where_a_candle_touches_both_levels(
    reference: Any, function: str
) -> None:
    horizon, threshold, tolerance = 120, 0.6, 0.2
    config = {"columns": ["close", "high", "low"], "function": function, "thresholds": [threshold],
              "tolerance": tolerance, "horizon": horizon, "names": ["label"]}  # fmt: skip
    df = PRICES.to_pandas()
    out, _ = reference.gen_labels_highlow.generate_labels_highlow2(df.copy(), config)
    theirs = out["label"].to_numpy()
    ours = generate("label", "highlow2", PRICES, config)["label"]

    sign = 1 if function == "high" else -1
    goal, stop = ("high", "low") if function == "high" else ("low", "high")
    crossing = reference.utils.first_location_of_crossing_threshold
    first = crossing(df, horizon, sign * threshold, "close", goal)
    second = crossing(df, horizon, round(-sign * threshold * tolerance, 6), "close", stop)
    both = (np.asarray(first) == np.asarray(second)) & ~np.isnan(np.asarray(first, dtype=float))

    known = np.arange(N) < N - horizon
    mine = ours.to_numpy()
    same = known & ~both
    assert mine[same].tolist() == theirs[same].tolist()
    # Touching the goal and the stop in one candle: the reference counts it for, itb against.
    assert both[known].sum() > 0
    assert theirs[known & both].all() and not mine[known & both].astype(bool).any()
    assert ours[N - horizon :].null_count() == horizon


def test_the_reference_user_function_runs_unchanged_through_the_adapter(reference: Any) -> None:
    config = {"columns": "close", "function": "mul", "parameter": 3.0, "names": "close_x3"}
    df = PRICES.to_pandas()
    expected, names = reference.my_feature_example.my_feature_example(df.copy(), config, {}, None)
    out = generate("feature", "common.my_feature_example:my_feature_example", PRICES, config)
    assert out.columns == names == ["close_x3"]
    assert column(out, "close_x3") == pytest.approx(expected["close_x3"].to_numpy(), rel=1e-15)


@pytest.mark.parametrize("scale", [True, False])
def test_svc_scores_as_the_reference_trains_and_predicts_it(reference: Any, scale: bool) -> None:
    x = RNG.normal(size=(400, 3)) * [1.0, 5.0, 0.2] + [0.0, 10.0, -1.0]
    y = (x[:, 0] + 0.3 * x[:, 1] + RNG.normal(size=400)) > 3.0
    test = RNG.normal(size=(1000, 3)) * [1.5, 6.0, 0.3] + [0.0, 10.0, -1.0]
    model_config = {"params": {"is_scale": scale}, "train": {"C": 2.0, "gamma": "scale"}}
    np.random.seed(7)  # the reference leaves SVC's random_state unset: the global generator decides
    with pytest.warns(FutureWarning):  # scikit-learn 1.9 deprecates SVC(probability=True)
        models = reference.classifier_svc.train_svc(pd.DataFrame(x), pd.Series(y), model_config)
    expected = reference.classifier_svc.predict_svc(models, pd.DataFrame(test), model_config).to_numpy()
    algorithm = Algorithm.model_validate({"name": "svc", "algo": "svc", **model_config})
    ours = fit_model("up_svc", algorithm, ["a", "b", "c"], x, y, seed=7, threads=1)
    assert ours.predict(test) == pytest.approx(expected, abs=1e-9)


def reference_function(path: Path, name: str) -> Any:
    """One top-level function of a reference module, compiled from its file alone (the module's own
    imports pull in the reference's whole service)."""
    tree = ast.parse(path.read_text())
    (node,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name]
    namespace: dict[str, Any] = {}
    exec(compile(ast.Module(body=[node], type_ignores=[]), str(path), "exec"), namespace)
    return namespace[name]


def test_score_bands_are_the_reference_bands_in_any_order() -> None:
    find_score_band = reference_function(REFERENCE / "outputs" / "notifier_scores.py", "_find_score_band")
    sample = jsonc.loads(SAMPLE_1M.read_text())
    (scores_set,) = [s for s in sample["output_sets"] if s["generator"] == "score_notification_model"]
    bands = scores_set["config"]
    grid = np.concatenate([np.linspace(-0.03, 0.03, 601), [b["edge"] for b in
                          bands["positive_bands"] + bands["negative_bands"]]])  # fmt: skip
    for order in (lambda x: x, lambda x: list(reversed(x)), lambda x: x[1:] + x[:1]):
        shuffled = {**bands, "positive_bands": order(bands["positive_bands"]),
                    "negative_bands": order(bands["negative_bands"])}  # fmt: skip
        config = ScoreNotificationConfig.model_validate(shuffled)
        for score in grid:
            number, band = find_score_band(float(score), shuffled)
            assert band_of(float(score), config) == number, score
            assert config.band(number) == (NEUTRAL if band is None else Band.model_validate(band))
