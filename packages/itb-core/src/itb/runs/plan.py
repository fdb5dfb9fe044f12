"""``itb run --dry-run``: which stage runs a run would launch, what each costs, and why.

The plan reads the data root's stored state to leave out stages it can prove up to date (their
key matches and their outputs are there); a stage downstream of a planned one is planned too. When
the stored state cannot be read (no credentials yet, a container that does not exist), the plan
does not fail: it plans every stage and says what it could not read and why. The duration of each
stage run comes from the last successful run of the same config (its manifest says how long each
stage took), else the backend's fixed guess; the plan says which.
"""

from __future__ import annotations

from dataclasses import dataclass

from itb.backends.base import Backend, StageRunSpec
from itb.config.models import PipelineConfig
from itb.errors import ItbError
from itb.runs.manifest import RunManifest, RunStatus, StageRecord, list_runs
from itb.stages.registry import STAGES
from itb.stages.state import up_to_date
from itb.storage.store import Storage
from itb.storage.url import redact


@dataclass(frozen=True)
class PlanLane:
    """One symbol's stages (the only lane of a single-symbol run)."""

    symbol: str | None
    config: PipelineConfig


def open_storage(data_root: str) -> tuple[Storage | None, str | None]:
    """The data root opened, or None and why not (no credentials yet, say): a plan never fails on it."""
    try:
        return Storage(data_root), None
    except Exception as exc:
        return None, _unreadable(exc)


@dataclass(frozen=True)
class StageDecision:
    stage: str
    run: bool
    reason: str


def _unreadable(exc: BaseException) -> str:
    """A one-line reason (credentials redacted) for state the plan could not read."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return redact(f"{type(exc).__name__}: {text}".rstrip(": "))[:300]


def decide_stages(
    config: PipelineConfig,
    storage: Storage | None,
    selected: list[str],
    unreadable: str | None = None,
    force: bool = False,
) -> tuple[list[StageDecision], str | None]:
    """For each selected stage, whether it would run and why; and why the stored state could not
    be read (None: it could). Once the state is unreadable, every later stage is planned too;
    ``force`` plans every stage, as ``itb run --force`` runs them."""
    decisions: list[StageDecision] = []
    planned: set[str] = set()
    for stage in selected:
        upstream = [d for d in STAGES[stage].deps if d in planned]
        if force:
            decision = StageDecision(stage, True, "forced")
        elif STAGES[stage].always_run:
            decision = StageDecision(stage, True, "fetches new data on every run")
        elif upstream:
            decision = StageDecision(stage, True, f"{upstream[0]} runs before it")
        elif unreadable is not None or storage is None:
            decision = StageDecision(stage, True, "stored state unreadable")
        else:
            try:
                current, _, reason = up_to_date(STAGES[stage], config, storage)
            except ItbError as exc:  # e.g. a missing source file: the real run fails the stage
                current, reason = False, str(exc)
            except Exception as exc:  # any storage client error: report it, plan the stage
                unreadable = _unreadable(exc)
                current, reason = False, "stored state unreadable"
            decision = StageDecision(stage, not current, reason)
        if decision.run:
            planned.add(stage)
        decisions.append(decision)
    return decisions, unreadable


def last_successful_run(storage: Storage | None, config_hash: str) -> RunManifest | None:
    """The newest succeeded run of the same config under ``storage`` (None: none, or unreadable)."""
    if storage is None:
        return None
    try:
        runs = list_runs(storage)
    except Exception:
        return None
    matching = [m for m in runs if m.status == RunStatus.SUCCEEDED and m.config_hash == config_hash]
    return matching[-1] if matching else None


def measured_seconds(manifest: RunManifest | None, symbol: str | None, stage: str) -> float | None:
    """How long ``stage`` took in ``manifest`` (the symbol's section in a multi-symbol run)."""
    if manifest is None:
        return None
    section = manifest if symbol is None else (manifest.symbols or {}).get(symbol)
    record: StageRecord | None = section.stages.get(stage) if section is not None else None
    if record is None or record.status.value != "succeeded":
        return None
    return record.wall_s or record.duration_s


def plan_lines(
    engine: Backend,
    run_id: str,
    data_root: str,
    lanes: list[PlanLane],
    selected: list[str],
    threads: int,
    config_hash: str,
    force: bool = False,
) -> tuple[list[str], list[str]]:
    """The dry-run plan: one line per stage run to launch (the backend describes it, with the
    reason it runs), and notes: where the estimates come from, unreadable state, stages left out."""
    root_storage, root_error = open_storage(data_root)
    previous = last_successful_run(root_storage, config_hash)
    lines: list[str] = []
    notes = [
        f"estimates: stage times measured by run {previous.run_id} (the last successful run of this config)"
        if previous is not None
        else "estimates: fixed guesses (no successful run of this config found under the data root)"
    ]
    for lane in lanes:
        storage, unreadable = (
            (root_storage, root_error) if lane.symbol is None else open_storage(lane.config.data_root)
        )
        decisions, unreadable = decide_stages(lane.config, storage, selected, unreadable, force)
        where = f" ({lane.symbol})" if lane.symbol else ""
        if unreadable is not None:
            notes.append(
                f"could not read the stored state under {lane.config.data_root}{where}: {unreadable}; "
                "planning every stage"
            )
        for decision in decisions:
            if not decision.run:
                notes.append(f"skip {decision.stage}{where}: {decision.reason}")
                continue
            steps = (
                [] if storage is None or unreadable is not None else _planned_steps(decision, lane, storage)
            )
            estimate = None if steps else measured_seconds(previous, lane.symbol, decision.stage)
            for step in [*steps, None]:
                spec = StageRunSpec(
                    run_id, decision.stage, lane.config.data_root, threads, step=step, symbol=lane.symbol
                )
                lines.append(f"{engine.describe(spec, estimate)} [{decision.reason}]")
    return lines, notes


def _planned_steps(decision: StageDecision, lane: PlanLane, storage: Storage) -> list[str]:
    """Steps of a fanned-out stage; a stage whose steps depend on data not yet made shows as one run."""
    try:
        return STAGES[decision.stage].steps(lane.config, storage)
    except Exception:
        return []
