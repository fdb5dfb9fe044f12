"""The run manifest: ``<data_root>/runs/<run_id>/manifest.json``, rewritten atomically as a run goes.

It records what ran, on which backend and code, with which inputs and outputs (fingerprints, rows),
how long each stage took and why one failed. It never holds secret values: the config is stored
with secret references only (the config model rejects anything else).

The records are pydantic models with a ``schema_version``; statuses are enums and a stage that did
not run because of another one says so in ``blocked_by`` (not in a status string). On disk they are
plain JSON (``model_dump(mode="json")``), read back with :func:`read_manifest`.
"""

from __future__ import annotations

import hashlib
import json
import platform
import socket
import sys
from enum import StrEnum
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from itb.compute.append import AppendRecord
from itb.config.models import PipelineConfig
from itb.errors import ItbError
from itb.promotion.records import PromotionDecision
from itb.runs.lock import LockInfo, process_alive
from itb.storage.store import Storage

TRACKED_PACKAGES = ("itb-core", "itb-local", "itb-azure", "polars", "pyarrow", "numpy", "lightgbm",
                    "pydantic", "fsspec")  # fmt: skip
#: Bump when a field changes meaning or is removed (adding an optional field does not need it).
SCHEMA_VERSION = 1


class RunStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    #: Shown, never stored: the manifest says ``running`` but its runner process is gone.
    ABANDONED = "abandoned"
    #: ``--dry-run``: a plan only, nothing stored.
    DRY_RUN = "dry_run"


class StageStatus(StrEnum):
    #: A step of a fanned-out stage waiting for a free worker.
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    SKIPPED = "skipped"
    FAILED = "failed"
    NOT_RUN = "not_run"
    INTERRUPTED = "interrupted"


class Record(BaseModel):
    """Base of the manifest records: unknown keys are errors, so a typo never goes unnoticed."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class BlockedBy(Record):
    """Why a stage did not run: a stage it needs failed, was interrupted, or has no outputs yet."""

    stage: str
    reason: Literal["failed", "no_outputs", "interrupted"]


class OutputRecord(Record):
    fingerprint: str
    size: int
    rows: int | None = None


class RunWarning(Record):
    """Something a stage fixed or noticed in the data that the user should know about."""

    stage: str
    kind: str
    count: int = 1
    message: str
    first_rows: list[Any] = Field(default_factory=list)
    #: The symbol of a multi-symbol run the stage belongs to.
    symbol: str | None = None


class StepRecord(Record):
    """One stage run: a whole stage, or one step of a fanned-out stage."""

    status: StageStatus
    started_at: str | None = None
    ended_at: str | None = None
    duration_s: float | None = None
    wall_s: float | None = None
    peak_rss_mb: float | None = None
    key: str | None = None
    inputs: dict[str, dict[str, Any]] = Field(default_factory=dict)
    outputs: dict[str, OutputRecord] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    exit_code: int | None = None
    log: str | None = None
    log_tail: str | None = None
    #: A table stage (merge, features, labels): appended to its stored output or fully recomputed,
    #: with the rows computed and reused and why (:mod:`itb.stages.incremental`).
    incremental: AppendRecord | None = None


class StageRecord(StepRecord):
    reason: str | None = None
    blocked_by: BlockedBy | None = None
    steps: dict[str, StepRecord] = Field(default_factory=dict)
    #: A fanned-out stage: its finalize run's own figures and the steps' summed duration.
    finalize_duration_s: float | None = None
    finalize_wall_s: float | None = None
    step_duration_s: float | None = None

    @property
    def rows(self) -> int | None:
        """The most rows of any output (what summaries show)."""
        rows = [o.rows for o in self.outputs.values() if o.rows is not None]
        return max(rows) if rows else None


class StageSection(Record):
    """A run's stages: the manifest itself, or one symbol of a multi-symbol run."""

    status: RunStatus = RunStatus.RUNNING
    stages: dict[str, StageRecord] = Field(default_factory=dict)
    #: ``itb run --candidate`` / ``itb promote``: the gate's decision on the candidate, with figures.
    promotion: PromotionDecision | None = None


class SymbolSection(StageSection):
    data_root: str
    config_hash: str


class Machine(Record):
    platform: str
    processor: str


class RunnerProcess(Record):
    """The ``itb run`` process: lets ``itb runs list`` tell a running run from an abandoned one."""

    host: str
    pid: int


class RunManifest(StageSection):
    schema_version: int = SCHEMA_VERSION
    run_id: str
    created_at: str
    finished_at: str | None = None
    config_source: str | None = None
    config_hash: str
    backend: str
    data_root: str
    machine: Machine
    runner: RunnerProcess | None = None
    versions: dict[str, str] = Field(default_factory=dict)
    selected: list[str] = Field(default_factory=list)
    workers: int | None = None
    threads_per_stage: int | None = None
    #: A multi-symbol run: one section per symbol (``stages`` above stays empty).
    symbols: dict[str, SymbolSection] | None = None
    warnings: list[RunWarning] = Field(default_factory=list)
    #: ``--dry-run`` only: the stage runs that would be launched.
    plan: list[str] | None = None
    #: ``--dry-run``: what the plan rests on (where its time estimates come from, state it could
    #: not read) and the stages it leaves out as up to date.
    plan_notes: list[str] | None = None

    def sections(self) -> list[tuple[str | None, StageSection]]:
        """``(symbol, section)`` per symbol of a multi-symbol run, or ``[(None, self)]``."""
        if self.symbols is not None:
            return list(self.symbols.items())
        return [(None, self)]

    def all_stages(self) -> list[tuple[str | None, str, StageRecord]]:
        """``(symbol, stage name, record)`` over every section."""
        return [(sym, name, rec) for sym, sec in self.sections() for name, rec in sec.stages.items()]


class ManifestUnreadable(ItbError):
    """A manifest that is not valid JSON or does not match the schema (exit code 1)."""


def manifest_name(run_id: str) -> str:
    return f"runs/{run_id}/manifest.json"


def read_manifest(storage: Storage, run_id: str) -> RunManifest:
    """A run's manifest; FileNotFoundError if there is none, :class:`ManifestUnreadable` if broken."""
    data = storage.read_bytes(manifest_name(run_id))
    try:
        return RunManifest.model_validate_json(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ManifestUnreadable(
            f"{storage.url(manifest_name(run_id))}: not a manifest of this itb version "
            f"(schema {SCHEMA_VERSION}): {where}: {first['msg']}"
        ) from None


def write_manifest(storage: Storage, manifest: RunManifest) -> None:
    storage.write_json(manifest_name(manifest.run_id), manifest.model_dump(mode="json"))


def list_runs(storage: Storage) -> list[RunManifest]:
    """Every readable run manifest under a data root, oldest first (by creation time, which is
    finer than the second-resolution timestamp in run ids). Unreadable ones are left out."""
    names = {p.split("/")[1] for p in storage.list("runs") if p.endswith("/manifest.json")}
    manifests = []
    for name in names:
        try:
            manifests.append(read_manifest(storage, name))
        except (ManifestUnreadable, FileNotFoundError):
            continue
    return sorted(manifests, key=lambda m: (m.created_at, m.run_id))


def shown_status(manifest: RunManifest, lock: LockInfo | None) -> RunStatus:
    """The status to show: a run stored as ``running`` whose runner is gone is ``abandoned``.

    Gone means: the data root's lock is not this run's, and its runner process no longer exists on
    this host (a runner on another host counts as gone once the lock is no longer its own).
    """
    if manifest.status != RunStatus.RUNNING:
        return manifest.status
    if lock is not None and lock.run_id == manifest.run_id:
        if process_alive(lock.host, lock.pid) is not False:
            return RunStatus.RUNNING
        return RunStatus.ABANDONED
    if manifest.runner is not None and process_alive(manifest.runner.host, manifest.runner.pid):
        return RunStatus.RUNNING  # a runner from before locks, or one still starting
    return RunStatus.ABANDONED


def config_hash(config: PipelineConfig) -> str:
    text = json.dumps(config.model_dump(mode="json"), sort_keys=True)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def package_versions() -> dict[str, str]:
    versions = {"python": sys.version.split()[0]}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            continue
    return versions


def new_manifest(
    run_id: str,
    config: PipelineConfig,
    backend: str,
    data_root: str,
    source: str | None,
    created_at: str,
    runner_pid: int,
) -> RunManifest:
    return RunManifest(
        run_id=run_id,
        created_at=created_at,
        config_source=source,
        config_hash=config_hash(config),
        backend=backend,
        data_root=data_root,
        machine=Machine(platform=platform.platform(), processor=platform.machine()),
        runner=RunnerProcess(host=socket.gethostname(), pid=runner_pid),
        versions=package_versions(),
    )
