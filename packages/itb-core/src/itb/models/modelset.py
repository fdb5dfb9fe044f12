"""The trained models of a run, loaded once, scoring any frame that holds their features.

A second consumer (a live service, a notebook) scores with the same object the predict stage uses:
load it from a :class:`~itb.storage.store.Storage` at the edge (:meth:`ModelSet.load`) or wrap models
held in memory (``ModelSet((model, ...))``), then :meth:`ModelSet.score` a frame. No labels needed.

Models refuse features that differ from what they were trained on: each model's metadata holds its
feature names (in matrix order) and :func:`feature_config_hash` of the generator configuration that
made them, and :meth:`ModelSet.check` compares both with the frame at hand.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
from numpy.typing import NDArray

from itb.config.models import GeneratorSet
from itb.errors import ItbError
from itb.models.scoring import score_rows
from itb.models.trained import TrainedModel, load_model
from itb.storage.store import Storage

#: Key of the hash in a model's metadata (``models/<name>.json``).
HASH_KEY = "feature_config_hash"


class FeatureMismatch(ItbError):
    """The features offered are not the ones a model was trained on. Exit code 1: the data is valid,
    the stored models are stale for it (retrain)."""

    exit_code = 1


def feature_config_hash(feature_sets: Iterable[GeneratorSet], features: Sequence[str]) -> str:
    """SHA-256 of the feature sets' config (as JSON) and the feature names in order.

    The names alone miss a changed setting that keeps them (a generator option, a user function's
    parameter); the config alone misses ``train.features`` picking other columns.
    """
    payload = {"feature_sets": [s.model_dump(mode="json") for s in feature_sets], "features": list(features)}
    return "sha256:" + hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class ModelSet:
    models: tuple[TrainedModel, ...]

    @classmethod
    def load(cls, storage: Storage, names: Iterable[str]) -> ModelSet:
        """Read the models ``names`` (see :func:`itb.models.trained.load_model`) once."""
        return cls(tuple(load_model(storage, name) for name in names))

    @property
    def names(self) -> list[str]:
        return [model.name for model in self.models]

    def check(self, frame_columns: Sequence[str], feature_config_hash: str) -> None:
        """Raise :class:`FeatureMismatch` unless every model was trained on exactly the features
        ``frame_columns`` (names and order) made by the config whose hash is ``feature_config_hash``.

        The message names the first feature that differs, or says the generator config changed when
        the names agree.
        """
        offered = list(frame_columns)
        for model in self.models:
            trained = model.features
            for position, (want, have) in enumerate(zip(trained, offered, strict=False)):
                if want != have:
                    raise FeatureMismatch(
                        f"model {model.name} was trained on feature {want!r} at position {position}, "
                        f"but the features table has {have!r} there; retrain (itb run --only train) "
                        "or restore the feature_sets the model was trained with"
                    )
            if len(trained) != len(offered):
                longer, extra = (
                    (trained, "trained on") if len(trained) > len(offered) else (offered, "offered")
                )
                first = longer[min(len(trained), len(offered))]
                raise FeatureMismatch(
                    f"model {model.name} was trained on {len(trained)} features, the features table "
                    f"has {len(offered)}: feature {first!r} is only {extra}; retrain (itb run --only train)"
                )
            stored = model.meta.get(HASH_KEY)
            if stored is None:
                raise FeatureMismatch(
                    f"model {model.name} records no {HASH_KEY} (trained by an older itb); retrain "
                    "(itb run --only train)"
                )
            if stored != feature_config_hash:
                raise FeatureMismatch(
                    f"model {model.name}: the feature_sets config changed since training (same feature "
                    f"names, different settings: {stored} vs {feature_config_hash}); retrain "
                    "(itb run --only train)"
                )

    def score(self, frame: pl.DataFrame, threads: int = 1) -> dict[str, NDArray[np.float64]]:
        """Scores per model name for every row of ``frame``; NaN where a feature is unknown (warm-up).

        Models sharing a feature list share one column-major matrix (the stump predictor reads one
        feature at a time; LightGBM takes either order).
        """
        missing = [f for model in self.models for f in model.features if f not in frame.columns]
        if missing:
            raise FeatureMismatch(f"the frame has no column {missing[0]!r}, a feature the models use")
        scores: dict[str, NDArray[np.float64]] = {}
        groups: dict[tuple[str, ...], list[TrainedModel]] = {}
        for model in self.models:
            groups.setdefault(tuple(model.features), []).append(model)
        for features, models in groups.items():
            columns = frame.select(features)
            known = columns.select(pl.all_horizontal(pl.all().is_not_null())).to_series().to_numpy()
            x = columns.to_numpy(order="fortran").astype(np.float64, copy=False)
            for model in models:
                scores[model.name] = score_rows(model, x, known, threads)
        return scores
