"""Blob storage helpers for the Azure backend (credentials come from the environment, see
:func:`itb.storage.url.azure_storage_options`)."""

from __future__ import annotations

from itb.storage.url import AZURE_PROTOCOLS, filesystem, protocol_of


def ensure_container(data_root: str) -> None:
    """Create the Blob container of an ``abfs://container/...`` data root if it is missing.

    adlfs treats folders as implicit and its ``makedirs`` is a no-op, so the first write into a
    container that does not exist fails; terraform creates the real one, this covers Azurite and
    fresh development accounts.
    """
    if protocol_of(data_root) not in AZURE_PROTOCOLS:
        return
    fs, path = filesystem(data_root)
    container = path.strip("/").split("/", 1)[0]
    if not fs.exists(container):
        fs.mkdir(container, create_parents=True)
