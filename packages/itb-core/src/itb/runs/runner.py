"""The core runner: walk the stage graph, launch ready stages on a backend, collect results.

Stages whose dependencies are done are launched (up to ``workers`` at once); an up-to-date stage
is skipped without launching anything. A failed stage stops its dependents, and its log tail is
shown. A multi-symbol config runs one stage graph per symbol, interleaved: a failure stops only
that symbol's dependents. The manifest is rewritten after every change, so an interrupted run
still tells its story.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from itb.backends.base import Backend, StageRunSpec
from itb.backends.parallelism import resolve_parallelism
from itb.config.models import PipelineConfig
from itb.errors import ConfigError, ItbError
from itb.plugins.manager import create_backend
from itb.promotion.records import PromotionDecision
from itb.runs.execute import result_name
from itb.runs.ids import new_run_id, run_prefix, utc_now
from itb.runs.lock import RunLock
from itb.runs.manifest import (
    BlockedBy,
    RunManifest,
    RunStatus,
    RunWarning,
    StageRecord,
    StageSection,
    StageStatus,
    StepRecord,
    SymbolSection,
    config_hash,
    new_manifest,
    write_manifest,
)
from itb.runs.plan import PlanLane, plan_lines
from itb.stages.registry import STAGES, downstream, get_stage, planned_stages
from itb.stages.state import read_state, up_to_date
from itb.storage.store import Storage, StorageError
from itb.storage.url import check_data_root

LOG_TAIL_LINES = 30
#: How often running stage runs are checked (a backend rate-limits its own remote calls).
POLL_INTERVAL_S = 0.005
#: Exit codes of a run stopped by Ctrl-C (SIGINT) and by SIGTERM: 128 + the signal number.
EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143


class Terminated(BaseException):
    """SIGTERM arrived: stop like Ctrl-C does (a BaseException, so no ``except Exception`` eats it)."""


@dataclass
class StageEvent:
    stage: str
    status: StageStatus
    record: StageRecord
    #: The symbol of a multi-symbol run the stage belongs to; None for a single-symbol config.
    symbol: str | None = None


@dataclass
class RunResult:
    run_id: str
    status: RunStatus
    manifest: RunManifest
    #: The data root as opened by the run; None for a dry run (it may not be reachable yet).
    opened: Storage | None

    @property
    def storage(self) -> Storage:
        """The run's data root (opened on first use after a dry run)."""
        if self.opened is None:
            self.opened = Storage(self.manifest.data_root)
        return self.opened

    @property
    def ok(self) -> bool:
        return self.status == RunStatus.SUCCEEDED

    @property
    def exit_code(self) -> int:
        """0 succeeded (or a dry run); 2 when a stage failed on bad input (its own exit code 2:
        unusable data or config); 1 when a stage failed otherwise."""
        if self.status in (RunStatus.SUCCEEDED, RunStatus.DRY_RUN):
            return 0
        codes = {
            rec.exit_code for _, _, rec in self.manifest.all_stages() if rec.status == StageStatus.FAILED
        }
        return 2 if 2 in codes else 1


Reporter = Callable[[StageEvent], None]


def resolve_data_root(config: PipelineConfig, override: str | None) -> str:
    root = override or config.data_root
    return root if "://" in root else os.path.abspath(root)


def select_stages(config: PipelineConfig, only: list[str] | None, start: str | None) -> list[str]:
    """The stages to run: all that the config needs, or those named by --only / --from.

    A named stage that this config does not need (``rolling`` not configured, say) is an error:
    running nothing and reporting success, or running other stages instead, would mislead.
    """
    if only and start:
        raise ConfigError("use either --only or --from, not both")
    planned = planned_stages(config)
    for name in [*(only or []), *([start] if start else [])]:
        get_stage(name)
        if name not in planned:
            raise ConfigError(
                f"stage {name!r} is not part of this config's pipeline (it runs: {', '.join(planned)})"
            )
    if only:
        chosen = set(only)
    elif start:
        chosen = set(downstream(start))
    else:
        chosen = set(planned)
    return [s for s in planned if s in chosen]


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While the run goes, SIGTERM raises :class:`Terminated` in the main thread, so the run stops
    its stages and records them as interrupted instead of dying with the manifest ``running``."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_pipeline(
    config: PipelineConfig,
    *,
    backend: str | Backend | None = None,
    data_root: str | None = None,
    force: bool = False,
    only: list[str] | None = None,
    start: str | None = None,
    dry_run: bool = False,
    workers: int | None = None,
    threads: int | None = None,
    config_source: str | None = None,
    reporter: Reporter | None = None,
    wait: bool = False,
    break_lock: bool = False,
    on_lock_wait: Callable[[Any], None] | None = None,
) -> RunResult:
    """Run the pipeline (or the selected stages) on a backend and return its manifest.

    A config with ``symbols`` runs once per symbol under one run id: each symbol's stages run with
    its own config (:meth:`PipelineConfig.for_symbol`) and data root, the symbols' stage graphs
    interleaved so that their ready stages run in parallel (up to ``workers``). The manifest then
    has a section per symbol (``manifest.symbols[SYMBOL].stages``) instead of ``stages``.

    The run holds the data root's lock (:mod:`itb.runs.lock`) from before its first write to the
    end: a second run on the same root raises :class:`itb.runs.lock.LockHeld` (or waits, ``wait``).
    SIGTERM stops it like Ctrl-C: stages are stopped and recorded, then :class:`Terminated` is raised.
    """
    for name, value in (("workers", workers), ("threads", threads)):
        if value is not None and value < 1:
            raise ConfigError(f"--{name} must be at least 1 (got {value})")
    root = resolve_data_root(config, data_root)
    check_data_root(root)
    root_source = "--data-root" if data_root else "data_root"
    config = config.model_copy(update={"data_root": root})
    backend_name = backend if isinstance(backend, str) else (backend.name if backend else config.backend.name)
    if isinstance(backend, Backend):
        engine, default_workers, default_threads = backend, None, None
    else:
        engine, info = create_backend(backend_name, config.backend.options.get(backend_name))
        default_workers, default_threads = info.default_workers, info.default_threads
    lock: RunLock | None = None
    try:  # whatever happens, the backend releases what it started (a fork server, say)
        engine.check_data_root(root, root_source)
        workers, threads = resolve_parallelism(
            config.backend, default_workers, workers, threads, default_threads
        )
        targets: list[tuple[str | None, PipelineConfig]] = (
            [(symbol, config.for_symbol(symbol)) for symbol in config.symbols]
            if config.symbols
            else [(None, config)]
        )
        selected = select_stages(targets[0][1], only, start)
        run_id = new_run_id()
        manifest = new_manifest(run_id, config, backend_name, root, config_source, utc_now(), os.getpid())
        manifest.selected, manifest.workers, manifest.threads_per_stage = selected, workers, threads
        if dry_run:  # before opening the data root: a plan works before anything is set up
            manifest.status = RunStatus.DRY_RUN
            if config.symbols:
                manifest.symbols = {
                    symbol: SymbolSection(data_root=c.data_root, config_hash=config_hash(c),
                                          status=RunStatus.DRY_RUN)
                    for symbol, c in targets if symbol is not None
                }  # fmt: skip
            plan_lanes = [PlanLane(symbol, lane_config) for symbol, lane_config in targets]
            manifest.plan, manifest.plan_notes = plan_lines(
                engine, run_id, root, plan_lanes, selected, threads, manifest.config_hash, force
            )
            return RunResult(run_id, RunStatus.DRY_RUN, manifest, None)
        storage = Storage(root)
        lanes: list[_Lane] = []
        for symbol, lane_config in targets:
            section: StageSection
            if symbol is None:
                section, lane_storage = manifest, storage
            else:
                section = SymbolSection(data_root=lane_config.data_root, config_hash=config_hash(lane_config))
                if manifest.symbols is None:
                    manifest.symbols = {}
                manifest.symbols[symbol] = section
                lane_storage = Storage(lane_config.data_root)
            lanes.append(_Lane(symbol, lane_config, lane_storage, section, list(selected)))
        lock = RunLock.acquire(
            storage,
            run_id,
            wait=wait,
            break_lock=break_lock,
            stale_after_s=config.backend.lock_stale_after_s,
            on_wait=on_lock_wait,
        )
        storage.remove_stale_temporaries()  # we hold the lock: no other writer is at work
        storage.write_json(f"{run_prefix(run_id)}/config.json", config.model_dump(mode="json"))
        for lane in lanes:
            if lane.symbol is not None:  # what the symbol's stage runs read: its own config
                lane.storage.write_json(
                    f"{run_prefix(run_id)}/config.json", lane.config.model_dump(mode="json")
                )
        engine.prepare(threads)
        runner = _Runner(storage, engine, manifest, lanes, selected, workers, threads, force, reporter)
        with sigterm_as_interrupt():
            runner.run()
        return RunResult(run_id, manifest.status, manifest, storage)
    finally:
        try:
            engine.close()
        finally:
            if lock is not None:
                lock.release()


@dataclass(eq=False)
class _Lane:
    """One symbol's stage graph (the only one of a single-symbol run) and its progress."""

    symbol: str | None
    config: PipelineConfig
    storage: Storage
    #: The manifest part holding this lane's ``stages``: the manifest itself for a single symbol.
    section: StageSection
    #: Stages not started yet.
    pending: list[str]
    status: dict[str, StageStatus] = field(default_factory=dict)
    #: Steps of a fanned-out stage that have not succeeded yet.
    steps_left: dict[str, set[str]] = field(default_factory=dict)
    stage_started: dict[str, float] = field(default_factory=dict)

    @property
    def stages(self) -> dict[str, StageRecord]:
        return self.section.stages


@dataclass(eq=False)
class _Task:
    """One stage run to launch: a whole stage, one step of a fanned-out stage, or its finalize run."""

    lane: _Lane
    stage: str
    step: str | None = None
    finalize: bool = False  # the run that joins the steps' outputs (``step`` is None)

    @property
    def name(self) -> str:
        """Unique within the lane (names its log under the lane's data root)."""
        return self.stage if self.step is None else f"{self.stage}.{self.step}"

    @property
    def key(self) -> str:
        """Unique within the run."""
        return self.name if self.lane.symbol is None else f"{self.name}@{self.lane.symbol}"


@dataclass
class _Running:
    task: _Task
    handle: Any
    launched: float


@dataclass(frozen=True)
class _Ready:
    """A pending stage whose dependencies are all done."""


@dataclass(frozen=True)
class _Waiting:
    """A pending stage with a dependency still running."""


_READY, _WAITING = _Ready(), _Waiting()
#: The record fields a stage run's result file may set (the rest of it names the run).
_RESULT_FIELDS = set(StepRecord.model_fields) - {"status"}


class _Runner:
    def __init__(
        self,
        storage: Storage,
        backend: Backend,
        manifest: RunManifest,
        lanes: list[_Lane],
        selected: list[str],
        workers: int,
        threads: int,
        force: bool,
        reporter: Reporter | None,
    ) -> None:
        self.storage, self.backend, self.manifest, self.lanes = storage, backend, manifest, lanes
        self.selected, self.workers, self.threads, self.force = selected, workers, threads, force
        self.report = reporter or (lambda event: None)
        self.run_id: str = manifest.run_id
        #: Launched stage runs by task key (a stage, or ``stage.step``, with ``@SYMBOL``).
        self.running: dict[str, _Running] = {}
        #: Tasks of stages already started, waiting for a free worker (steps, then finalize runs).
        self.queue: list[_Task] = []

    # --- bookkeeping ---------------------------------------------------------------------------
    def _save(self) -> None:
        write_manifest(self.storage, self.manifest)

    def _record(self, lane: _Lane, stage: str, status: StageStatus, **fields: Any) -> StageRecord:
        old = lane.stages.get(stage)
        merged = {**(old.model_dump() if old else {}), **fields, "status": status}
        record = lane.stages[stage] = StageRecord.model_validate(merged)
        lane.status[stage] = status
        self._save()
        self.report(StageEvent(stage, status, record, lane.symbol))
        return record

    def _deps_state(self, lane: _Lane, stage: str) -> _Ready | _Waiting | BlockedBy:
        """Ready, waiting, or blocked (a dependency failed, was interrupted or has no outputs)."""
        for dep in STAGES[stage].deps:
            if not STAGES[dep].applicable(lane.config):
                continue
            if dep not in self.selected:
                if read_state(lane.storage, dep) is None:
                    return BlockedBy(stage=dep, reason="no_outputs")
                continue
            state = lane.status.get(dep)
            if state in (StageStatus.FAILED, StageStatus.NOT_RUN):
                return BlockedBy(stage=dep, reason="failed")
            if state == StageStatus.INTERRUPTED:
                return BlockedBy(stage=dep, reason="interrupted")
            if state not in (StageStatus.SUCCEEDED, StageStatus.SKIPPED):
                return _WAITING
        return _READY

    def _candidates(self) -> list[tuple[_Lane, str]]:
        """Stages not started yet, in graph order, the symbols' stages of one rank side by side."""
        order = {name: i for i, name in enumerate(self.selected)}
        pairs = [
            (order[stage], k, lane, stage) for k, lane in enumerate(self.lanes) for stage in lane.pending
        ]
        return [(lane, stage) for _, _, lane, stage in sorted(pairs, key=lambda p: (p[0], p[1]))]

    # --- the loop ------------------------------------------------------------------------------
    def run(self) -> None:
        self._save()
        try:
            while any(lane.pending for lane in self.lanes) or self.queue or self.running:
                self._drain_queue()
                for lane, stage in self._candidates():
                    if len(self.running) >= self.workers:
                        break
                    state = self._deps_state(lane, stage)
                    if state is _WAITING:
                        continue
                    lane.pending.remove(stage)
                    if isinstance(state, BlockedBy):
                        reason = (
                            f"not run: {state.stage} has no outputs yet (run it first)"
                            if state.reason == "no_outputs"
                            else f"not run: {state.stage} {state.reason}"
                        )
                        self._record(lane, stage, StageStatus.NOT_RUN, error=reason, blocked_by=state)
                        continue
                    self._start(lane, stage)
                    self._drain_queue()
                if self.running:
                    self._poll()
                    time.sleep(POLL_INTERVAL_S)
        except (KeyboardInterrupt, Terminated) as exc:
            self._stop_all("Ctrl-C" if isinstance(exc, KeyboardInterrupt) else "SIGTERM")
            raise
        except StorageError as exc:  # the run's own bookkeeping cannot write: stop, say why, once
            self._stop_all(None)
            self.manifest.status = RunStatus.FAILED
            self.manifest.finished_at = utc_now()
            with contextlib.suppress(ItbError, OSError):
                self._save()
            raise exc from None
        self._close()

    def _stop_all(self, signal_name: str | None) -> None:
        """Stop every running stage run and record it (interrupted by a signal, or failed)."""
        self.queue.clear()
        for key, running in list(self.running.items()):
            self.backend.cancel(running.handle)
            if key in self.running and signal_name is not None:  # not already finished as a sibling
                with contextlib.suppress(ItbError, OSError):
                    self._finish(running, interrupted=signal_name)
        self.running.clear()
        if signal_name is None:  # the run cannot write: mark, do not save (the caller tries once)
            for lane in self.lanes:
                for stage, status in list(lane.status.items()):
                    if status == StageStatus.RUNNING:
                        record = lane.stages[stage]
                        record.status, record.error = StageStatus.FAILED, "stopped: the run cannot write"
                        lane.status[stage] = StageStatus.FAILED
            return
        for lane in self.lanes:
            for stage, status in list(lane.status.items()):
                if status == StageStatus.RUNNING:  # a fanned-out stage whose steps were all still queued
                    self._record(lane, stage, StageStatus.INTERRUPTED, error=f"interrupted ({signal_name})",
                                 ended_at=utc_now())  # fmt: skip
            for stage in list(lane.pending):
                self._record(lane, stage, StageStatus.NOT_RUN, error="not run: the run was interrupted")
            lane.pending.clear()
        self._close(interrupted=True)

    def _close(self, interrupted: bool = False) -> None:
        failed = False
        bad = (StageStatus.FAILED, StageStatus.NOT_RUN, StageStatus.INTERRUPTED)
        for lane in self.lanes:
            lane_failed = any(s in bad for s in lane.status.values())
            failed = failed or lane_failed
            if lane.symbol is not None:
                lane.section.status = (
                    RunStatus.INTERRUPTED
                    if interrupted
                    else RunStatus.FAILED
                    if lane_failed
                    else RunStatus.SUCCEEDED
                )
        self.manifest.status = (
            RunStatus.INTERRUPTED if interrupted else RunStatus.FAILED if failed else RunStatus.SUCCEEDED
        )
        self.manifest.finished_at = utc_now()
        self._save()

    def _start(self, lane: _Lane, stage: str) -> None:
        started = utc_now()
        if STAGES[stage].always_run:
            is_current, reason = False, "fetches new data on every run"
        else:
            try:
                is_current, _, reason = up_to_date(STAGES[stage], lane.config, lane.storage)
            except ItbError as exc:  # e.g. a data source file is missing: the stage fails, cleanly
                self._record(lane, stage, StageStatus.FAILED, started_at=started, ended_at=utc_now(),
                             error=str(exc), exit_code=exc.exit_code)  # fmt: skip
                return
        if is_current and not self.force:
            state = read_state(lane.storage, stage) or {}
            self._record(
                lane,
                stage,
                StageStatus.SKIPPED,
                reason=reason,
                key=state.get("key"),
                started_at=started,
                ended_at=utc_now(),
                duration_s=0.0,
                outputs=state.get("outputs", {}),
            )
            return
        lane.stage_started[stage] = time.monotonic()
        fields: dict[str, Any] = {"reason": "forced" if self.force else reason, "started_at": started}
        try:
            steps = STAGES[stage].steps(lane.config, lane.storage)
        except ItbError as exc:
            error = f"cannot plan its steps: {exc}"
            self._record(lane, stage, StageStatus.FAILED, **fields, error=error, ended_at=utc_now(),
                         exit_code=exc.exit_code)  # fmt: skip
            return
        if steps:
            fields["steps"] = {step: {"status": StageStatus.PENDING} for step in steps}
            lane.steps_left[stage] = set(steps)
            self.queue.extend(_Task(lane, stage, step) for step in steps)
            self._record(lane, stage, StageStatus.RUNNING, **fields)
            return
        self._record(lane, stage, StageStatus.RUNNING, **fields)
        self._launch(_Task(lane, stage))

    def _drain_queue(self) -> None:
        while self.queue and len(self.running) < self.workers:
            self._launch(self.queue.pop(0))

    def _spec(self, task: _Task) -> StageRunSpec:
        config = task.lane.config
        return StageRunSpec(
            self.run_id,
            task.stage,
            config.data_root,
            self.threads,
            config.backend.stage_timeout_s,
            step=task.step,
            symbol=task.lane.symbol,
        )

    def _launch(self, task: _Task) -> None:
        if task.step is not None:
            steps = task.lane.stages[task.stage].steps
            steps[task.step] = StepRecord(status=StageStatus.RUNNING, started_at=utc_now())
            self._save()
        launched = time.monotonic()  # before launch: the in-process backend works inside launch()
        handle = self.backend.launch(self._spec(task))
        self.running[task.key] = _Running(task, handle, launched)

    def _poll(self) -> None:
        for key, running in list(self.running.items()):
            if key not in self.running:  # stopped meanwhile as a sibling of a failed step
                continue
            result = self.backend.poll(running.handle)
            if not result.done:
                timeout_s = running.task.lane.config.backend.stage_timeout_s
                if time.monotonic() - running.launched > timeout_s:
                    self.backend.cancel(running.handle)
                    self._finish(running, timed_out=True)
                continue
            self._finish(running, exit_code=result.exit_code, message=result.message)

    def _read_result(self, lane: _Lane, task: _Task) -> tuple[bool, dict[str, Any]]:
        """The stage run's result file: (it says succeeded, the record fields it carries)."""
        try:
            result = lane.storage.read_json(result_name(self.run_id, task.stage, task.step))
        except (FileNotFoundError, ValueError):
            return False, {}
        if not isinstance(result, dict):
            return False, {}
        return result.get("status") == "succeeded", {k: v for k, v in result.items() if k in _RESULT_FIELDS}

    def _finish(
        self,
        running: _Running,
        exit_code: int | None = None,
        message: str = "",
        timed_out: bool = False,
        interrupted: str | None = None,
    ) -> None:
        task, handle = running.task, running.handle
        lane = task.lane
        self.running.pop(task.key, None)
        wall_s = round(time.monotonic() - running.launched, 3)
        log_text = self.backend.logs(handle)
        log_name = f"{run_prefix(self.run_id)}/logs/{task.name}.log"
        lane.storage.write_text(log_name, log_text)
        succeeded, fields = self._read_result(lane, task)
        fields.update(log=log_name, wall_s=wall_s)
        ok = succeeded and exit_code == 0 and not timed_out and interrupted is None
        status = (
            StageStatus.SUCCEEDED if ok else StageStatus.INTERRUPTED if interrupted else StageStatus.FAILED
        )
        if not ok:
            if timed_out:
                error = f"timed out after {lane.config.backend.stage_timeout_s:g}s"
            elif interrupted:
                error = f"interrupted ({interrupted})"
            elif fields.get("error"):
                error = str(fields["error"])
            else:
                error = f"stage process ended with exit code {exit_code} without a result {message}".strip()
            fields.update(error=error, log_tail=_tail(log_text), exit_code=exit_code)
            stage = STAGES[task.stage]
            names = (
                stage.outputs(lane.config)
                if task.step is None
                else stage.step_outputs(lane.config, task.step)
            )
            for name in names:
                lane.storage.remove_temporaries(name)
            fields.setdefault("ended_at", utc_now())
        else:
            self._collect_warnings(lane, task.stage, fields.get("metrics") or {})
            decision = (fields.get("metrics") or {}).get("promotion")
            if decision is not None:  # the promote stage's verdict, typed in the manifest
                lane.section.promotion = PromotionDecision.model_validate(decision)
        if task.step is not None:
            self._finish_step(task, status, fields)
            return
        if task.finalize:
            fields.update(self._fanout_totals(lane, task.stage, fields))
        self._record(lane, task.stage, status, **fields)

    def _collect_warnings(self, lane: _Lane, stage: str, metrics: dict[str, Any]) -> None:
        """A stage's ``metrics["warnings"]`` (``{kind, count, message, first_rows}`` each) into the
        manifest's typed list; a malformed entry becomes a warning about itself, never a crash."""
        found = metrics.get("warnings") or []
        for item in found if isinstance(found, list) else [found]:
            try:
                warning = RunWarning.model_validate({**item, "stage": stage, "symbol": lane.symbol})
            except (ValidationError, TypeError):
                message = f"the stage reported a warning itb cannot read: {str(item)[:200]}"
                warning = RunWarning(
                    stage=stage, symbol=lane.symbol, kind="malformed_warning", message=message
                )
            self.manifest.warnings.append(warning)

    def _finish_step(self, task: _Task, status: StageStatus, fields: dict[str, Any]) -> None:
        """Record a step under its stage; start the finalize run after the last step, or fail the stage."""
        assert task.step is not None
        lane = task.lane
        record = lane.stages[task.stage]
        record.steps[task.step] = StepRecord.model_validate({**fields, "status": status})
        if status == StageStatus.SUCCEEDED:
            left = lane.steps_left[task.stage]
            left.discard(task.step)
            self._save()
            if not left:
                self.queue.append(_Task(lane, task.stage, finalize=True))
            return
        # a failed step fails its stage: the other steps' work would be thrown away anyway
        self.queue = [t for t in self.queue if not (t.lane is lane and t.stage == task.stage)]
        for key, sibling in list(self.running.items()):
            if sibling.task.lane is lane and sibling.task.stage == task.stage:
                self.backend.cancel(sibling.handle)
                self.running.pop(key, None)
                record.steps[sibling.task.step or ""] = StepRecord(status=StageStatus.FAILED, error="stopped")
        for info in record.steps.values():
            if info.status == StageStatus.PENDING:
                info.status = StageStatus.NOT_RUN
        self._record(
            lane,
            task.stage,
            status,
            error=f"step {task.step} {'was interrupted' if status == StageStatus.INTERRUPTED else 'failed'}: "
            f"{fields.get('error', '')}",
            log_tail=fields.get("log_tail", ""),
            log=fields.get("log"),
            exit_code=fields.get("exit_code"),
            ended_at=utc_now(),
        )

    def _fanout_totals(self, lane: _Lane, stage: str, fields: dict[str, Any]) -> dict[str, Any]:
        """A fanned-out stage's own figures: wall time over all its runs, the largest process."""
        steps = lane.stages[stage].steps.values()
        rss = [s.peak_rss_mb or 0.0 for s in steps] + [fields.get("peak_rss_mb") or 0.0]
        wall = round(time.monotonic() - lane.stage_started[stage], 3)
        return {
            "wall_s": wall,
            "duration_s": wall,  # what the stage took, first step to last write, as summaries show it
            "finalize_duration_s": fields.get("duration_s"),
            "finalize_wall_s": fields.get("wall_s"),
            "peak_rss_mb": max(rss),
            "step_duration_s": round(sum(s.duration_s or 0.0 for s in steps), 3),
        }


def _tail(text: str) -> str:
    return "\n".join(text.splitlines()[-LOG_TAIL_LINES:])
