"""Holdout figures of a model set: AUC/AP per model and the backtest of the signals it makes.

The same computation as predict -> signals -> simulate on the holdout (``simulate.span`` is forced
to ``holdout``, the grid is left out), in memory, so the live models and a candidate are judged on
exactly the same rows of today's features and labels without writing anything.
"""

from __future__ import annotations

import polars as pl

from itb.compute.predictions import holdout_metrics, predictions_frame
from itb.compute.signals import apply_signal_sets
from itb.compute.simulate import simulate
from itb.compute.training import TrainingTable
from itb.config.models import PipelineConfig
from itb.models.metrics import Metrics
from itb.models.modelset import ModelSet, feature_config_hash
from itb.promotion.records import BacktestFigures, Holdout, ModelFigures, SetFigures
from itb.timefmt import iso_ms


def holdout_of(table: TrainingTable) -> Holdout:
    stamps = table.df["timestamp"][table.holdout_start :]
    rows = stamps.len()
    return Holdout(
        rows=rows,
        first=iso_ms(int(stamps[0])) if rows else None,
        last=iso_ms(int(stamps[-1])) if rows else None,
    )


def set_figures(
    config: PipelineConfig, table: TrainingTable, close: pl.Series, models: ModelSet, threads: int = 1
) -> SetFigures:
    """Score ``table`` with ``models`` (refusing models of other features, like predict does) and
    measure them on its holdout rows."""
    models.check(table.features, feature_config_hash(config.feature_sets, table.features))
    predictions = predictions_frame(models, table.df, close, table.holdout_from_ms, threads)
    pairs = [(label, a) for label in config.train.labels for a in config.train.algorithms]
    held = holdout_metrics(pairs, table.df.slice(table.holdout_start), predictions.slice(table.holdout_start))
    figures = {name: _figures(m) for name, m in held.items()}
    signals = apply_signal_sets(predictions, config.signal_sets)
    on_holdout = config.model_copy(
        update={"simulate": config.simulate.model_copy(update={"span": "holdout", "grid": None})}
    )
    summary = simulate(signals, on_holdout, threads).result.summary
    backtest = BacktestFigures(
        profit_pct=float(summary["profit_pct"]),
        max_drawdown_pct=float(summary["max_drawdown_pct"]),
        trades=int(summary["trades"]),
        fee=config.simulate.fee,
    )
    return SetFigures(models=figures, backtest=backtest)


def _figures(metrics: Metrics) -> ModelFigures:
    auc, ap = metrics.get("auc"), metrics.get("ap")
    return ModelFigures(
        auc=None if auc is None else float(auc),
        ap=None if ap is None else float(ap),
        rows=int(metrics.get("rows") or 0),
    )
