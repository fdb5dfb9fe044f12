"""The pipeline configuration as pydantic v2 models.

Sections follow the reference project (``symbol``, ``freq``, ``data_sources``, ``feature_sets``,
``label_sets``, ``train``, ``signal_sets``, ``simulate``, ``output_sets``) so a user can port a config.
Every model forbids unknown keys: a typo is an error, never a silently ignored setting. Generator
sections carry a free ``config`` dict here; it is validated against the generator's own model by
:func:`itb.config.loader.validate_generators`, so errors still name the full key path.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

SECRET_REF = re.compile(r"^(env:[A-Za-z_][A-Za-z0-9_]*|keyvault://[A-Za-z0-9-]+/[A-Za-z0-9-]+)$")
_FREQ = re.compile(r"^(\d+)\s*(s|sec|m|min|t|h|d)$", re.IGNORECASE)
_FREQ_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "t": 60, "h": 3600, "d": 86400}


class Model(BaseModel):
    """Base for every config model: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


def parse_freq(freq: str) -> timedelta:
    """Parse a candle interval: Binance style (``1m``, ``1h``) or pandas style (``1min``, ``1T``)."""
    match = _FREQ.match(freq.strip())
    if not match:
        raise ValueError(f"unknown frequency {freq!r}: use e.g. '1m', '1min', '5m', '1h', '1d'")
    return timedelta(seconds=int(match.group(1)) * _FREQ_UNITS[match.group(2).lower()])


class DataSource(Model):
    """One kline source. Its columns enter the merged table with ``column_prefix`` in front."""

    symbol: str = Field(min_length=1)
    market: Literal["spot", "futures-um"] = "spot"
    path: str | None = Field(
        default=None,
        description="A Parquet file or folder (local path or fsspec URL), or 'sample:NAME' for bundled "
        "data. Default: what `itb download` stores under <data_root>/klines/.",
    )
    column_prefix: str = ""


class MergeConfig(Model):
    """How sources become one continuous time raster at ``freq``."""

    gaps: Literal["fill", "null"] = Field(
        default="fill",
        description="'fill': a missing candle repeats the previous close with zero volume and trades; "
        "'null': the row stays, its values are null.",
    )
    start: datetime | None = None
    end: datetime | None = None


class GeneratorSet(Model):
    """A feature or label set: which generator, on which source columns, with its own config."""

    generator: str = Field(min_length=1)
    column_prefix: str = ""
    feature_prefix: str = ""
    config: dict[str, Any] = Field(default_factory=dict)


class SignalSet(Model):
    generator: str = Field(min_length=1)
    config: dict[str, Any] = Field(default_factory=dict)


class Algorithm(Model):
    """A model type trained for every label; its scores are named ``<label>_<name>``."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_]+$")
    algo: Literal["gb"] = "gb"
    params: dict[str, Any] = Field(default_factory=dict)


class TrainConfig(Model):
    features: list[str] | None = Field(
        default=None, description="Feature columns to train on; default: every generated feature."
    )
    labels: list[str] = Field(min_length=1)
    algorithms: list[Algorithm] = Field(min_length=1)
    holdout: float = Field(
        default=0.2,
        gt=0,
        lt=1,
        description="Fraction of rows at the end kept out of training; predict reports metrics on it.",
    )
    seed: int = 42
    threads: int | None = Field(
        default=None, ge=1, description="LightGBM threads; default: the stage's thread budget."
    )

    @field_validator("labels")
    @classmethod
    def _unique_labels(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("labels must be unique")
        return value


class SimulateConfig(Model):
    buy_column: str = "buy_signal"
    sell_column: str = "sell_signal"
    price_column: str = "close"
    fee: float = Field(default=0.001, ge=0, lt=0.1, description="Fee per trade side, as a fraction.")
    span: Literal["holdout", "all"] = Field(
        default="holdout", description="Backtest only rows no model was trained on ('holdout'), or all."
    )


class OutputSet(Model):
    generator: str = Field(min_length=1)
    config: dict[str, Any] = Field(default_factory=dict)


class BackendSettings(Model):
    name: str = "local"
    workers: int | None = Field(default=None, ge=1, description="Stages run at once; default: CPU count.")
    threads: int | None = Field(
        default=None, ge=1, description="Threads per stage process; default: CPU count / workers (>= 1)."
    )
    stage_timeout_s: float = Field(default=3600.0, gt=0)
    options: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Per-backend settings, keyed by backend name."
    )


class PipelineConfig(Model):
    """A whole pipeline: what data, which features and labels, how to train, signal and simulate."""

    description: str = ""
    symbol: str = Field(min_length=1)
    freq: str = "1m"
    data_root: str = "./data"
    data_sources: list[DataSource] = Field(min_length=1)
    merge: MergeConfig = Field(default_factory=MergeConfig)
    feature_sets: list[GeneratorSet] = Field(default_factory=list)
    label_sets: list[GeneratorSet] = Field(default_factory=list)
    train: TrainConfig
    signal_sets: list[SignalSet] = Field(default_factory=list)
    simulate: SimulateConfig = Field(default_factory=SimulateConfig)
    output_sets: list[OutputSet] = Field(default_factory=list)
    backend: BackendSettings = Field(default_factory=BackendSettings)
    secrets: dict[str, str] = Field(
        default_factory=dict,
        description="Named secret references ('env:NAME' or 'keyvault://VAULT/NAME'); never values.",
    )

    @field_validator("freq")
    @classmethod
    def _valid_freq(cls, value: str) -> str:
        parse_freq(value)
        return value

    @field_validator("secrets")
    @classmethod
    def _references_only(cls, value: dict[str, str]) -> dict[str, str]:
        for name, ref in value.items():
            if not SECRET_REF.match(ref):
                raise ValueError(
                    f"secret {name!r} must be a reference like 'env:NAME' or 'keyvault://VAULT/NAME', "
                    "never the value itself"
                )
        return value

    @property
    def freq_ms(self) -> int:
        return int(parse_freq(self.freq).total_seconds() * 1000)
