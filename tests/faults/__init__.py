"""Test-only fault injection for the kill tests, with nothing in itb's write path.

A test that must kill a writer between "temporary file complete" and "renamed into place" starts
its ``itb`` processes with :func:`pause_before_commit`'s environment: this folder goes on
``PYTHONPATH``, so every Python process of the run (the runner, the fork server, each stage)
imports :mod:`sitecustomize` from here at start-up, which adds an audit hook (PEP 578) that sleeps
on the ``os.rename`` event (raised by ``os.replace``) of the named file, or with
:func:`pause_before_remove` on its ``os.remove`` event (an in-place append's commit removes its
marker). The hook only watches; it changes no function of itb or of the standard library.
"""

from __future__ import annotations

import os
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: ``NAME:SECONDS``: the commit (rename) of a file whose path ends with ``/NAME`` waits SECONDS.
PAUSE_ENV = "ITB_TEST_PAUSE_BEFORE_RENAME"
#: ``NAME:SECONDS``: removing a file whose path ends with ``/NAME`` waits SECONDS.
PAUSE_REMOVE_ENV = "ITB_TEST_PAUSE_BEFORE_REMOVE"


def pause_before_commit(name: str, seconds: float) -> dict[str, str]:
    """Environment additions that hold the commit of ``name`` (a storage-relative path) for ``seconds``."""
    path = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH", "")) if p)
    return {PAUSE_ENV: f"{name}:{seconds:g}", "PYTHONPATH": path}


def pause_before_remove(name: str, seconds: float) -> dict[str, str]:
    """Environment additions that hold the removal of ``name`` (a storage-relative path) for ``seconds``."""
    path = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH", "")) if p)
    return {PAUSE_REMOVE_ENV: f"{name}:{seconds:g}", "PYTHONPATH": path}
