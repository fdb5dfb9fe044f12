"""The promotion rule: pure, on two sets of holdout figures (:mod:`itb.promotion.records`).

Each failed condition is one reason with its figures; the candidate is promoted only when there is
none. A figure the holdout cannot give (an AUC without positive labels) fails its condition: a
candidate is never promoted on figures nobody could check.
"""

from __future__ import annotations

from itb.config.models import PromotionSettings
from itb.promotion.records import ModelFigures, SetFigures

#: Figures are rounded to 6 decimals; a drop equal to the limit passes despite float error.
EPSILON = 1e-9


def _metric_reasons(
    name: str, metric: str, current: float | None, candidate: float | None, max_drop: float
) -> list[str]:
    if candidate is None:
        return [f"{name}: the candidate has no holdout {metric} (the holdout cannot judge it)"]
    if current is None:
        return [f"{name}: the live model has no holdout {metric} to compare with"]
    drop = current - candidate
    if drop > max_drop + EPSILON:
        return [
            f"{name}: {metric} {candidate:.6f} is {drop:.6f} below the live model's {current:.6f} "
            f"(allowed drop {max_drop:g})"
        ]
    return []


def failed_conditions(rule: PromotionSettings, current: SetFigures, candidate: SetFigures) -> list[str]:
    """Why ``candidate`` may not replace ``current`` under ``rule``; empty when it may."""
    reasons: list[str] = []
    missing = sorted(set(current.models) - set(candidate.models))
    if missing:
        reasons.append(f"the candidate lacks models {', '.join(missing)}")
    for name, cand in sorted(candidate.models.items()):
        cur = current.models.get(name, ModelFigures())
        reasons += _metric_reasons(name, "AUC", cur.auc, cand.auc, rule.max_auc_drop)
        if rule.max_ap_drop is not None:
            reasons += _metric_reasons(name, "AP", cur.ap, cand.ap, rule.max_ap_drop)
    a, b = current.backtest, candidate.backtest
    if rule.require_profit_not_worse and b.profit_pct < a.profit_pct - EPSILON:
        reasons.append(
            f"backtest profit {b.profit_pct}% is worse than the live models' {a.profit_pct}% (fee {b.fee:g})"
        )
    if (
        rule.max_drawdown_increase_pct is not None
        and b.max_drawdown_pct - a.max_drawdown_pct > rule.max_drawdown_increase_pct + EPSILON
    ):
        reasons.append(
            f"backtest max drawdown {b.max_drawdown_pct}% exceeds the live models' {a.max_drawdown_pct}% "
            f"by more than {rule.max_drawdown_increase_pct:g} points"
        )
    return reasons
