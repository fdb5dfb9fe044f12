"""A trained model is the same file whatever thread count trained it (fingerprints match across backends)."""

from __future__ import annotations

import uuid

import numpy as np
from itb import datasets
from itb.config.models import Algorithm
from itb.models.lgbm import import_lightgbm
from itb.models.trained import fit_model
from itb.storage import Storage


def test_model_files_do_not_depend_on_thread_count() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(5000, 4))
    y = (x[:, 0] + 0.5 * x[:, 1] + rng.normal(scale=0.5, size=5000)) > 0
    algorithm = Algorithm(name="gb", params={"num_boost_round": 20, "num_leaves": 7})
    files = []
    for threads in (1, 2):
        model = fit_model("y_gb", algorithm, ["a", "b", "c", "d"], x, y, seed=1, threads=threads)
        storage = Storage(f"memory://threads-{uuid.uuid4().hex}")
        written = model.save(storage, {})
        files.append({name: w.fingerprint for name, w in written.items()})
        text = storage.read_bytes(datasets.model_text("y_gb")).decode()
        assert "[num_threads:" not in text
        booster = import_lightgbm().Booster(model_str=text)
        assert np.allclose(booster.predict(x[:10]), model.predict(x[:10], threads=1))
    assert files[0] == files[1]
