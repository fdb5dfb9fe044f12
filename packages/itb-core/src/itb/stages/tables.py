"""Reading the tables several stages share, by their dataset names."""

from __future__ import annotations

from itb import datasets
from itb.compute.training import TrainingTable, training_table
from itb.config.models import PipelineConfig
from itb.storage.store import Storage


def read_training_table(config: PipelineConfig, storage: Storage) -> TrainingTable:
    """The features and labels tables joined and split (see :func:`itb.compute.training.training_table`)."""
    return training_table(
        config, storage.read_parquet(datasets.FEATURES), storage.read_parquet(datasets.LABELS)
    )
