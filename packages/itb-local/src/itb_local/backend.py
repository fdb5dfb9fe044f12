"""Run each stage as a child process: ``python -m itb stage run ...``.

Children run in their own process group, so ``cancel`` (timeouts, Ctrl-C in the runner) can stop a
stage together with anything it started: SIGTERM first, SIGKILL after a grace period. Output goes
to a log file per stage run, read back by ``logs``. Thread counts are passed through the
environment before the child imports anything (polars and LightGBM read them at start-up).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from itb.backends import Backend, PollResult, StageRunSpec
from itb.backends.base import tail_lines

GRACE_S = 5.0


def thread_env(threads: int) -> dict[str, str]:
    value = str(threads)
    return {
        "POLARS_MAX_THREADS": value,
        "OMP_NUM_THREADS": value,
        "OPENBLAS_NUM_THREADS": value,
        "MKL_NUM_THREADS": value,
        "ITB_THREADS": value,
    }


@dataclass
class LocalHandle:
    spec: StageRunSpec
    process: subprocess.Popen[bytes]
    log_path: Path
    log_file: IO[bytes]


class LocalBackend(Backend):
    name = "local"

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self.python = str(self.options.get("python", sys.executable))
        self._tmp = tempfile.TemporaryDirectory(prefix="itb-local-")
        self.handles: list[LocalHandle] = []

    def launch(self, spec: StageRunSpec) -> LocalHandle:
        log_path = Path(self._tmp.name) / f"{spec.run_id}-{spec.task}.log"
        log_file = open(log_path, "wb")  # noqa: SIM115 - closed in poll/cancel
        env = {**os.environ, **thread_env(spec.threads), **spec.env}
        command = [self.python, "-m", "itb", *spec.command()[1:]]
        process = subprocess.Popen(
            command,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        handle = LocalHandle(spec, process, log_path, log_file)
        self.handles.append(handle)
        return handle

    def poll(self, handle: LocalHandle) -> PollResult:
        code = handle.process.poll()
        if code is None:
            return PollResult("running")
        handle.log_file.close()
        if code < 0:
            return PollResult("failed", code, f"(killed by signal {signal.Signals(-code).name})")
        return PollResult("succeeded" if code == 0 else "failed", code)

    def logs(self, handle: LocalHandle, tail: int | None = None) -> str:
        try:
            text = handle.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""
        return tail_lines(text, tail)

    def cancel(self, handle: LocalHandle) -> None:
        process = handle.process
        if process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(GRACE_S)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            except ProcessLookupError:
                pass
        handle.log_file.close()

    def describe(self, spec: StageRunSpec) -> str:
        return f"local process: {' '.join(spec.command())} (threads={spec.threads})"

    def close(self) -> None:
        for handle in self.handles:
            self.cancel(handle)
        self._tmp.cleanup()
