"""Names of the datasets the pipeline writes under the data root, declared once.

Stages, the runner, the CLI and the tests refer to these constants (and the helpers for the names
that depend on a model or a step), so that renaming a file is one edit.
"""

from __future__ import annotations

MERGED = "merged.parquet"
FEATURES = "features.parquet"
LABELS = "labels.parquet"
PREDICTIONS = "predictions.parquet"
METRICS = "metrics.json"
PREDICTIONS_ROLLING = "predictions_rolling.parquet"
METRICS_ROLLING = "metrics_rolling.json"
SIGNALS = "signals.parquet"
SIMULATION = "simulation.json"
SIMULATION_EQUITY = "simulation_equity.parquet"
REPORT = "report.html"

MODELS_FOLDER = "models"
ROLLING_FOLDER = "rolling"


def model_text(name: str) -> str:
    """LightGBM's text model of the model ``name`` (``gb`` only)."""
    return f"{MODELS_FOLDER}/{name}.txt"


def model_meta(name: str) -> str:
    """The metadata (and, for ``lc``, the coefficients) of the model ``name``."""
    return f"{MODELS_FOLDER}/{name}.json"


def rolling_step(step: str) -> str:
    """The partial predictions of one walk-forward step."""
    return f"{ROLLING_FOLDER}/{step}.parquet"


LIVE_FOLDER = "live"


def live_day(symbol: str, day: str) -> str:
    """The live log of one symbol and UTC day (``YYYY-MM-DD``), written by ``itb serve``."""
    return f"{LIVE_FOLDER}/{symbol}/{day}.parquet"


def live_state(symbol: str) -> str:
    """The last candle ``itb serve`` processed for ``symbol`` (where a restart continues)."""
    return f"{LIVE_FOLDER}/{symbol}/state.json"
