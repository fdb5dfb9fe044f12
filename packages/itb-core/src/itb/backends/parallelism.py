"""How many stage runs at once, and how many threads each: explicit values, the config, defaults."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from itb.threads import threads_per_stage

if TYPE_CHECKING:
    from itb.config.models import BackendSettings


def resolve_parallelism(
    settings: BackendSettings,
    default_workers: int | None,
    workers: int | None = None,
    threads: int | None = None,
    default_threads: int | None = None,
) -> tuple[int, int]:
    """``(workers, threads per stage run)``: explicit values, then the config, then defaults.

    Workers default to the backend's preference or the CPU count; threads to the backend's
    preference or CPU count / workers (so parallel stages never oversubscribe the machine: one
    thread each on 2 cores; :func:`itb.threads.threads_per_stage`).
    """
    workers = workers or settings.workers or default_workers or os.cpu_count() or 1
    threads = threads or settings.threads or default_threads or threads_per_stage(workers)
    return workers, threads
