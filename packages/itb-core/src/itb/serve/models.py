"""Loading the models ``itb run`` trained into a data root, for serving: refused when they are
missing or were trained on other features than the config makes (exit 2), with a key that names
this exact set of model files (the live log's ``model_key`` column)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from itb.config.models import PipelineConfig
from itb.errors import ConfigError
from itb.models.modelset import FeatureMismatch, ModelSet, feature_config_hash
from itb.models.trained import model_files, model_name
from itb.serve.engine import ServeSpec
from itb.storage.store import Storage


class ServeRefused(ConfigError):
    """The data root has no models this config can serve with. Exit code 2."""


@dataclass(frozen=True)
class ServingModels:
    models: ModelSet
    #: ``sha256:`` of the model files' fingerprints, shortened: equal keys, equal models.
    key: str


def load_serving_models(config: PipelineConfig, storage: Storage, spec: ServeSpec) -> ServingModels:
    """The config's models (every ``train.labels`` x ``train.algorithms``) from ``storage``, checked
    against the features ``spec`` makes; raises :class:`ServeRefused` otherwise."""
    pairs = [(model_name(label, a.name), a) for label in config.train.labels for a in config.train.algorithms]
    files = [(name, f) for name, algorithm in pairs for f in model_files(name, algorithm)]
    missing = [f for _, f in files if not storage.exists(f)]
    if missing:
        raise ServeRefused(
            f"no trained model {missing[0]} under {storage.root_url}: run `itb run` with this config "
            "(and data root) first"
        )
    models = ModelSet.load(storage, [name for name, _ in pairs])
    features = list(spec.model_features)
    try:
        models.check(features, feature_config_hash(spec.feature_sets, features))
    except FeatureMismatch as exc:
        raise ServeRefused(f"the models under {storage.root_url} do not fit this config: {exc}") from None
    digest = hashlib.sha256("\n".join(f"{f} {storage.fingerprint(f)}" for _, f in files).encode())
    return ServingModels(models, "sha256:" + digest.hexdigest()[:16])
