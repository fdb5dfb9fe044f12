"""Noticing retrained models between ticks, so the service switches at a candle boundary.

``itb run`` writes new model files into the data root while holding the root's run lock; each file
is replaced atomically, but a model is two files (``.txt`` and ``.json``). :meth:`ModelWatch.poll`
compares a cheap stamp of the model files (storage metadata: size and modification time, or a
content hash where the store reports one) with the one it loaded, and reloads only once no run
holds the lock and no promotion's switch is unfinished (:mod:`itb.promotion.switch`: a killed one
leaves its journal until it is rolled back), so it never loads half of a retrain. The new models
are checked against the config like the first ones (:func:`itb.serve.models.load_serving_models`).
"""

from __future__ import annotations

from itb.config.models import PipelineConfig
from itb.models.trained import model_files, model_name
from itb.promotion.switch import JOURNAL, switch_pending
from itb.runs.lock import read_lock, stale_reason
from itb.serve.engine import ServeSpec
from itb.serve.models import ServeRefused, ServingModels, load_serving_models
from itb.storage.sources import metadata_fingerprint
from itb.storage.store import Storage


class ModelWatch:
    """Polled once per tick; returns the new models when the data root's changed."""

    def __init__(self, config: PipelineConfig, storage: Storage, spec: ServeSpec) -> None:
        self.config = config
        self.storage = storage
        self.spec = spec
        self._files = [
            f
            for label in config.train.labels
            for a in config.train.algorithms
            for f in model_files(model_name(label, a.name), a)
        ]
        self._stamp = self.stamp()

    def stamp(self) -> tuple[str, ...]:
        """One entry per model file: its metadata fingerprint (its content's where the store has
        no usable metadata; ``missing`` while it does not exist)."""
        stamps = []
        for name in self._files:
            try:
                info = self.storage.fs.info(self.storage.path(name))
            except FileNotFoundError:
                stamps.append("missing")
                continue
            stamps.append(metadata_fingerprint(info) or self.storage.fingerprint(name))
        return tuple(stamps)

    def load(self) -> ServingModels:
        """Load the models now (refusing missing or stale ones, and a set an unfinished promotion
        may have mixed) and remember their stamp."""
        if switch_pending(self.storage):
            raise ServeRefused(
                f"the models under {self.storage.root_url} may be a mix of two sets: a promotion was "
                f"stopped half-way ({JOURNAL} is left); `itb promote CONFIG` rolls it back first"
            )
        self._stamp = self.stamp()
        return load_serving_models(self.config, self.storage, self.spec)

    def _run_writing(self) -> bool:
        """Whether a live run holds the data root's lock (a stale lock, its run gone, does not count)
        or a promotion's switch has not committed (the files may be a mix until it is rolled back)."""
        if switch_pending(self.storage):
            return True
        lock = read_lock(self.storage)
        return lock is not None and stale_reason(lock, self.config.backend.lock_stale_after_s) is None

    def poll(self, current_key: str) -> ServingModels | None:
        """The data root's models if they changed since the last load and no run is writing them;
        None otherwise (also when the files changed back to the models in use)."""
        if self.stamp() == self._stamp or self._run_writing():
            return None
        models = self.load()
        return None if models.key == current_key else models
