"""Process-wide settings for the ``itb stage run`` command (never for library calls).

Only the CLI entry point may change how its whole process behaves: :func:`itb.runs.execute.execute_stage`
also runs inside other programs (the in-process backend, notebooks, tests), which must not inherit
a changed allocator.
"""

from __future__ import annotations

import ctypes
import sys

#: glibc ``mallopt`` parameters: M_TRIM_THRESHOLD, M_MMAP_THRESHOLD.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def tune_malloc() -> None:
    """Keep freed memory in the process instead of handing it back to the kernel at once.

    Stages allocate and free column-sized numpy arrays (megabytes) by the hundred. glibc serves each
    from a fresh ``mmap`` and unmaps it on free, so every array pays a page fault per 4 KiB page:
    a third of the simulate grid's time, for instance. Serving them from the heap and trimming it
    only past 256 MiB free lets later arrays reuse warm pages. Peak memory stays the same (freed
    blocks are reused, not added). A no-op where the C library is not glibc.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    mallopt(_M_MMAP_THRESHOLD, 32 << 20)  # the largest value glibc accepts on 64-bit
    mallopt(_M_TRIM_THRESHOLD, 256 << 20)
