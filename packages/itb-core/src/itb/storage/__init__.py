"""Storage over fsspec URLs: local paths, ``file://``, ``memory://``, ``abfs://`` (with adlfs).

Every write is atomic and returns a content fingerprint; see :class:`itb.storage.store.Storage`.
"""

from itb.storage.store import Storage, WriteResult

__all__ = ["Storage", "WriteResult"]
