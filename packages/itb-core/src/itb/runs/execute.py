"""Run one stage: the body of ``itb stage run`` (in a local process or a container) and of the
in-process backend. Writes the outputs, then the stage state, then the stage result for the runner.
"""

from __future__ import annotations

import contextlib
import logging
import resource
import sys
import time
import traceback
from typing import Any

from itb import secret_refs
from itb.config.loader import parse_config
from itb.errors import ConfigError, ItbError
from itb.masked_output import masked_stdio
from itb.plugins.manager import secret_resolvers
from itb.runs.ids import run_prefix, utc_now
from itb.stages.base import StageContext
from itb.stages.registry import get_stage
from itb.stages.state import stage_inputs, stage_key, state_name
from itb.storage.store import Storage

log = logging.getLogger("itb.stage")


def result_name(run_id: str, stage: str, step: str | None = None) -> str:
    """Where a stage run leaves its result for the runner; one file per step of a fanned-out stage."""
    if step is None:
        return f"{run_prefix(run_id)}/stages/{stage}.json"
    return f"{run_prefix(run_id)}/stages/{stage}/{step}.json"


def peak_rss_mb() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return round(rss / 1024, 1)


def execute_stage(
    data_root: str,
    run_id: str,
    stage_name: str,
    threads: int = 1,
    step: str | None = None,
    *,
    own_process: bool = False,
) -> int:
    """Run ``stage_name`` of run ``run_id``; returns the process exit code (0 ok, 1 failed, 2 bad input).

    With ``step`` only that step of a fanned-out stage runs: it writes its partial outputs and its
    result, but not the stage state (the finalize run writes that once every step is done).

    The stage's secrets live in a scope around all of it: resolved when stage code first asks
    (:func:`itb.secret_refs.get`), masked in its error and logs, forgotten when the stage ends. With
    ``own_process`` (``itb stage run``: the process is the stage's alone) its stdout and stderr are
    masked as well (:func:`itb.masked_output.masked_stdio`).
    """
    with secret_refs.activate() as scope, masked_stdio() if own_process else contextlib.nullcontext():
        return _run_stage(scope, data_root, run_id, stage_name, threads, step)


def _run_stage(
    scope: secret_refs.SecretScope,
    data_root: str,
    run_id: str,
    stage_name: str,
    threads: int,
    step: str | None,
) -> int:
    started, t0 = utc_now(), time.perf_counter()
    storage = Storage(data_root)
    result: dict[str, Any] = {"stage": stage_name, "run_id": run_id, "started_at": started}
    if step is not None:
        result["step"] = step
    code = 0
    config_name = f"{run_prefix(run_id)}/config.json"
    if not storage.exists(config_name):  # not a run: write nothing (no result, no folders)
        raise ConfigError(
            f"run {run_id} has no stored config at {data_root}/{config_name}: "
            "`itb stage run` runs a stage of a run that `itb run` started"
        )
    try:
        stored = storage.read_json(config_name)
        config = parse_config(stored, f"{data_root}/{config_name}")
        # References only: a secret resolves when stage code asks for it (inside this error
        # handling, so a missing one fails that stage with a clear error), never before.
        scope.define(config.secrets, secret_refs.resolvers(secret_resolvers()) if config.secrets else None)
        stage = get_stage(stage_name)
        key = stage_key(stage, config, storage)
        inputs = stage_inputs(stage, storage)
        ctx = StageContext(config, storage, run_id, threads, log)
        if step is not None:
            if step not in stage.steps(config, storage):
                raise ConfigError(f"stage {stage_name} has no step {step!r}")
            log.info("stage %s step %s starting (run %s, %d thread(s))", stage_name, step, run_id, threads)
            outcome = stage.run_step(ctx, step)
        else:
            log.info("stage %s starting (run %s, %d thread(s))", stage_name, run_id, threads)
            outcome = stage.run(ctx)
        outputs = {name: w.as_dict() for name, w in outcome.outputs.items()}
        inputs.update(outcome.external_inputs)
        if step is None:
            storage.write_json(
                state_name(stage_name),
                {"stage": stage_name, "key": key, "run_id": run_id, "outputs": outputs,
                 "finished_at": utc_now(), **outcome.state},
            )  # fmt: skip
        result.update(status="succeeded", key=key, inputs=inputs, outputs=outputs, metrics=outcome.metrics)
        if outcome.incremental is not None:
            result["incremental"] = outcome.incremental.model_dump(mode="json")
    except ItbError as exc:
        log.error("stage %s failed: %s", stage_name if step is None else f"{stage_name}.{step}", exc)
        result.update(status="failed", error=secret_refs.redact(str(exc)))
        code = exc.exit_code
    except Exception as exc:
        log.error("stage %s failed:\n%s", stage_name, traceback.format_exc())
        result.update(status="failed", error=secret_refs.redact(f"{type(exc).__name__}: {exc}"))
        code = 1
    except SystemExit as exc:  # sys.exit(message) in user code: a failure, its message masked
        message = secret_refs.redact(f"stage code called sys.exit({exc.code!r})")
        log.error("stage %s failed: %s", stage_name, message)
        result.update(status="failed", error=message)
        code = 1
    result.update(
        ended_at=utc_now(), duration_s=round(time.perf_counter() - t0, 3), peak_rss_mb=peak_rss_mb()
    )
    try:
        storage.write_json(result_name(run_id, stage_name, step), result)
    except Exception as exc:  # the runner reports a stage without a result as failed
        print(f"itb: could not write the stage result: {exc}", file=sys.stderr)
        code = code or 1
    return code
