"""A stage process's stdout and stderr, with secret values masked before they reach its log.

Stage code, user functions and native libraries write to file descriptors 1 and 2, which a backend
points at the stage's log (itb-local: a file that the runner stores under the data root; ACI: the
container log). :func:`masked_stdio` puts a pipe in front of each descriptor for the duration of a
stage; a thread reads it, masks every value the stage's secret scope knows
(:func:`itb.secret_refs.redact`) line by line, and writes the result to where the descriptor pointed.
So ``print(token)``, a foreign logger or a C library's message never stores the value.

Only for a process of its own (``itb stage run``): it rewires the process's descriptors, which a
library call inside someone else's process (the ``inprocess`` backend) must not do.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator

from itb import secret_refs

#: A line longer than this is masked and written in pieces; the last :data:`OVERLAP` bytes stay
#: behind so that a value cut by a piece boundary is still found.
MAX_LINE = 1 << 20
OVERLAP = 4096
#: How long the end of a stage waits for the masking threads to write what is left.
DRAIN_TIMEOUT_S = 10.0


def mask_bytes(data: bytes) -> bytes:
    text = data.decode("utf-8", errors="surrogateescape")
    return secret_refs.redact(text).encode("utf-8", errors="surrogateescape")


def _pump(source: int, target: int) -> None:
    """Copy ``source`` to ``target`` line by line, masked, until end of file."""
    pending = b""
    while True:
        try:
            data = os.read(source, 1 << 16)
        except OSError:
            data = b""
        if not data:
            break
        pending += data
        cut = pending.rfind(b"\n") + 1
        if not cut and len(pending) > MAX_LINE:
            cut = len(pending) - OVERLAP
        if cut:
            _write_all(target, mask_bytes(pending[:cut]))
            pending = pending[cut:]
    if pending:
        _write_all(target, mask_bytes(pending))
    os.close(source)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except OSError:
            return  # the log is gone: nothing sensible to do with the output


@contextlib.contextmanager
def masked_stdio(fds: tuple[int, ...] = (1, 2)) -> Iterator[None]:
    """Mask secret values in everything written to ``fds`` inside the block (see the module doc).

    Call it inside the stage's secret scope: the last lines are masked before the values are
    forgotten.
    """
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    routes: list[tuple[int, int, threading.Thread]] = []
    try:
        for fd in fds:
            original = os.dup(fd)
            read_end, write_end = os.pipe()
            os.dup2(write_end, fd)
            os.close(write_end)
            thread = threading.Thread(
                target=_pump, args=(read_end, original), name=f"itb-mask-fd{fd}", daemon=True
            )
            thread.start()
            routes.append((fd, original, thread))
        yield
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        for fd, original, _ in routes:
            os.dup2(original, fd)  # closes our write end: the pump sees end of file
        for _, original, thread in routes:
            # A child process the stage left running may hold the pipe open: do not wait forever.
            thread.join(DRAIN_TIMEOUT_S)
            if not thread.is_alive():
                os.close(original)
