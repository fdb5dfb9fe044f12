"""What a stage is: named inputs and outputs under the data root, and a ``run`` that makes them.

A stage's fingerprint (its *key*) covers its config section, the code version and the fingerprints
of its inputs. When the key and the stored outputs match the state of the last successful run, the
stage is up to date and the runner skips it.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

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


class Stage(ABC):
    name: ClassVar[str]
    deps: ClassVar[tuple[str, ...]] = ()
    #: Bump when a change to the stage alters its outputs for the same inputs.
    version: ClassVar[int] = 1

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

    @abstractmethod
    def run(self, ctx: StageContext) -> StageResult:
        """Compute and write the outputs (each write atomic)."""
