"""Signal generators: turn model scores into a trade score and buy/sell columns.

``combine``: two scores (up, down) into one score in about [-1, 1], then ``* coefficient + constant``:
  ``difference`` = up - down; ``relative`` = 2 * up / (up + down) - 1 (how much one dominates the other,
  0 when they are equal, whatever their level); ``max-abs`` = up where up >= down, else -down.
``smoothen``: the row-wise mean of one or more columns, optionally thresholded to 0/1
  (``point_threshold``), then a rolling mean over ``window`` rows (``method: rolling``, at least half
  the window known; computed from each window's rows alone) or an exponential mean with span
  ``window`` (``method: ewm``) that restarts after a missing row as at the data start.
``threshold_rule``: ``buy = score >= buy_signal_threshold``, ``sell = score <= sell_signal_threshold``.
``threshold_rule2``: the same on two scores at once: buy only when both reach their buy thresholds,
  sell only when both reach their sell thresholds.

A null score never signals. NaN and inf scores are missing (null). Each generator declares the
history its output needs (``lookback``; ``combine`` and the threshold rules: none).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import polars as pl
from pydantic import Field, field_validator, model_validator

from itb.config.models import Model
from itb.generators.frames import require_columns
from itb.generators.history import History, decay_rows
from itb.generators.registry import Generator
from itb.generators.rolling import chunks, padded, window_chunk


class CombineConfig(Model):
    columns: list[str] = Field(min_length=2, max_length=2, description="[up score, down score]")
    names: str = "trade_score"
    combine: Literal["difference", "relative", "max-abs"] = Field(
        default="max-abs",
        description="As in the reference project: without this key, or 'no_combine', max-abs.",
    )
    coefficient: float = 1.0
    constant: float = 0.0

    @field_validator("combine", mode="before")
    @classmethod
    def _reference_names(cls, value: Any) -> Any:
        """The reference project's spellings: 'no_combine' (and an empty value) mean max-abs."""
        return "max-abs" if value in ("no_combine", "", None) else value


def combine(df: pl.DataFrame, cfg: CombineConfig, column_prefix: str, feature_prefix: str) -> pl.DataFrame:
    require_columns(df, cfg.columns, "combine signal set")
    up, down = (pl.col(c).cast(pl.Float64) for c in cfg.columns)
    if cfg.combine == "difference":
        score = up - down
    elif cfg.combine == "relative":
        total = up + down
        score = pl.when(total != 0).then(up / total * 2.0 - 1.0).otherwise(0.0)
    else:
        score = pl.when(up >= down).then(up).otherwise(-down)
    score = pl.when(up.is_null() | down.is_null()).then(None).otherwise(score)
    return df.select((score * cfg.coefficient + cfg.constant).fill_nan(None).alias(cfg.names))


class SmoothenConfig(Model):
    columns: str | list[str] = Field(description="One score, or several averaged row-wise first.")
    names: str = "trade_score_smooth"
    window: int | float | None = Field(
        default=None,
        ge=1,
        description="Rows (rolling) or span (ewm); none: no smoothing. A float window means ewm, as in "
        "the reference project.",
    )
    method: Literal["rolling", "ewm"] = "rolling"
    point_threshold: float | None = Field(
        default=None, description="Turn the mean into 1.0 where it reaches this value, else 0.0."
    )

    @model_validator(mode="before")
    @classmethod
    def _float_window_is_ewm(cls, data: Any) -> Any:
        """The reference project smooths with an exponential mean when ``window`` is a float."""
        if isinstance(data, dict) and isinstance(data.get("window"), float):
            if data.get("method", "ewm") != "ewm":
                raise ValueError("a float window is an ewm span; give an integer window for 'rolling'")
            data = {**data, "method": "ewm"}
        return data


def _rolling_mean(values: np.ndarray, window: int, least: int) -> np.ndarray:
    """Mean of the known values of each trailing window (NaN with fewer than ``least``), computed
    from the window's rows alone (offset loops, ``rolling.Windows``): start-independent."""
    out = np.empty(values.size)
    padded_values = padded(values, window)
    for a, b in chunks(values.size):
        w = window_chunk(padded_values, window, a, b)
        out[a:b] = np.where(w.count >= least, w.mean(), np.nan)
    return out


def smoothen(df: pl.DataFrame, cfg: SmoothenConfig, column_prefix: str, feature_prefix: str) -> pl.DataFrame:
    columns = [cfg.columns] if isinstance(cfg.columns, str) else cfg.columns
    require_columns(df, columns, "smoothen signal set")
    known = [pl.col(c).cast(pl.Float64) for c in columns]
    score = pl.mean_horizontal([pl.when(c.is_finite()).then(c) for c in known])  # NaN, inf: missing
    if cfg.point_threshold is not None:
        score = pl.when(score.is_null()).then(None).otherwise((score >= cfg.point_threshold).cast(pl.Float64))
    if cfg.window is not None and cfg.window > 1:
        least = max(1, int(cfg.window // 2))
        if cfg.method == "rolling":
            values = df.select(score.alias("s"))["s"].to_numpy().astype(np.float64)
            smooth = _rolling_mean(values, int(cfg.window), least)
            return pl.DataFrame([pl.Series(cfg.names, smooth).fill_nan(None)])
        # An exponential mean restarts after a missing row, exactly as at the data start (so a
        # value depends on the rows since the last gap only; see ``lookback``).
        stretch = score.is_null().cum_sum()
        ewm = score.ewm_mean(span=cfg.window, adjust=False, min_samples=least, ignore_nulls=False)
        score = pl.when(score.is_not_null()).then(ewm.over(stretch))
    return df.select(score.alias(cfg.names))


def smoothen_lookback(cfg: SmoothenConfig) -> History:
    """Rolling: ``window - 1`` rows; ewm: ``window // 2 - 1`` rows to start plus the decay warm-up."""
    if cfg.window is None or cfg.window <= 1:
        return History()
    if cfg.method == "rolling":
        return History(rows=int(cfg.window) - 1)
    return History(rows=max(1, int(cfg.window // 2)) - 1, warmup=decay_rows(2.0 / (cfg.window + 1)))


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


def threshold_signals(score: pl.Expr, buy: float, sell: float, names: list[str]) -> list[pl.Expr]:
    """The threshold rule as expressions (also used by the simulation grid search)."""
    return [
        (score >= buy).fill_null(False).alias(names[0]),
        (score <= sell).fill_null(False).alias(names[1]),
    ]


def threshold_rule(
    df: pl.DataFrame, cfg: ThresholdRuleConfig, column_prefix: str, feature_prefix: str
) -> pl.DataFrame:
    require_columns(df, [cfg.columns], "threshold_rule signal set")
    p = cfg.parameters
    return df.select(
        threshold_signals(pl.col(cfg.columns), p.buy_signal_threshold, p.sell_signal_threshold, cfg.names)
    )


class Threshold2Parameters(Model):
    buy_signal_threshold: float
    buy_signal_threshold_2: float
    sell_signal_threshold: float
    sell_signal_threshold_2: float


class ThresholdRule2Config(Model):
    columns: list[str] = Field(min_length=2, max_length=2, description="[score, second score]")
    names: list[str] = Field(default=["buy_signal", "sell_signal"], min_length=2, max_length=2)
    parameters: Threshold2Parameters


def threshold_rule2(
    df: pl.DataFrame, cfg: ThresholdRule2Config, column_prefix: str, feature_prefix: str
) -> pl.DataFrame:
    require_columns(df, cfg.columns, "threshold_rule2 signal set")
    first, second = (pl.col(c) for c in cfg.columns)
    p = cfg.parameters
    buy = (first >= p.buy_signal_threshold) & (second >= p.buy_signal_threshold_2)
    sell = (first <= p.sell_signal_threshold) & (second <= p.sell_signal_threshold_2)
    return df.select(buy.fill_null(False).alias(cfg.names[0]), sell.fill_null(False).alias(cfg.names[1]))


def _no_history(cfg: object) -> History:
    return History()


#: Registered by :mod:`itb.generators.builtins`.
GENERATORS = (
    Generator("combine", "signal", CombineConfig, combine, lambda c, *_: [c.names], lookback=_no_history),
    Generator(
        "smoothen", "signal", SmoothenConfig, smoothen, lambda c, *_: [c.names], lookback=smoothen_lookback
    ),
    Generator(
        "threshold_rule",
        "signal",
        ThresholdRuleConfig,
        threshold_rule,
        lambda c, *_: list(c.names),
        lookback=_no_history,
    ),
    Generator(
        "threshold_rule2",
        "signal",
        ThresholdRule2Config,
        threshold_rule2,
        lambda c, *_: list(c.names),
        lookback=_no_history,
    ),
)
