"""promote: the gate after ``candidate`` (``itb run --candidate``): judge this run's candidate slot
against the live models on today's holdout and switch when ``promotion``'s rule holds
(:func:`itb.promotion.gate.promote_candidate`). The decision goes to the stage metrics (the runner
puts it in the manifest's ``promotion``) and, when Telegram secrets are configured, to the chat.

Its outputs are the live model files as they are after the decision, so predict (which runs after
it) reruns exactly when the live models changed.
"""

from __future__ import annotations

from typing import Any

from itb.config.models import PipelineConfig
from itb.errors import DataError
from itb.promotion.gate import promote_candidate
from itb.promotion.notify import notify_decision
from itb.promotion.slot import model_set_files
from itb.stages.base import Stage, StageContext, StageResult
from itb.stages.state import read_state
from itb.storage.store import Storage, WriteResult


class PromoteStage(Stage):
    name = "promote"
    deps = ("candidate",)

    def applicable(self, config: PipelineConfig) -> bool:
        return config.promotion.candidate

    def outputs(self, config: PipelineConfig) -> list[str]:
        return model_set_files(config)

    def config_section(self, config: PipelineConfig) -> Any:
        return {
            "rule": config.promotion.model_dump(mode="json", exclude={"candidate"}),
            "holdout": config.train.holdout,
            "signal_sets": [s.model_dump(mode="json") for s in config.signal_sets],
            "simulate": config.simulate.model_dump(mode="json"),
        }

    def external_fingerprints(self, config: PipelineConfig) -> dict[str, str]:
        """The live models as they are now: a model set written by anyone else reruns the gate."""
        storage = Storage(config.data_root)
        return {f: storage.fingerprint(f) if storage.exists(f) else "missing" for f in self.outputs(config)}

    def run(self, ctx: StageContext) -> StageResult:
        state = read_state(ctx.storage, "candidate")
        if state is None or not state.get("run_id"):
            raise DataError("promote: no candidate was trained (run `itb run CONFIG --candidate`)")
        decision = promote_candidate(ctx.config, ctx.storage, str(state["run_id"]), ctx.threads)
        notify_decision(ctx.config, ctx.storage, decision)
        outputs = {
            name: WriteResult(name, ctx.storage.fingerprint(name), ctx.storage.size(name) or 0)
            for name in self.outputs(ctx.config)
            if ctx.storage.exists(name)
        }
        return StageResult(outputs, metrics={"promotion": decision.model_dump(mode="json")})
