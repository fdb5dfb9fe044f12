"""What a promotion decision records: the figures of both model sets on one holdout, the rule's
verdict and why. Stored in the run manifest (``promotion`` of the run or its symbol section)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelFigures(Record):
    """One model's holdout metrics (None where the holdout cannot tell, e.g. no positive label)."""

    auc: float | None = None
    ap: float | None = None
    rows: int = 0


class BacktestFigures(Record):
    """The holdout backtest of the signals a model set makes, with the configured fee."""

    profit_pct: float
    max_drawdown_pct: float
    trades: int
    fee: float


class SetFigures(Record):
    """A model set scored on the holdout: per model (``<label>_<algorithm>``) and its backtest."""

    models: dict[str, ModelFigures]
    backtest: BacktestFigures


class Holdout(Record):
    """The rows both sets were judged on (the same for both, by construction)."""

    rows: int
    first: str | None
    last: str | None


class PromotionDecision(Record):
    """The gate's verdict on a candidate: promoted or kept out, every failed rule in ``reasons``."""

    candidate_run: str
    promoted: bool
    reasons: list[str] = Field(default_factory=list)
    holdout: Holdout | None = None
    current: SetFigures | None = None
    candidate: SetFigures | None = None
    #: The rule as configured (``promotion`` section) when the decision was made.
    rule: dict[str, float | bool | None] = Field(default_factory=dict)
    decided_at: str
    #: Older candidate slots and replaced model sets deleted after the decision (``keep_slots``).
    pruned: list[str] = Field(default_factory=list)

    def summary(self) -> str:
        """One line for logs and the Telegram message."""
        verdict = "promoted" if self.promoted else "kept out"
        lines = [f"itb: candidate {self.candidate_run} {verdict}: {'; '.join(self.reasons)}"]
        if self.current is not None and self.candidate is not None:
            for name, cand in self.candidate.models.items():
                cur = self.current.models.get(name, ModelFigures())
                lines.append(f"{name}: AUC {cur.auc} -> {cand.auc}, AP {cur.ap} -> {cand.ap}")
            a, b = self.current.backtest, self.candidate.backtest
            lines.append(
                f"backtest (fee {b.fee:g}): profit {a.profit_pct}% -> {b.profit_pct}%, "
                f"max drawdown {a.max_drawdown_pct}% -> {b.max_drawdown_pct}%"
            )
        return "\n".join(lines)
