"""Audit: do the logged live rows equal the batch pipeline's rows for the same candles?

For every logged row whose timestamp the batch outputs cover, each feature is compared with
``features.parquet``, ``close`` and each score with ``predictions.parquet``, each signal column with
``signals.parquet`` (see :func:`batch_table` for configs with ``rolling``). Floats differ by
``|live - batch| / max(|live|, |batch|)`` (0 when equal, also both null; infinite when only one is
null); booleans and strings differ when unequal. Every nonzero difference is reported; the audit
fails when one exceeds :data:`TOLERANCE`, or when no logged row is covered by the batch outputs
(then nothing was proven). :func:`compare_rows` is pure; :func:`audit_symbol` reads the tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from itb import datasets
from itb.compute.signals import apply_signal_sets
from itb.config.models import PipelineConfig
from itb.errors import DataError
from itb.models.trained import model_name
from itb.serve.engine import feature_columns, serve_spec
from itb.serve.live_log import LOG_COLUMNS, LiveLog
from itb.serve.models import load_serving_models
from itb.storage.store import Storage

#: Largest relative difference that counts as equal.
TOLERANCE = 1e-9


@dataclass(frozen=True)
class Difference:
    timestamp: int
    column: str
    table: str
    live: Any
    batch: Any
    #: ``|live - batch| / max(|live|, |batch|)``; inf when one side is null or unequal non-numbers.
    relative: float


@dataclass
class AuditReport:
    symbol: str
    days: list[str]
    rows: int = 0
    #: Logged rows the batch outputs hold (the others cannot be checked).
    covered: int = 0
    columns: int = 0
    differences: list[Difference] = field(default_factory=list)
    #: Logged rows scored by other models than the data root holds now (a retrain since): their
    #: scores and signals are expected to differ from the batch outputs of the new models.
    other_model_rows: int = 0

    @property
    def max_relative(self) -> float:
        return max((d.relative for d in self.differences), default=0.0)

    @property
    def failed(self) -> bool:
        return self.covered == 0 or self.max_relative > TOLERANCE


def _relative(live: pl.Expr, batch: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    one_null = live.is_null() ^ batch.is_null()
    if dtype.is_numeric():
        a, b = live.cast(pl.Float64), batch.cast(pl.Float64)
        scale = pl.max_horizontal(a.abs(), b.abs())
        value = pl.when(a == b).then(0.0).otherwise((a - b).abs() / scale)
    else:
        value = pl.when(live == batch).then(0.0).otherwise(float("inf"))
    return pl.when(one_null).then(float("inf")).otherwise(value.fill_null(0.0))


def compare_rows(
    live: pl.DataFrame, batch: pl.DataFrame, columns: Sequence[str], table: str
) -> list[Difference]:
    """Every nonzero difference of ``columns`` between the rows of ``live`` and ``batch`` with the
    same ``timestamp`` (rows only one side has are not compared)."""
    missing = [c for c in ("timestamp", *columns) if c not in batch.columns]
    if missing:
        raise DataError(f"audit: {table} has no column {missing[0]!r} that the live log has; rerun `itb run`")
    joined = live.select("timestamp", *columns).join(
        batch.select("timestamp", *columns), on="timestamp", how="inner", suffix="__batch"
    )
    found: list[Difference] = []
    for column in columns:
        relative = _relative(pl.col(column), pl.col(f"{column}__batch"), joined.schema[column])
        rows = joined.select("timestamp", column, f"{column}__batch", relative.alias("__rel")).filter(
            pl.col("__rel") > 0
        )
        found += [Difference(int(t), column, table, a, b, float(r)) for t, a, b, r in rows.iter_rows()]
    return found


def audit_symbol(config: PipelineConfig, storage: Storage, day: str | None = None) -> AuditReport:
    """Compare ``config.symbol``'s live log (one ``day`` or every day) with the batch outputs."""
    log = LiveLog(storage, config.symbol)
    days = [day] if day is not None else log.days()
    if day is not None and day not in log.days():
        raise DataError(f"audit: no live log for {config.symbol} on {day} under {storage.root_url}")
    if not days:
        raise DataError(
            f"audit: no live log for {config.symbol} under {storage.root_url}; run `itb serve` first"
        )
    live = pl.concat([log.read_day(d) for d in days], how="vertical_relaxed").sort("timestamp")
    for name in (datasets.FEATURES, datasets.PREDICTIONS, datasets.SIGNALS):
        if not storage.exists(name):
            raise DataError(f"audit: no {name} under {storage.root_url}; run `itb run` first")
    features = [c for c in feature_columns(config.feature_sets) if c in live.columns]
    scores = [model_name(label, a.name) for label in config.train.labels for a in config.train.algorithms]
    known = {"timestamp", "close", *features, *scores, *LOG_COLUMNS}
    signals = [c for c in live.columns if c not in known]
    stamps = live["timestamp"].implode()
    tables = {
        datasets.FEATURES: features,
        datasets.PREDICTIONS: ["close", *scores],
        datasets.SIGNALS: signals,
    }
    report = AuditReport(config.symbol, days, rows=live.height, columns=sum(len(c) for c in tables.values()))
    current = load_serving_models(config, storage, serve_spec(config)).key
    report.other_model_rows = live.filter(pl.col("model_key") != current).height
    for name, columns in tables.items():
        batch = batch_table(config, storage, name).filter(pl.col("timestamp").is_in(stamps))
        if name == datasets.FEATURES:
            report.covered = batch.height
        report.differences += compare_rows(live, batch, columns, name)
    return report


def batch_table(config: PipelineConfig, storage: Storage, name: str) -> pl.DataFrame:
    """A batch output to compare with. With ``rolling`` configured, ``signals.parquet`` comes from the
    walk-forward models, not the ones served: the signals are then recomputed from
    ``predictions.parquet`` (the served models' scores) by the signal sets, over the whole table."""
    if name == datasets.SIGNALS and config.rolling is not None:
        return apply_signal_sets(storage.read_parquet(datasets.PREDICTIONS), config.signal_sets)
    return storage.read_parquet(name)
