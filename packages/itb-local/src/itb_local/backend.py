"""Run each stage as a child process: the ``itb stage run ...`` entry point a container runs.

Two ways to start that process (backend option ``start``):

- ``"fork"`` (the default where ``os.fork`` exists): a per-run fork server (:mod:`itb_local.zygote`)
  imports polars, numpy, pydantic and itb once and forks a child per stage run. The child runs
  the same entry point with the same arguments, environment, working directory and log file, in
  its own session, but starts in milliseconds instead of half a second.
- ``"exec"``: ``python -m itb stage run ...`` for every stage run. Used when ``fork`` is not
  available, when the fork server cannot start, and for a stage run whose thread count differs
  from the one the fork server was started with (thread pools read it at import).

Children run in their own process group, so ``cancel`` (timeouts, Ctrl-C in the runner) can stop a
stage together with anything it started: SIGTERM first, SIGKILL after a grace period. Output goes
to a log file per stage run, read back by ``logs``. Thread counts are passed through the
environment before anything is imported (polars and OpenBLAS read them at import).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from itb.backends import Backend, PollResult, StageRunSpec
from itb.backends.base import tail_lines
from itb.threads import thread_env

from itb_local.options import parse_options
from itb_local.zygote import PRELOAD_ENV

GRACE_S = 5.0
#: How long the fork server may take to import its modules before the exec path is used instead.
ZYGOTE_READY_TIMEOUT_S = 60.0

log = logging.getLogger("itb.local")


class ZygoteError(RuntimeError):
    """The fork server could not start or stopped answering."""


class Zygote:
    """The parent's side of :mod:`itb_local.zygote`: start it, ask for children, collect exits."""

    def __init__(self, python: str, env: dict[str, str], threads: int) -> None:
        self.threads = threads
        self.process = subprocess.Popen(
            [python, "-c", "from itb_local.zygote import serve; serve()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            start_new_session=True,  # Ctrl-C reaches the runner only; it stops the stages
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self._in = self.process.stdin
        self._out = self.process.stdout.fileno()
        self._buffer = b""
        self._started: list[int] = []
        #: Exit codes of finished children (negative: the signal that ended them).
        self.exits: dict[int, int] = {}
        self.alive = True
        self._ready = False  # its imports run while the runner plans; the first fork waits for them

    def _ensure_ready(self) -> None:
        if self._ready:
            return
        try:
            event = self._next_event(ZYGOTE_READY_TIMEOUT_S, wanted=("ready", "error"))
        except ZygoteError:
            event = None
        if event is None or event["event"] != "ready":
            message = event["message"] if event else "no answer"
            self.alive = False
            raise ZygoteError(f"the fork server did not start: {message}")
        self._ready = True

    def _read_events(self, timeout: float) -> list[dict[str, Any]]:
        readable, _, _ = select.select([self._out], [], [], max(0.0, timeout))
        if not readable:
            return []
        data = os.read(self._out, 1 << 16)
        if not data:
            self.alive = False
            raise ZygoteError("the fork server ended unexpectedly")
        self._buffer += data
        events = []
        while b"\n" in self._buffer:
            line, self._buffer = self._buffer.split(b"\n", 1)
            event = json.loads(line)
            if event["event"] == "exited":
                self.exits[event["pid"]] = event["code"]
            elif event["event"] == "started":
                self._started.append(event["pid"])
            events.append(event)
        return events

    def _next_event(self, timeout: float, wanted: tuple[str, ...]) -> dict[str, Any] | None:
        deadline = time.monotonic() + timeout
        while True:
            for event in self._read_events(deadline - time.monotonic()):
                if event["event"] in wanted:
                    return event
            if time.monotonic() >= deadline:
                return None

    def fork(
        self, argv: list[str], env: dict[str, str], cwd: str, log_path: Path, entry: str | None = None
    ) -> int:
        """Start a child running ``entry`` (default: the ``itb`` command) with ``argv``; its pid."""
        self._ensure_ready()
        request = {
            "argv": argv,
            "env": env,
            "cwd": cwd,
            "log": str(log_path),
            "title": " ".join(["itb", *argv]),
            "entry": entry,
        }
        try:
            self._in.write((json.dumps(request) + "\n").encode())
            self._in.flush()
        except OSError as exc:
            self.alive = False
            raise ZygoteError(f"the fork server is gone: {exc}") from exc
        while not self._started:
            if not self._read_events(ZYGOTE_READY_TIMEOUT_S):
                raise ZygoteError("the fork server did not start the stage process")
        return self._started.pop(0)

    def exit_code(self, pid: int) -> int | None:
        """The child's exit code, or None while it runs (collects whatever the zygote reported)."""
        if pid not in self.exits and self.alive:
            with contextlib.suppress(ZygoteError):
                while self._read_events(0.0):
                    pass
        if pid not in self.exits and not self.alive:
            # the zygote died and cannot report any more: make sure the child is gone too
            _signal_group(pid, signal.SIGKILL)
            self.exits[pid] = -signal.SIGKILL
        return self.exits.get(pid)

    def wait(self, pid: int, timeout: float) -> int | None:
        deadline = time.monotonic() + timeout
        while (code := self.exit_code(pid)) is None and time.monotonic() < deadline:
            with contextlib.suppress(ZygoteError):
                self._read_events(min(0.05, deadline - time.monotonic()))
        return code

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._in.close()  # the zygote stops any child still running, then exits
        try:
            self.process.wait(GRACE_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


def _group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group ``pgid``, read from /proc; on a system without
    /proc, whether the group exists at all (``killpg(pgid, 0)``)."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return []
        return [pgid]
    members = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def _wait_group_gone(pgid: int, timeout: float) -> bool:
    """Wait until no live process is left in group ``pgid`` (what the stage started, too)."""
    deadline = time.monotonic() + timeout
    while _group_members(pgid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
    return True


def _signal_group(pid: int, signum: int) -> None:
    """Signal the stage's process group; a child that has not called setsid yet gets it directly."""
    try:
        os.killpg(pid, signum)
    except ProcessLookupError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)
    except PermissionError:
        pass


@dataclass
class LocalHandle:
    spec: StageRunSpec
    log_path: Path
    pid: int
    process: subprocess.Popen[bytes] | None = None  # exec path
    log_file: IO[bytes] | None = None  # exec path
    zygote: Zygote | None = None  # fork path
    exit_code: int | None = None


class LocalBackend(Backend):
    name = "local"

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        settings = parse_options(self.options)
        self.python = settings.python
        self.start = settings.start
        self.preload: list[str] = settings.preload
        self._tmp = tempfile.TemporaryDirectory(prefix="itb-local-")
        self.handles: list[LocalHandle] = []
        self._zygote: Zygote | None = None
        self._retired: list[Zygote] = []
        self._zygote_failed = False

    def prepare(self, threads: int) -> None:
        """Start the fork server now, so its imports overlap the runner's planning."""
        self._zygote_for(threads)

    def _zygote_for(self, threads: int) -> Zygote | None:
        if self.start != "fork" or self._zygote_failed:
            return None
        if self._zygote is not None and self._zygote.alive:
            return self._zygote if self._zygote.threads == threads else None
        if self._zygote is not None:  # it died: its stage runs were failed; start a new one
            self._retired.append(self._zygote)
        try:
            env = {**os.environ, **thread_env(threads)}
            if self.preload:
                env[PRELOAD_ENV] = ",".join(self.preload)
            self._zygote = Zygote(self.python, env, threads)
        except (OSError, ZygoteError) as exc:
            log.warning("starting stages with exec instead of fork: %s", exc)
            self._zygote_failed = True
            return None
        return self._zygote

    def launch(self, spec: StageRunSpec) -> LocalHandle:
        log_path = Path(self._tmp.name) / f"{spec.run_id}-{spec.task}.log"
        env = {**os.environ, **thread_env(spec.threads), **spec.env}
        argv = spec.command()[1:]
        zygote = self._zygote_for(spec.threads)
        if zygote is not None:
            try:
                pid = zygote.fork(argv, env, os.getcwd(), log_path)
            except ZygoteError as exc:
                log.warning("starting stages with exec instead of fork: %s", exc)
                self._zygote_failed = True
            else:
                handle = LocalHandle(spec, log_path, pid, zygote=zygote)
                self.handles.append(handle)
                return handle
        log_file = open(log_path, "wb")  # noqa: SIM115 - closed in poll/cancel
        process = subprocess.Popen(
            [self.python, "-m", "itb", *argv],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        handle = LocalHandle(spec, log_path, process.pid, process=process, log_file=log_file)
        self.handles.append(handle)
        return handle

    def _exit_code(self, handle: LocalHandle) -> int | None:
        if handle.exit_code is None:
            if handle.process is not None:
                handle.exit_code = handle.process.poll()
            elif handle.zygote is not None:
                handle.exit_code = handle.zygote.exit_code(handle.pid)
            if handle.exit_code is not None and handle.log_file is not None:
                handle.log_file.close()
        return handle.exit_code

    def poll(self, handle: LocalHandle) -> PollResult:
        code = self._exit_code(handle)
        if code is None:
            return PollResult("running")
        if code < 0:
            return PollResult("failed", code, f"(killed by signal {signal.Signals(-code).name})")
        return PollResult("succeeded" if code == 0 else "failed", code)

    def logs(self, handle: LocalHandle, tail: int | None = None) -> str:
        try:
            text = handle.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""
        return tail_lines(text, tail)

    def _wait(self, handle: LocalHandle, timeout: float) -> int | None:
        if handle.process is not None:
            try:
                handle.process.wait(timeout)
            except subprocess.TimeoutExpired:
                return None
        elif handle.zygote is not None:
            handle.zygote.wait(handle.pid, timeout)
        return self._exit_code(handle)

    def cancel(self, handle: LocalHandle) -> None:
        """Stop the stage and every process it started (its process group): SIGTERM, then SIGKILL
        after the grace period; returns once none of them is left running."""
        if self._exit_code(handle) is None:
            _signal_group(handle.pid, signal.SIGTERM)
            if self._wait(handle, GRACE_S) is None:
                _signal_group(handle.pid, signal.SIGKILL)
                self._wait(handle, GRACE_S)
        if not _wait_group_gone(handle.pid, GRACE_S):  # a grandchild that outlives the stage
            _signal_group(handle.pid, signal.SIGKILL)
            _wait_group_gone(handle.pid, GRACE_S)
        if handle.log_file is not None:
            handle.log_file.close()

    def describe(self, spec: StageRunSpec, estimate_s: float | None = None) -> str:
        how = "forked local process" if self.start == "fork" else "local process"
        return f"{how}: {' '.join(spec.command())} (threads={spec.threads})"

    def close(self) -> None:
        for handle in self.handles:
            self.cancel(handle)
        for zygote in [*self._retired, *([self._zygote] if self._zygote else [])]:
            zygote.close()
        self._zygote, self._retired = None, []
        self._tmp.cleanup()
