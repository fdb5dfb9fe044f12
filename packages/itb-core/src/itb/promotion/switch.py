"""Switching the live model set to a candidate's as a whole, or not at all.

A model set is several files and no store renames several files at once, so the switch keeps a
journal (``models/promotion-journal.json``): it is written first (naming the files and whether each
existed), the live files are copied to ``models/previous/<run_id>/``, the candidate's files are
written over the live ones (each write atomic), and deleting the journal is the commit. While the
journal exists the live files may be a mix: readers that switch models
(:class:`itb.serve.model_watch.ModelWatch`) wait, and :func:`roll_back` (run by the next promotion,
or by hand through ``itb promote``) restores the old set from the copies. A killed switch therefore
ends with the old models, never half of each.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from itb import datasets
from itb.storage.store import Storage

JOURNAL = f"{datasets.MODELS_FOLDER}/promotion-journal.json"
PREVIOUS_FOLDER = f"{datasets.MODELS_FOLDER}/previous"


class Journal(BaseModel):
    """A switch in progress: which files it replaces, which existed before, where their copies are."""

    model_config = ConfigDict(extra="forbid")

    run_id: str
    files: list[str]
    existed: list[str]
    backup: str


def switch_pending(storage: Storage) -> bool:
    """Whether a switch started and did not commit (the live files may be a mix)."""
    return storage.exists(JOURNAL)


def switch_models(storage: Storage, candidate: Storage, files: list[str], run_id: str) -> None:
    """Make the live ``files`` the candidate's (same root-relative names under ``candidate``).

    The caller holds the data root's run lock. Nothing here catches an interruption: the journal
    left behind is what makes :func:`roll_back` possible.
    """
    if switch_pending(storage):
        roll_back(storage)
    existed = [f for f in files if storage.exists(f)]
    journal = Journal(run_id=run_id, files=files, existed=existed, backup=f"{PREVIOUS_FOLDER}/{run_id}")
    storage.delete(journal.backup)  # copies of an earlier attempt would restore the wrong files
    storage.write_json(JOURNAL, journal.model_dump(mode="json"))
    for name in existed:
        storage.write_bytes(f"{journal.backup}/{name}", storage.read_bytes(name))
    for name in files:
        storage.write_bytes(name, candidate.read_bytes(name))
    storage.delete(JOURNAL)  # the commit: from here on the new set is the live one


def roll_back(storage: Storage) -> Journal | None:
    """Undo an uncommitted switch: restore every file it may have replaced. None when none pending."""
    if not switch_pending(storage):
        return None
    journal = Journal.model_validate(storage.read_json(JOURNAL))
    for name in journal.files:
        copy = f"{journal.backup}/{name}"
        if name not in journal.existed:
            storage.delete(name)
        elif storage.exists(copy):
            storage.write_bytes(name, storage.read_bytes(copy))
        # else: killed while copying, before this file was replaced: it is still the old one
    storage.delete(JOURNAL)
    return journal


def forget_switch(storage: Storage) -> None:
    """Drop an unfinished switch's journal without restoring anything: for a writer that has just
    replaced the whole live set itself (the train stage), which a roll-back would undo."""
    storage.delete(JOURNAL)
