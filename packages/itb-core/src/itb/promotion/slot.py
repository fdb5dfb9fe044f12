"""The candidate slot: where ``itb run --candidate`` trains, ``models/candidates/<run_id>/``.

A slot is laid out like a data root (its models under ``models/``), so a candidate is written,
loaded and scored by the same code as the live models, only through another :class:`Storage`.
"""

from __future__ import annotations

from itb import datasets
from itb.config.models import PipelineConfig
from itb.models.trained import model_files, model_name
from itb.promotion.switch import PREVIOUS_FOLDER
from itb.storage.store import Storage

CANDIDATES_FOLDER = f"{datasets.MODELS_FOLDER}/candidates"


def slot_prefix(run_id: str) -> str:
    """The slot of run ``run_id``, relative to the data root."""
    return f"{CANDIDATES_FOLDER}/{run_id}"


def slot_storage(storage: Storage, run_id: str) -> Storage:
    """The slot of run ``run_id`` as a data root of its own."""
    return Storage(f"{storage.root_url.rstrip('/')}/{slot_prefix(run_id)}")


def model_set_files(config: PipelineConfig) -> list[str]:
    """Every file of the config's model set (``train.labels`` x ``train.algorithms``), root-relative."""
    return [
        f
        for label in config.train.labels
        for a in config.train.algorithms
        for f in model_files(model_name(label, a.name), a)
    ]


def model_set_names(config: PipelineConfig) -> list[str]:
    return [model_name(label, a.name) for label in config.train.labels for a in config.train.algorithms]


def candidate_runs(storage: Storage) -> list[str]:
    """Run ids with a candidate slot, oldest first (run ids sort by time)."""
    return runs_under(storage, CANDIDATES_FOLDER)


def runs_under(storage: Storage, folder: str) -> list[str]:
    """Run ids with a folder under ``folder`` (``<folder>/<run_id>/...``), oldest first."""
    depth = folder.count("/") + 1
    return sorted({n.split("/")[depth] for n in storage.list(folder) if n.count("/") > depth})


def prune_slots(storage: Storage, keep: int, current: str) -> list[str]:
    """Delete all but the newest ``keep`` candidate slots and replaced model sets (never run
    ``current``'s); returns the folders deleted, root-relative."""
    deleted = []
    for folder in (CANDIDATES_FOLDER, PREVIOUS_FOLDER):
        runs = runs_under(storage, folder)
        for run in runs[: max(0, len(runs) - keep)]:
            if run != current:
                storage.delete(f"{folder}/{run}")
                deleted.append(f"{folder}/{run}")
    return deleted
