"""The compiled stump predictor (``itb.models.additive``) against LightGBM's own ``Booster.predict``:
binary and cross-entropy classifiers, regressors, NaN / zero / tiny / exact-threshold inputs, constant
trees, and the fallback to LightGBM for anything that is not a sum of stumps."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from itb.config.models import Algorithm
from itb.models.additive import ZERO_THRESHOLD, Additive, compile_additive
from itb.models.lgbm import import_lightgbm
from itb.models.trained import GB_DEFAULTS, fit_model, lightgbm_params, load_model
from itb.storage.store import Storage

lgb = import_lightgbm()
TOLERANCE = 1e-12
BASE = {"seed": 1, "deterministic": True, "force_row_wise": True, "num_threads": 1, "verbose": -1}


@pytest.fixture(scope="module")
def sample() -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # type: ignore[type-arg]
    """Features, a binary label and a numeric label from the bundled BTCUSDT 1m sample."""
    path = resources.files("itb") / "sample" / "BTCUSDT-1m-2024Q1.parquet"
    frame = pl.read_parquet(str(path)).head(60_000)
    close, high, volume = (frame[c].cast(pl.Float64).to_numpy() for c in ("close", "high", "volume"))
    columns = []
    for window in (1, 5, 15, 60):
        change = np.full(close.size, np.nan)
        change[window:] = close[window:] / close[:-window] - 1
        columns.append(change)
    columns.append(np.log1p(volume))
    x = np.column_stack(columns)
    ahead = 30
    future = np.full(close.size, np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(high[1:], ahead)
    future[:-ahead] = windows.max(axis=1)[: close.size - ahead]
    future_return = future / close - 1
    keep = ~np.isnan(future_return)
    return x[keep], future_return[keep] > 0.004, future_return[keep]


def _train(x: np.ndarray, y: np.ndarray, rounds: int = 60, **params: Any) -> Any:  # type: ignore[type-arg]
    categorical = params.pop("categorical_feature", "auto")
    dataset = lgb.Dataset(x, y, categorical_feature=categorical)
    return lgb.train({**BASE, "max_depth": 1, **params}, dataset, num_boost_round=rounds)


def _assert_same(booster: Any, x: np.ndarray) -> Additive:  # type: ignore[type-arg]
    compiled = compile_additive(booster)
    assert compiled is not None
    expected = booster.predict(x, num_threads=1)
    got = compiled.predict(x)
    assert np.isfinite(expected).all()
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(
        compiled.raw(x), booster.predict(x, raw_score=True, num_threads=1), rtol=0, atol=TOLERANCE
    )
    return compiled


def _awkward_rows(compiled: Additive, x: np.ndarray) -> np.ndarray:  # type: ignore[type-arg]
    """Rows that put every feature on, and one ulp either side of, each of its thresholds, and on
    NaN, +-0.0, +-tiny (``|x| <= 1e-35``, which LightGBM reads as zero), +-inf and huge values."""
    rows = []
    specials = [np.nan, 0.0, -0.0, 1e-36, -1e-36, ZERO_THRESHOLD, -ZERO_THRESHOLD, np.inf, -np.inf, 1e308]
    for step in compiled.steps:
        values = np.concatenate(
            [step.thresholds, np.nextafter(step.thresholds, np.inf), np.nextafter(step.thresholds, -np.inf),
             specials]
        )  # fmt: skip
        block = np.repeat(x[:1], values.size, axis=0)
        block[:, step.feature] = values
        rows.append(block)
    rng = np.random.default_rng(0)
    mixed = x[rng.integers(0, x.shape[0], 2000)].copy()
    mixed[rng.random(mixed.shape) < 0.1] = np.nan
    mixed[rng.random(mixed.shape) < 0.1] = 0.0
    rows.append(mixed)
    return np.concatenate(rows)


def test_default_gb_is_stumps_and_scores_exactly(sample: tuple[np.ndarray, ...], tmp_path: Path) -> None:
    x, y, _ = sample
    assert GB_DEFAULTS["max_depth"] == 1
    model = fit_model("y_gb", Algorithm(name="gb"), list("abcde"), x, y, seed=1, threads=1)
    compiled = model.additive
    assert compiled is not None and compiled.transform == "sigmoid"
    assert model.predict(x) == pytest.approx(model.booster.predict(x), abs=TOLERANCE)
    storage = Storage(str(tmp_path))
    model.save(storage, {"label": "y"})
    loaded = load_model(storage, "y_gb")
    assert loaded.additive is not None
    assert np.array_equal(loaded.predict(x), model.predict(x))
    assert loaded.booster is None  # scoring stumps did not need LightGBM
    assert loaded.lightgbm_booster().predict(x) == pytest.approx(loaded.predict(x), abs=TOLERANCE)


@pytest.mark.parametrize("objective", ["binary", "cross_entropy"])
def test_classifiers_equal_lightgbm(sample: tuple[np.ndarray, ...], objective: str) -> None:
    x, y, _ = sample
    booster = _train(x, y.astype(np.int8), objective=objective, learning_rate=0.2, lambda_l1=1.0)
    compiled = _assert_same(booster, x)
    _assert_same(booster, _awkward_rows(compiled, x))


def test_binary_sigmoid_parameter_is_used(sample: tuple[np.ndarray, ...]) -> None:
    x, y, _ = sample
    booster = _train(x, y.astype(np.int8), objective="binary", sigmoid=2.5)
    assert _assert_same(booster, x).sigmoid == 2.5


@pytest.mark.parametrize("objective", ["regression", "regression_l1", "huber", "quantile"])
def test_regressors_equal_lightgbm(sample: tuple[np.ndarray, ...], objective: str) -> None:
    x, _, target = sample
    booster = _train(x, target * 100, objective=objective)
    compiled = _assert_same(booster, x)
    assert compiled.transform == "identity"
    _assert_same(booster, _awkward_rows(compiled, x))


@pytest.mark.parametrize(
    ("params", "missing_types"),
    [
        ({}, {"NaN", "None"}),  # NaN in training: missing_type NaN; columns without NaN: None
        ({"use_missing": False}, {"None"}),  # NaN read as 0.0 at prediction
        ({"zero_as_missing": True}, {"Zero"}),  # NaN and 0.0 go the default way
    ],
)
def test_missing_values_follow_each_node(
    sample: tuple[np.ndarray, ...], params: dict[str, Any], missing_types: set[str]
) -> None:
    x, y, _ = sample
    x = x.copy()
    rng = np.random.default_rng(4)
    x[rng.random(x.shape[0]) < 0.05, 0] = np.nan  # a column with missing values in training
    x[rng.random(x.shape[0]) < 0.2, 1] = 0.0  # a column with many zeros
    x[:, 2] = np.where(np.isnan(x[:, 2]), np.nan, np.round(x[:, 2], 4))  # many values exactly on bins
    booster = _train(x, y.astype(np.int8), rounds=100, learning_rate=0.3, min_data_in_leaf=5, **params)
    nodes = [t["tree_structure"] for t in booster.dump_model()["tree_info"]]
    seen = {n["missing_type"] for n in nodes if "split_feature" in n}
    assert seen == missing_types
    if "NaN" in missing_types:  # both default directions are exercised
        assert {n["default_left"] for n in nodes if n.get("missing_type") == "NaN"} == {True, False}
    compiled = _assert_same(booster, x)
    awkward = _awkward_rows(compiled, x)
    _assert_same(booster, awkward)
    # the oracle can tell "<=" from "<": on the awkward rows a predictor that sent values equal to a
    # threshold right would disagree with LightGBM
    wrong = compiled.raw(awkward) * 0 + compiled.constant
    for step in compiled.steps:
        column = np.where(np.abs(awkward[:, step.feature]) <= ZERO_THRESHOLD, 0.0, awkward[:, step.feature])
        part = step.values[np.searchsorted(step.thresholds, column, side="right")]
        part[np.isnan(column)] = step.at_nan
        wrong += part
    assert np.abs(wrong - booster.predict(awkward, raw_score=True)).max() > 1e-6


def _constant_tree(index: int, value: float) -> str:
    return (
        f"Tree={index}\nnum_leaves=1\nnum_cat=0\nsplit_feature=\nsplit_gain=\nthreshold=\n"
        f"decision_type=\nleft_child=\nright_child=\nleaf_value={value!r}\nleaf_weight=\nleaf_count=10\n"
        "internal_value=\ninternal_weight=\ninternal_count=\nis_linear=0\nshrinkage=1\n\n\n"
    )


def test_constant_trees(sample: tuple[np.ndarray, ...]) -> None:
    x, y, _ = sample
    # a booster that cannot split at all: one constant tree (the initial score)
    flat = _train(x, y.astype(np.int8), min_data_in_leaf=len(y))
    assert flat.num_trees() == 1
    assert _assert_same(flat, x).steps == ()
    # constant trees among stumps: LightGBM only writes one when nothing can split, so edit a model
    booster = _train(x, y.astype(np.int8), rounds=10)
    text = re.sub(r"tree_sizes=.*\n", "", booster.model_to_string())
    blocks = re.split(r"(?=^Tree=\d+$)", text, flags=re.M)
    blocks[3] = _constant_tree(2, 0.125)
    blocks[7] = _constant_tree(6, -0.0625)
    edited = lgb.Booster(model_str="".join(blocks))
    assert [t["num_leaves"] for t in edited.dump_model()["tree_info"]].count(1) == 2
    compiled = _assert_same(edited, x)
    _assert_same(edited, _awkward_rows(compiled, x))


def test_other_models_fall_back_to_lightgbm(sample: tuple[np.ndarray, ...]) -> None:
    x, y, target = sample
    labels = y.astype(np.int8)
    deep = _train(x, labels, max_depth=-1, num_leaves=7)
    assert compile_additive(deep) is None
    category = np.arange(len(y)) % 5
    by_category = _train(
        np.column_stack([x, category]), np.isin(category, [1, 3]).astype(np.int8), categorical_feature=[5],
        rounds=5, min_data_per_group=5, cat_smooth=1,
    )  # fmt: skip
    assert '"decision_type": "=="' in json.dumps(by_category.dump_model())
    assert compile_additive(by_category) is None
    assert compile_additive(_train(x, labels, linear_tree=True, rounds=5)) is None
    multiclass = (target > 0.002).astype(int) + (target > 0.006)
    assert compile_additive(_train(x, multiclass, objective="multiclass", num_class=3, rounds=5)) is None
    assert compile_additive(_train(x, np.abs(target), objective="poisson", rounds=5)) is None
    # through TrainedModel: the deep model scores with LightGBM, exactly
    algorithm = Algorithm(name="gb", params={"num_leaves": 7, "num_boost_round": 20})
    model = fit_model("y_gb", algorithm, list("abcde"), x, y, seed=1, threads=1)
    assert model.additive is None
    assert np.array_equal(model.predict(x), model.booster.predict(x, num_threads=1))


def test_user_num_leaves_lifts_the_default_depth() -> None:
    params, rounds = lightgbm_params({"num_leaves": 15}, seed=1, threads=1)
    assert "max_depth" not in params and params["num_leaves"] == 15 and rounds == 150
    params, rounds = lightgbm_params({}, seed=1, threads=2)
    assert params["max_depth"] == 1 and rounds == 150 and params["num_threads"] == 2
    params, rounds = lightgbm_params({"n_estimators": 40, "seed": 9}, seed=1, threads=1)
    assert rounds == 40 and "n_estimators" not in params and params["seed"] == 1
