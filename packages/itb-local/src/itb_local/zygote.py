"""A fork server ("zygote") that starts stage processes without paying for imports each time.

A stage process spends about half a second importing polars, numpy, pydantic and itb before it
does any work; on a 1-year benchmark that is more than the work of most stages. The zygote is
started once per run with the run's thread settings, imports those modules, and then forks one
child per stage run. The child is a separate process in its own session, exactly like the
``python -m itb stage run ...`` process the exec path starts: it runs the same entry point
(:func:`itb.cli.main.main`) with the same arguments, environment and working directory, writes
to its own log file, and shows the stage command as its process title (``ps``, ``/proc``).

Only single-threaded state may be inherited across ``fork``: the preloaded modules start no
thread pools at import (polars builds its pool on first use, LightGBM its OpenMP team on first
use, OpenBLAS is limited by the thread settings), which is why thread counts are fixed when the
zygote starts and a stage run asking for different counts takes the exec path.

Protocol (newline-delimited JSON over the zygote's stdin and stdout):

- parent -> zygote: ``{"argv": [...], "env": {...}, "cwd": "...", "log": "...", "title": "...",
  "entry": "module:function"}`` (``entry`` defaults to the ``itb`` command's ``main``)
- zygote -> parent: ``{"event": "ready"}`` once the modules are loaded (or ``{"event": "error",
  "message": ...}`` and exit), ``{"event": "started", "pid": N}`` for every request in order, and
  ``{"event": "exited", "pid": N, "code": C}`` when a child ends (``C`` < 0: killed by signal -C).

When its stdin closes (the parent ended), the zygote stops the children still running.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import select
import signal
import sys
import time
import traceback
from typing import Any

#: Modules every stage process needs; loaded once in the zygote.
PRELOAD = (
    "itb.cli.main",
    "itb.cli.logs",
    "itb.runs.execute",
    "itb.stages.registry",
    "itb.generators.registry",
)
#: Optional modules ``import lightgbm`` loads when they are installed (pandas alone takes 1-2 s),
#: although the stages hand it numpy arrays only. The fork server hides them while it imports
#: LightGBM; they stay importable afterwards. Only here: the fork server is a process of its own
#: whose import state no library caller shares.
_LIGHTGBM_OPTIONAL = ("pandas", "dask", "dask.array", "dask.dataframe", "sklearn", "matplotlib", "graphviz")

#: More modules to import up front, comma-separated (backend option ``preload``), e.g.
#: ``sklearn.linear_model`` for configs that train many ``lc`` models.
PRELOAD_ENV = "ITB_LOCAL_PRELOAD"
#: What a child runs: ``module:function``, called with the argument list, returning the exit code.
DEFAULT_ENTRY = "itb.cli.main:main"

STOP_GRACE_S = 3.0
IDLE_AFTER_S = 0.05


def _emit(fd: int, message: dict[str, Any]) -> None:
    """Send one event to the parent. A parent that is gone (it failed validation while this server
    was still importing, say) is no error of the server's: it ends quietly, without a traceback."""
    data = (json.dumps(message) + "\n").encode()
    try:
        while data:
            data = data[os.write(fd, data) :]
    except BrokenPipeError:
        raise ParentGone from None


class ParentGone(Exception):
    """The runner closed its end of the event pipe."""


def _preload() -> None:
    extra = [name.strip() for name in os.environ.get(PRELOAD_ENV, "").split(",") if name.strip()]
    for name in (*PRELOAD, *extra):
        importlib.import_module(name)
    state = importlib.import_module("itb.stages.state")
    for stage in importlib.import_module("itb.stages.registry").STAGES.values():
        state.code_version(type(stage))  # parses and hashes each stage's modules; cached
    # Every stage run validates its config's generators: collect the plugins' generators once here.
    importlib.import_module("itb.generators.registry").generator_registry()


def _import_lightgbm() -> None:
    hidden = [name for name in _LIGHTGBM_OPTIONAL if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # makes `import name` raise ImportError
    try:
        with contextlib.suppress(ImportError):
            importlib.import_module("lightgbm")
    finally:
        for name in hidden:
            del sys.modules[name]


#: Imports done while the zygote waits for requests: only training and scoring need LightGBM,
#: and it loads while the first stages (merge, features) run instead of delaying them.
WHEN_IDLE = (_import_lightgbm,)


def _run_child(request: dict[str, Any], close_fds: list[int]) -> None:
    """The forked child: become the stage process, run the entry point, never return."""
    code = 1
    try:
        os.setsid()  # own process group: the backend stops the stage with everything it started
        signal.set_wakeup_fd(-1)
        for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, signal.SIG_DFL)
        for fd in close_fds:
            os.close(fd)
        log_fd = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        null_fd = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null_fd, 0)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.close(log_fd)
        os.close(null_fd)
        argv = list(request["argv"])
        _set_title(request.get("title") or " ".join(["itb", *argv]))
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = ["itb", *argv]
        sys.path[0] = request["cwd"]  # what `python -m itb` puts first: user modules resolve alike
        module, _, function = str(request.get("entry") or DEFAULT_ENTRY).partition(":")
        code = getattr(importlib.import_module(module), function)(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        with contextlib.suppress(BaseException):
            import logging

            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code if 0 <= code < 256 else 1)


def _set_title(title: str) -> None:
    try:
        from setproctitle import setproctitle
    except ImportError:  # an optional nicety: /proc and ps then show the zygote's command line
        return
    setproctitle(title)


def _stop_children(children: set[int]) -> None:
    for pid in children:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    while children and time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid:
            children.discard(pid)
        else:
            time.sleep(0.02)
    for pid in children:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)


def serve() -> None:
    """The zygote's main loop.

    The backend starts it as ``python -c "from itb_local.zygote import serve; serve()"``. When the
    parent goes away (its event pipe breaks), running children are stopped and the server exits.
    """
    children: set[int] = set()
    try:
        _serve(children)
    except ParentGone:
        _stop_children(children)
        os._exit(0)


def _serve(children: set[int]) -> None:
    # The protocol gets its own descriptors; stdout is pointed at stderr so that nothing printed
    # while importing (a warning, say) can corrupt it.
    requests_fd, events_fd = os.dup(0), os.dup(1)
    null_fd = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null_fd, 0)
    os.close(null_fd)
    os.dup2(2, 1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when children stop
    try:
        _preload()
    except BaseException as exc:
        _emit(events_fd, {"event": "error", "message": f"{type(exc).__name__}: {exc}"})
        return
    # Claims the whole argv + environment area now, while the environment is intact, so that the
    # children's titles (full stage command lines) fit.
    _set_title("itb-local fork server (itb_local.zygote)")
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.set_wakeup_fd(wake_w)
    _emit(events_fd, {"event": "ready"})
    buffer = b""
    idle_work = list(WHEN_IDLE)
    while True:
        # idle means no request for a moment: the first one follows "ready" within milliseconds
        readable, _, _ = select.select([requests_fd, wake_r], [], [], IDLE_AFTER_S if idle_work else None)
        if not readable and idle_work:
            idle_work.pop(0)()  # single-threaded: no fork can happen while this imports
            continue
        if wake_r in readable:
            with contextlib.suppress(BlockingIOError):
                while os.read(wake_r, 512):
                    pass
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if not pid:
                break
            children.discard(pid)
            _emit(events_fd, {"event": "exited", "pid": pid, "code": os.waitstatus_to_exitcode(status)})
        if requests_fd not in readable:
            continue
        data = os.read(requests_fd, 1 << 16)
        if not data:
            _stop_children(children)
            os._exit(0)  # nothing to flush: skip tearing the preloaded modules down
        buffer += data
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            request = json.loads(line)
            pid = os.fork()
            if pid == 0:
                _run_child(request, [requests_fd, events_fd, wake_r, wake_w])
            children.add(pid)
            _emit(events_fd, {"event": "started", "pid": pid})
