"""ModelSet: load once, score frames without labels, refuse features the models were not trained on;
and the predict stage refusing a features table made by a changed feature config."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from itb import datasets
from itb.config.models import Algorithm, GeneratorSet
from itb.models.modelset import HASH_KEY, FeatureMismatch, ModelSet, feature_config_hash
from itb.models.trained import fit_model
from itb.runs.manifest import list_runs
from itb.storage import Storage

from tests.conftest import itb, write_config

FEATURES = ["a", "b", "c"]
SETS = [GeneratorSet(generator="talib", config={"columns": ["close"], "functions": ["SMA"], "windows": [5]})]


@pytest.fixture(scope="module")
def models() -> ModelSet:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(2_000, 3))
    y = x[:, 0] + 0.5 * x[:, 2] + rng.normal(scale=0.5, size=2_000) > 0
    algorithm = Algorithm(name="gb", algo="gb", params={"num_boost_round": 20})
    model = fit_model("up_gb", algorithm, FEATURES, x, y, seed=1, threads=1)
    model.meta[HASH_KEY] = feature_config_hash(SETS, FEATURES)
    return ModelSet((model,))


def test_scores_a_frame_without_labels_in_any_column_order(models: ModelSet) -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(500, 3))
    x[:10, 1] = np.nan  # warm-up rows: unknown features give no score
    frame = pl.DataFrame({"c": x[:, 2], "b": x[:, 1], "a": x[:, 0], "extra": np.zeros(500)}).with_columns(
        pl.col("b").fill_nan(None)
    )
    scores = models.score(frame)["up_gb"]
    expected = models.models[0].predict(x[10:])
    assert np.isnan(scores[:10]).all()
    np.testing.assert_allclose(scores[10:], expected, rtol=0, atol=1e-12)


def test_check_names_the_first_mismatching_feature(models: ModelSet) -> None:
    models.check(FEATURES, feature_config_hash(SETS, FEATURES))  # the training features pass
    with pytest.raises(FeatureMismatch, match=r"trained on feature 'b' at position 1, .* has 'x' there"):
        models.check(["a", "x", "c"], feature_config_hash(SETS, ["a", "x", "c"]))
    with pytest.raises(FeatureMismatch, match="feature 'c' is only trained on"):
        models.check(["a", "b"], feature_config_hash(SETS, ["a", "b"]))
    changed = [
        GeneratorSet(generator="talib", config={"columns": ["close"], "functions": ["SMA"], "windows": [6]})
    ]
    with pytest.raises(FeatureMismatch, match="feature_sets config changed"):
        models.check(FEATURES, feature_config_hash(changed, FEATURES))
    legacy = ModelSet((replace(models.models[0], meta={}),))
    with pytest.raises(FeatureMismatch, match="records no feature_config_hash"):
        legacy.check(FEATURES, feature_config_hash(SETS, FEATURES))
    assert FeatureMismatch.exit_code == 1


def test_score_refuses_a_frame_without_a_feature(models: ModelSet) -> None:
    with pytest.raises(FeatureMismatch, match="no column 'c'"):
        models.score(pl.DataFrame({"a": [1.0], "b": [2.0]}))


def test_predict_refuses_features_of_a_changed_config(
    small_config_data: dict[str, Any], tmp_path: Path
) -> None:
    data = small_config_data
    data["train"]["algorithms"][0]["params"] = {"num_boost_round": 20}  # stumps: the fast scorer
    config = write_config(tmp_path / "config.json", data)
    only = [arg for stage in ("merge", "features", "labels", "train", "predict") for arg in ("--only", stage)]
    first = itb("run", str(config), *only)
    assert first.returncode == 0, first.stderr
    root = Path(data["data_root"])
    meta = json.loads((root / datasets.model_meta("high_10_gb")).read_text())
    assert "close_SMA_60" in meta["features"] and meta[HASH_KEY].startswith("sha256:")

    data["feature_sets"][0]["config"]["windows"] = [1, 5, 10, 15, 30]  # close_SMA_60 -> close_SMA_30
    write_config(config, data)
    assert itb("run", str(config), "--only", "features").returncode == 0
    refused = itb("run", str(config), "--only", "predict")
    assert refused.returncode == 1
    assert "'close_SMA_60'" in refused.stderr and "'close_SMA_30'" in refused.stderr
    # The newest run by creation time (run ids only resolve seconds: both runs may share one).
    manifest = list_runs(Storage(str(root)))[-1].model_dump(mode="json")
    predict = manifest["stages"]["predict"]
    assert predict["status"] == "failed" and predict["exit_code"] == 1
    assert "trained on feature 'close_SMA_60'" in predict["error"]
