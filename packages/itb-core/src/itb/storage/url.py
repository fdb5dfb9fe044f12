"""Small helpers to reach any fsspec URL the same way as a local path."""

from __future__ import annotations

import os
from typing import Any

import fsspec
from fsspec.core import url_to_fs

Filesystem = Any  # fsspec.AbstractFileSystem; fsspec ships no type information


def filesystem(url: str, **options: Any) -> tuple[Filesystem, str]:
    """Return ``(filesystem, path)`` for a URL or a local path (relative paths are made absolute)."""
    if "://" not in url:
        url = os.path.abspath(url)
    fs, path = url_to_fs(url, **options)
    return fs, path


def read_text(url: str) -> str:
    with fsspec.open(url if "://" in url else os.path.abspath(url), "r", encoding="utf-8") as handle:
        return str(handle.read())


def join(base: str, *parts: str) -> str:
    out = base.rstrip("/")
    for part in parts:
        out = f"{out}/{part.strip('/')}"
    return out
