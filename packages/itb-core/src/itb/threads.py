"""Thread counts of stage runs: the one list of environment variables that carry them, and the default.

A stage run gets a thread budget (``--threads``, ``backend.threads`` or the default below). Native
thread pools read it from the environment once, when their library is imported: polars
(``POLARS_MAX_THREADS``), OpenMP in LightGBM (``OMP_NUM_THREADS``), OpenBLAS and MKL under numpy and
scipy. So a backend that starts a stage process sets :func:`thread_env` in that process's environment
(itb-local, itb-azure), and ``itb stage run`` sets it for itself before importing anything
(:func:`set_default_thread_env`). ``ITB_THREADS`` carries the budget itself to ``itb stage run``.

The default is one policy for every backend: stage runs that may run at the same time share the CPUs,
``CPU count // parallel stage runs`` threads each (one thread per stage run on a 2-core machine, where
more threads than free cores made LightGBM training ten times slower under load). A backend that runs
stages one by one in a shared process (``inprocess``) still defaults to one thread per stage run: its
caller's process is usually not alone on the machine either.
"""

from __future__ import annotations

import os

#: Variables that size the native thread pools of the libraries a stage uses (read at import).
POOL_VARIABLES = ("POLARS_MAX_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
#: The stage run's thread budget, for ``itb stage run`` (its ``--threads`` default).
BUDGET_VARIABLE = "ITB_THREADS"


def thread_env(threads: int) -> dict[str, str]:
    """The environment that gives a new stage process ``threads`` threads everywhere."""
    value = str(max(1, threads))
    return {name: value for name in (*POOL_VARIABLES, BUDGET_VARIABLE)}


def set_default_thread_env(threads: int) -> None:
    """Size this process's pools to ``threads`` unless the environment already says otherwise.

    Effective only before polars, LightGBM and numpy are imported (``itb stage run`` calls it first).
    """
    for name, value in thread_env(threads).items():
        os.environ.setdefault(name, value)


def budget_from_env(default: int = 1) -> int:
    """The thread budget ``ITB_THREADS`` gives (``default`` when unset or not a positive integer)."""
    raw = os.environ.get(BUDGET_VARIABLE, "")
    return int(raw) if raw.isdigit() and int(raw) > 0 else default


def threads_per_stage(workers: int, cpu_count: int | None = None) -> int:
    """The default budget of one stage run when ``workers`` stage runs may run at once."""
    cpus = cpu_count if cpu_count is not None else (os.cpu_count() or 1)
    return max(1, cpus // max(1, workers))
