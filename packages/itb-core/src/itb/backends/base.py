"""The backend interface that every execution backend implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from pydantic import BaseModel


@dataclass(frozen=True)
class StageRunSpec:
    """Everything a backend needs to start one stage run: the same command on every backend."""

    run_id: str
    stage: str
    data_root: str
    threads: int = 1
    timeout_s: float = 3600.0
    #: Extra environment for the stage process (never secret values: backends pass those securely).
    env: dict[str, str] = field(default_factory=dict)
    #: One step of a fanned-out stage (see :meth:`itb.stages.base.Stage.steps`); None runs the
    #: whole stage, or, for a stage with steps, its finalize run that joins the steps' outputs.
    step: str | None = None
    #: The symbol of a multi-symbol run (``PipelineConfig.symbols``) this run belongs to, for naming
    #: (its ``data_root`` is already the symbol's own); None for a single-symbol config.
    symbol: str | None = None

    @property
    def task(self) -> str:
        """A name for this run that is unique within a pipeline run: ``stage`` or ``stage.step``,
        followed by ``@SYMBOL`` in a multi-symbol run."""
        name = self.stage if self.step is None else f"{self.stage}.{self.step}"
        return name if self.symbol is None else f"{name}@{self.symbol}"

    def command(self) -> list[str]:
        command = [
            "itb",
            "stage",
            "run",
            "--data-root",
            self.data_root,
            "--run-id",
            self.run_id,
            "--stage",
            self.stage,
            "--threads",
            str(self.threads),
        ]
        if self.step is not None:
            command += ["--step", self.step]
        return command


@dataclass(frozen=True)
class PollResult:
    state: Literal["running", "succeeded", "failed"]
    exit_code: int | None = None
    message: str = ""

    @property
    def done(self) -> bool:
        return self.state != "running"


class Backend(ABC):
    """Launch, poll, read logs of and cancel stage runs."""

    name: str = "backend"

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        self.options = dict(options or {})

    @abstractmethod
    def launch(self, spec: StageRunSpec) -> Any:
        """Start the stage run and return a handle (backend-defined)."""

    @abstractmethod
    def poll(self, handle: Any) -> PollResult:
        """Report whether the run is still going, and how it ended."""

    @abstractmethod
    def logs(self, handle: Any, tail: int | None = None) -> str:
        """What the stage run printed (the last ``tail`` lines if given)."""

    @abstractmethod
    def cancel(self, handle: Any) -> None:
        """Stop the run (and release what it holds); safe to call on a finished run."""

    def prepare(self, threads: int) -> None:  # noqa: B027 - optional hook, nothing to do by default
        """Called once before the first launch of a pipeline run, with its threads per stage run.

        A backend may start slow helpers here (the local backend's fork server) so that they
        overlap the runner's own planning instead of delaying the first stage.
        """

    def close(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release backend resources at the end of a pipeline run."""

    def describe(self, spec: StageRunSpec, estimate_s: float | None = None) -> str:
        """One line for ``--dry-run``: what launching ``spec`` would do. ``estimate_s`` is the
        stage's measured run time from an earlier run of the same config (None: not known)."""
        return " ".join(spec.command())

    def check_data_root(self, data_root: str, source: str) -> None:  # noqa: B027 - optional hook
        """Raise :class:`~itb.errors.ConfigError` naming ``source`` (the config key or the flag the
        root came from) when this backend's stage runs cannot reach ``data_root``."""

    def clean_run(self, run_id: str) -> list[str]:
        """Delete what this backend may have left behind for ``run_id`` (``itb runs clean``); the
        names of what was deleted. Nothing by default: local processes end with their runner."""
        return []


@dataclass(frozen=True)
class BackendInfo:
    name: str
    factory: Callable[[dict[str, Any]], Backend]
    description: str = ""
    #: Parallel stage runs this backend handles well by default (None: CPU count).
    default_workers: int | None = None
    #: The pydantic model of this backend's ``backend.options.NAME`` section, so that a config's
    #: options are checked (with key paths) before a run starts; None: not checked.
    options_model: type[BaseModel] | None = None
    #: Threads per stage run by default (None: CPU count / workers, see :mod:`itb.threads`).
    default_threads: int | None = None


def tail_lines(text: str, tail: int | None) -> str:
    if tail is None:
        return text
    return "\n".join(text.splitlines()[-tail:])
