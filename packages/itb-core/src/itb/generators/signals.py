"""Signal generators: turn model scores into a trade score and buy/sell columns.

``combine`` (``difference``): ``score = coefficient * (up - down) + constant``.
``threshold_rule``: ``buy = score >= buy_signal_threshold``, ``sell = score <= sell_signal_threshold``.
"""

from __future__ import annotations

import polars as pl
from pydantic import Field, model_validator

from itb.config.models import Model
from itb.generators.frames import require_columns
from itb.generators.registry import Generator, register


class CombineConfig(Model):
    columns: list[str] = Field(min_length=2, max_length=2, description="[up score, down score]")
    names: str = "trade_score"
    combine: str = Field(default="difference", pattern="^difference$")
    coefficient: float = 1.0
    constant: float = 0.0


def combine(df: pl.DataFrame, cfg: CombineConfig, column_prefix: str, feature_prefix: str) -> pl.DataFrame:
    require_columns(df, cfg.columns, "combine signal set")
    up, down = (pl.col(c) for c in cfg.columns)
    return df.select(((up - down) * cfg.coefficient + cfg.constant).alias(cfg.names))


class ThresholdParameters(Model):
    buy_signal_threshold: float
    sell_signal_threshold: float


class ThresholdRuleConfig(Model):
    columns: str = "trade_score"
    names: list[str] = Field(default=["buy_signal", "sell_signal"], min_length=2, max_length=2)
    parameters: ThresholdParameters

    @model_validator(mode="after")
    def _ordered(self) -> ThresholdRuleConfig:
        p = self.parameters
        if p.buy_signal_threshold < p.sell_signal_threshold:
            raise ValueError("buy_signal_threshold must be >= sell_signal_threshold")
        return self


def threshold_rule(
    df: pl.DataFrame, cfg: ThresholdRuleConfig, column_prefix: str, feature_prefix: str
) -> pl.DataFrame:
    require_columns(df, [cfg.columns], "threshold_rule signal set")
    score = pl.col(cfg.columns)
    p = cfg.parameters
    return df.select(
        (score >= p.buy_signal_threshold).fill_null(False).alias(cfg.names[0]),
        (score <= p.sell_signal_threshold).fill_null(False).alias(cfg.names[1]),
    )


register(Generator("combine", "signal", CombineConfig, combine, lambda c, *_: [c.names]))
register(
    Generator("threshold_rule", "signal", ThresholdRuleConfig, threshold_rule, lambda c, *_: list(c.names))
)
