"""Pipeline stages. Each declares inputs, outputs and what its fingerprint covers; see :mod:`base`."""

from itb.stages.base import Stage, StageContext, StageResult
from itb.stages.registry import STAGES, get_stage, stage_graph

__all__ = ["STAGES", "Stage", "StageContext", "StageResult", "get_stage", "stage_graph"]
