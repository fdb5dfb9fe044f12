"""What a stage is: named inputs and outputs under the data root, and a ``run`` that makes them.

A stage's fingerprint (its *key*) covers its config section, the code it runs (its module's import
closure, see :mod:`itb.stages.state`) and the fingerprints of its inputs. When the key and the
stored outputs match the state of the last successful run, the stage is up to date and the runner
skips it.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from itb.compute.append import AppendRecord
from itb.config.models import PipelineConfig
from itb.storage.store import Storage, WriteResult


@dataclass
class StageContext:
    config: PipelineConfig
    storage: Storage
    run_id: str
    threads: int = 1
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("itb.stage"))


@dataclass
class StageResult:
    outputs: dict[str, WriteResult] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    #: External inputs (not produced by another stage), name -> fingerprint/rows.
    external_inputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: A table stage: whether it appended to its stored output or recomputed it, and why.
    incremental: AppendRecord | None = None
    #: Extra entries for ``state/<stage>.json`` (what the next run needs to append).
    state: dict[str, Any] = field(default_factory=dict)


class Stage(ABC):
    name: ClassVar[str]
    deps: ClassVar[tuple[str, ...]] = ()
    #: Bump when a change to the stage alters its outputs for the same inputs.
    version: ClassVar[int] = 1
    #: Packages the stage runs without importing them by name (generators looked up in a registry);
    #: their modules count as the stage's code in its key, beside the stage module's import closure.
    code_packages: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def outputs(self, config: PipelineConfig) -> list[str]:
        """Dataset names this stage writes."""

    def config_section(self, config: PipelineConfig) -> Any:
        """The part of the config whose change must rerun this stage (JSON-able)."""
        return config.model_dump(mode="json")

    def applicable(self, config: PipelineConfig) -> bool:
        """Whether this config needs the stage at all (e.g. download only for sources without a path)."""
        return True

    #: Stages that fetch from outside are never "up to date": each run asks for new data.
    always_run: ClassVar[bool] = False

    def external_fingerprints(self, config: PipelineConfig) -> dict[str, str]:
        """Fingerprints of inputs that no stage produces (source data, user code)."""
        return {}

    def still_current(self, config: PipelineConfig, storage: Storage, state: dict[str, Any]) -> str | None:
        """Why the stage counts as up to date although its key changed (a schedule: see train's
        ``retrain_every``), given its stored ``state``; None (the default): a changed key reruns it."""
        return None

    @abstractmethod
    def run(self, ctx: StageContext) -> StageResult:
        """Compute and write the outputs (each write atomic).

        For a stage with :meth:`steps` this is the *finalize* run: it joins the steps' partial
        outputs into the stage outputs, after every step has succeeded.
        """

    # --- fan-out ---------------------------------------------------------------------------------
    # A stage whose work splits into independent pieces (walk-forward retraining, ...) lists them as
    # steps. The runner launches every step as its own stage run (``itb stage run --step ID``), so a
    # backend runs them in parallel (local processes, container groups) without knowing about them,
    # then launches the finalize run (``run``). Steps write partial outputs only; the stage state is
    # written by the finalize run, so a stage is never up to date with a missing step.

    def steps(self, config: PipelineConfig, storage: Storage) -> list[str]:
        """Step ids of this config's run; empty (the default) when the stage runs as one piece.

        Called when the stage starts, after its dependencies, so the steps may depend on their
        outputs (e.g. the row count); raises :class:`itb.errors.ItbError` when it cannot tell.
        """
        return []

    def step_outputs(self, config: PipelineConfig, step: str) -> list[str]:
        """Dataset names one step writes (for cleaning up after a killed step)."""
        return []

    def run_step(self, ctx: StageContext, step: str) -> StageResult:
        """Compute one step's partial outputs (each write atomic)."""
        raise NotImplementedError(f"stage {self.name} has no steps")
