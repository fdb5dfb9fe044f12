"""How many stage runs at once, and how many threads each: explicit values, the config, defaults."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from itb.config.models import BackendSettings


def resolve_parallelism(
    settings: BackendSettings,
    default_workers: int | None,
    workers: int | None = None,
    threads: int | None = None,
) -> tuple[int, int]:
    """``(workers, threads per stage run)``: explicit values, then the config, then defaults.

    Workers default to the backend's preference or the CPU count; threads to CPU count / workers
    (so parallel stages never oversubscribe the machine: one thread each on 2 cores).
    """
    workers = workers or settings.workers or default_workers or os.cpu_count() or 1
    threads = threads or settings.threads or max(1, (os.cpu_count() or 1) // workers)
    return workers, threads
