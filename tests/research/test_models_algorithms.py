"""Models: lc equals scikit-learn's LogisticRegression, scaling is fitted on training rows only and
saved, gb regresses numeric labels, metrics equal scikit-learn's, and a config trains every
label x algorithm into ``<label>_<algorithm>`` with metrics in the manifest and metrics.json."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from itb import datasets
from itb.config import parse_config
from itb.config.models import Algorithm
from itb.models.metrics import classification_metrics, regression_metrics
from itb.models.trained import fit_model, load_model
from itb.runs.runner import run_pipeline
from itb.storage.store import Storage
from sklearn import metrics as skm
from sklearn.linear_model import LogisticRegression


def _data(n: int = 3000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[type-arg]
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)) * [1.0, 10.0, 0.1, 1000.0] + [0, 5, 0, 200]
    logit = 0.8 * x[:, 0] - 0.05 * x[:, 1] + 3 * x[:, 2] + rng.normal(size=n)
    return x, logit > 0


def test_lc_scores_equal_scikit_learn_and_survive_a_save(tmp_path: Path) -> None:
    x, y = _data()
    algorithm = Algorithm(name="lc", algo="lc")
    model = fit_model("y_lc", algorithm, ["a", "b", "c", "d"], x, y, seed=1, threads=1)
    assert model.scaler is not None  # on by default for lc
    reference = LogisticRegression(C=1.0, max_iter=200, random_state=1).fit((x - x.mean(0)) / x.std(0), y)
    expected = reference.predict_proba((x - x.mean(0)) / x.std(0))[:, 1]
    assert model.predict(x) == pytest.approx(expected, abs=1e-9)
    storage = Storage(str(tmp_path))
    model.save(storage, {"label": "y"})
    assert not (tmp_path / "models" / "y_lc.txt").exists()  # coefficients live in the JSON, no pickle
    assert load_model(storage, "y_lc").predict(x) == pytest.approx(model.predict(x), abs=0)


def test_scaler_is_fitted_on_training_rows_only() -> None:
    x, y = _data()
    model = fit_model("m", Algorithm(name="gb", algo="gb", scale=True, params={"num_boost_round": 5}),
                      list("abcd"), x[:1000], y[:1000], seed=1, threads=1)  # fmt: skip
    assert model.scaler is not None
    assert model.scaler.mean == pytest.approx(x[:1000].mean(0))
    assert model.scaler.scale == pytest.approx(x[:1000].std(0))


def test_gb_regressor_learns_a_numeric_label() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(4000, 3))
    y = 2 * x[:, 0] - x[:, 1] + rng.normal(scale=0.1, size=4000)
    algorithm = Algorithm(name="gbr", params={"objective": "regression", "num_boost_round": 100})
    assert algorithm.regression
    model = fit_model("y_gbr", algorithm, list("abc"), x[:3000], y[:3000], seed=1, threads=1)
    got = regression_metrics(y[3000:], model.predict(x[3000:]))
    assert got["r2"] is not None and got["r2"] > 0.9


def test_lc_refuses_an_objective() -> None:
    with pytest.raises(ValueError, match="'lc' is a classifier"):
        Algorithm(name="lc", algo="lc", params={"objective": "regression"})


def test_metrics_equal_scikit_learn() -> None:
    rng = np.random.default_rng(2)
    y = rng.random(500) < 0.3
    score = np.round(rng.random(500) * 0.5 + y * 0.3, 2)  # rounded: many ties
    got = classification_metrics(y, score, threshold=0.5)
    predicted = score >= 0.5
    assert got["auc"] == pytest.approx(skm.roc_auc_score(y, score), abs=1e-6)
    assert got["ap"] == pytest.approx(skm.average_precision_score(y, score), abs=1e-6)
    assert got["f1"] == pytest.approx(skm.f1_score(y, predicted), abs=1e-6)
    assert got["precision"] == pytest.approx(skm.precision_score(y, predicted), abs=1e-6)
    assert got["recall"] == pytest.approx(skm.recall_score(y, predicted), abs=1e-6)
    truth, guess = rng.normal(size=300), rng.normal(size=300)
    reg = regression_metrics(truth, guess)
    assert reg["mae"] == pytest.approx(skm.mean_absolute_error(truth, guess), abs=1e-6)
    assert reg["r2"] == pytest.approx(skm.r2_score(truth, guess), abs=1e-6)


def test_every_label_times_algorithm_in_a_pipeline(small_config_data: dict[str, Any], tmp_path: Path) -> None:
    data = copy.deepcopy(small_config_data)
    data["train"]["algorithms"] = [
        {"name": "gb", "params": {"num_boost_round": 20, "num_leaves": 7}},
        {"name": "lc", "algo": "lc"},
        {"name": "gbr", "params": {"objective": "regression", "num_boost_round": 10}},
    ]
    result = run_pipeline(parse_config(data), backend="inprocess", data_root=str(tmp_path / "d"))
    assert result.ok, result.manifest
    predictions = result.storage.read_parquet(datasets.PREDICTIONS)
    names = [f"{label}_{a}" for label in ("high_10", "low_10") for a in ("gb", "lc", "gbr")]
    assert set(names) <= set(predictions.columns)
    holdout = result.manifest.stages["predict"].metrics["holdout"]
    assert set(holdout) == set(names)
    assert {"auc", "ap", "f1", "precision", "recall"} <= set(holdout["high_10_lc"])
    assert {"mae", "r2"} <= set(holdout["high_10_gbr"])
    assert result.storage.read_json(datasets.METRICS)["models"] == holdout
    lc = result.storage.read_json(datasets.model_meta("low_10_lc"))
    assert lc["scaler"] is not None and len(lc["coef"]) == len(lc["features"])


def test_the_lightgbm_parameter_list_is_the_installed_lightgbms() -> None:
    """``itb validate`` checks ``gb`` params against a list kept in itb (so it need not import
    LightGBM); it must be exactly what the installed LightGBM accepts, aliases included."""
    from itb.models.lgbm_params import LIGHTGBM_PARAMETERS
    from lightgbm.basic import _ConfigAliases

    aliases = _ConfigAliases._get_all_param_aliases()
    assert {name for main, others in aliases.items() for name in (main, *others)} == LIGHTGBM_PARAMETERS


def test_the_scikit_learn_parameter_lists_are_the_installed_versions() -> None:
    """``lc`` and ``svc`` params are checked against lists kept in itb (importing scikit-learn costs
    about 1.6 s per ``itb run``); they must be what the installed scikit-learn accepts."""
    from itb.models.sklearn_params import LOGISTIC_REGRESSION_PARAMETERS, SVC_PARAMETERS
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import SVC

    assert set(LogisticRegression().get_params()) == LOGISTIC_REGRESSION_PARAMETERS
    assert set(SVC().get_params()) == SVC_PARAMETERS


def test_checking_a_config_does_not_import_scikit_learn_unless_a_name_is_unknown() -> None:
    code = (
        "import sys, itb\n"
        "from itb.config.validate import check_algorithm_params\n"
        "from itb.config.models import PipelineConfig\n"
        "config = PipelineConfig.model_validate({**itb.default_config().model_dump(), 'train': {\n"
        "  'labels': ['high_10'], 'algorithms': [\n"
        "    {'name': 'lc', 'algo': 'lc', 'params': {'C': 1.0, 'max_iter': 50}},\n"
        "    {'name': 's', 'algo': 'svc', 'params': {'kernel': 'rbf'}}]}})\n"
        "assert check_algorithm_params(config) == []\n"
        "assert 'sklearn' not in sys.modules, 'known names need no import'\n"
        "bad = config.model_copy(deep=True)\n"
        "bad.train.algorithms[0].params['max_iterations'] = 5\n"
        "print(check_algorithm_params(bad))\n"
        "assert 'sklearn' in sys.modules, 'an unknown name is asked of the installed version'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "train.algorithms[0].params.max_iterations: not a parameter of scikit-learn's" in result.stdout
