"""The stage graph: which stages exist and what each depends on."""

from __future__ import annotations

import numpy.ma  # noqa: F401  (polars checks for masked arrays whenever it builds a frame from numpy)

from itb.config.models import PipelineConfig
from itb.errors import ConfigError
from itb.stages.base import Stage
from itb.stages.download import DownloadStage
from itb.stages.features import FeaturesStage
from itb.stages.labels import LabelsStage
from itb.stages.merge import MergeStage
from itb.stages.predict import PredictStage
from itb.stages.promote import PromoteStage
from itb.stages.rolling import PredictRollingStage
from itb.stages.signals import SignalsStage
from itb.stages.simulate import SimulateStage
from itb.stages.train import CandidateStage, TrainStage

STAGES: dict[str, Stage] = {
    s.name: s
    for s in (
        DownloadStage(),
        MergeStage(),
        FeaturesStage(),
        LabelsStage(),
        TrainStage(),
        CandidateStage(),
        PromoteStage(),
        PredictStage(),
        PredictRollingStage(),
        SignalsStage(),
        SimulateStage(),
    )
}


def get_stage(name: str) -> Stage:
    try:
        return STAGES[name]
    except KeyError:
        raise ConfigError(f"unknown stage {name!r} (stages: {', '.join(STAGES)})") from None


def planned_stages(config: PipelineConfig) -> list[str]:
    """The stages this config needs, in graph order."""
    return [name for name, stage in STAGES.items() if stage.applicable(config)]


def stage_graph() -> dict[str, tuple[str, ...]]:
    return {name: stage.deps for name, stage in STAGES.items()}


def downstream(start: str) -> list[str]:
    """``start`` and every stage that depends on it, in graph order."""
    selected = {start}
    for name, stage in STAGES.items():
        if any(dep in selected for dep in stage.deps):
            selected.add(name)
    return [name for name in STAGES if name in selected]
