"""The ``inprocess`` backend: runs each stage in the calling process, one after another.

For library use and notebooks where spawning processes is unwanted; it runs the very same stage
code as ``itb stage run``. Logs are captured per stage.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from typing import Any

from itb import secret_refs
from itb.backends.base import Backend, BackendInfo, PollResult, StageRunSpec, tail_lines
from itb.plugins.hookspecs import hookimpl


@dataclass
class _Done:
    spec: StageRunSpec
    exit_code: int
    log: str


class InProcessBackend(Backend):
    name = "inprocess"

    def launch(self, spec: StageRunSpec) -> _Done:
        from itb.runs.execute import execute_stage

        buffer = io.StringIO()
        handler = logging.StreamHandler(buffer)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.addFilter(secret_refs.RedactingFilter())  # captured logs mask secrets as a process's do
        logger = logging.getLogger("itb")
        logger.addHandler(handler)
        level = logger.level
        logger.setLevel(logging.INFO)
        try:
            code = execute_stage(spec.data_root, spec.run_id, spec.stage, spec.threads, step=spec.step)
        finally:
            logger.removeHandler(handler)
            logger.setLevel(level)
        return _Done(spec, code, buffer.getvalue())

    def poll(self, handle: Any) -> PollResult:
        return PollResult("succeeded" if handle.exit_code == 0 else "failed", handle.exit_code)

    def logs(self, handle: Any, tail: int | None = None) -> str:
        return tail_lines(handle.log, tail)

    def cancel(self, handle: Any) -> None:
        """Nothing to stop: a launched in-process stage has already finished."""


@hookimpl
def itb_backends() -> list[BackendInfo]:
    return [
        BackendInfo(
            "inprocess", InProcessBackend, "run stages one by one in this process", 1, default_threads=1
        )
    ]
