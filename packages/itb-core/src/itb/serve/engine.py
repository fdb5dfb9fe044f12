"""The incremental engine: one symbol's candles in, the new rows' features, scores and signals out.

Invariant (what :mod:`itb.serve.audit` checks): a row :meth:`SymbolEngine.step` returns equals the
batch pipeline's row for the same timestamp (``features.parquet``, ``predictions.parquet``,
``signals.parquet``), because it is computed by the same functions on a window long enough for the
generators' declared history (:class:`itb.generators.history.History`):

- features: the feature sets' generators run on the last ``rows + warmup`` candles before the new
  ones plus the new ones; only the new rows are kept (a windowed value reads its window alone, a
  recursive one is within 1e-12 after its warm-up);
- scores: the :class:`~itb.models.modelset.ModelSet` scores the new rows only (row by row);
- signals: the signal sets run on the last ``rows + warmup`` scored rows plus the new ones.

A generator without a bounded history (declared cumulative, or a user function that declares
nothing) cannot be served this way: :func:`serve_spec` refuses it, naming the set. Pure: no I/O,
no clock; the caller measures and persists.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from itb.compute.features import apply_feature_sets
from itb.compute.signals import apply_signal_sets
from itb.config.models import GeneratorSet, PipelineConfig, SignalSet
from itb.errors import ConfigError, DataError
from itb.generators.lookback import lookback_of_sets
from itb.generators.registry import Kind, get_generator
from itb.models.modelset import ModelSet


@dataclass(frozen=True)
class ServeSpec:
    """What a config asks of the engine: the sets, the column names, the window sizes."""

    freq_ms: int
    feature_sets: tuple[GeneratorSet, ...]
    signal_sets: tuple[SignalSet, ...]
    #: Every feature column, in the order of the batch features table (without ``timestamp``).
    feature_columns: tuple[str, ...]
    #: The models' inputs: ``train.features`` or every feature column.
    model_features: tuple[str, ...]
    #: Candles kept before the new ones: the feature sets' history (rows + warm-up).
    candle_rows: int
    #: Scored rows kept before the new ones: the signal sets' history (rows + warm-up).
    score_rows: int


def _bounded_history(sets: Sequence[GeneratorSet | SignalSet], kind: Kind, where: str) -> int:
    """Rows of history the sets need; a set without a bounded history is a :class:`ConfigError`."""
    for i, gset in enumerate(sets):
        if lookback_of_sets([gset], kind).cumulative:
            raise ConfigError(
                f"{where}[{i}] ({gset.generator}): its values depend on the whole history (cumulative, "
                "or a user function without a declared lookback), so it cannot be computed on a "
                "recent window; itb serve needs generators with a bounded history"
            )
    return lookback_of_sets(sets, kind).total


def feature_columns(sets: Sequence[GeneratorSet]) -> list[str]:
    """The columns the feature sets make, in the batch features table's order."""
    names: list[str] = []
    for gset in sets:
        generator = get_generator("feature", gset.generator)
        names += generator.outputs(generator.validate(gset.config), gset.column_prefix, gset.feature_prefix)
    return names


def serve_spec(config: PipelineConfig) -> ServeSpec:
    """The engine's spec for ``config`` (raises :class:`ConfigError` when it cannot be served)."""
    columns = feature_columns(config.feature_sets)
    model_features = config.train.features or columns
    return ServeSpec(
        freq_ms=config.freq_ms,
        feature_sets=tuple(config.feature_sets),
        signal_sets=tuple(config.signal_sets),
        feature_columns=tuple(columns),
        model_features=tuple(model_features),
        candle_rows=_bounded_history(config.feature_sets, "feature", "feature_sets"),
        score_rows=_bounded_history(config.signal_sets, "signal", "signal_sets"),
    )


class SymbolEngine:
    """One symbol's windows of recent candles and scored rows; :meth:`step` adds new candles.

    Memory is bounded by the spec: at most ``candle_rows`` candles and ``score_rows`` scored rows
    are kept between steps, whatever the number of steps.
    """

    def __init__(self, spec: ServeSpec, models: ModelSet, model_key: str) -> None:
        self.spec = spec
        self.models = models
        self.model_key = model_key
        self._candles: pl.DataFrame | None = None
        self._scored: pl.DataFrame | None = None
        self._last: int | None = None

    @property
    def last_timestamp(self) -> int | None:
        """Open time (ms) of the last candle stepped, None before the first."""
        return self._last

    @property
    def held_rows(self) -> tuple[int, int]:
        """(candles, scored rows) kept between steps: at most (``candle_rows``, ``score_rows``)."""
        return (
            0 if self._candles is None else self._candles.height,
            0 if self._scored is None else self._scored.height,
        )

    def use_models(self, models: ModelSet, model_key: str) -> None:
        """Score the next step's rows with other models (called between steps, never within one)."""
        self.models = models
        self.model_key = model_key

    def warm_up(self, history: pl.DataFrame) -> None:
        """Fill the windows from candles before the first one to serve (their rows are dropped).

        Only the last ``candle_rows + score_rows`` candles matter: the scored rows the signal sets
        look back on, and the candles their features need.
        """
        self.step(history.tail(self.spec.candle_rows + self.spec.score_rows))

    def step(self, candles: pl.DataFrame) -> pl.DataFrame:
        """Rows for ``candles`` (consecutive on the ``freq`` raster, right after the last candle):
        ``timestamp``, ``close``, every feature, every model's score, every signal set's columns."""
        if candles.height == 0:
            raise DataError("serve: a step needs at least one new candle")
        self._check_raster(candles)
        new = candles.height
        window = candles
        if self._candles is not None:
            window = pl.concat([self._candles, candles], how="vertical_relaxed")
        features = apply_feature_sets(window, self.spec.feature_sets).tail(new)
        if tuple(features.columns) != self.spec.feature_columns:
            raise DataError(
                f"serve: the feature sets made columns {features.columns}, but their generators "
                f"declare {list(self.spec.feature_columns)}"
            )
        scores = self.models.score(features.select(self.spec.model_features))
        fresh = candles.select("timestamp", "close").with_columns(
            pl.Series(name, values).fill_nan(None) for name, values in scores.items()
        )
        scored = fresh if self._scored is None else pl.concat([self._scored, fresh], how="vertical_relaxed")
        signals = apply_signal_sets(scored, self.spec.signal_sets).tail(new).drop(scored.columns)
        self._candles = window.tail(self.spec.candle_rows)
        self._scored = scored.tail(self.spec.score_rows)
        self._last = int(candles["timestamp"][-1])
        parts = [fresh.select("timestamp", "close"), features, fresh.drop("timestamp", "close"), signals]
        return pl.concat(parts, how="horizontal")

    def _check_raster(self, candles: pl.DataFrame) -> None:
        stamps = candles["timestamp"]
        first = int(stamps[0])
        last = self.last_timestamp
        if last is not None and first != last + self.spec.freq_ms:
            raise DataError(
                f"serve: candle {first} does not follow the last one ({last}) on the "
                f"{self.spec.freq_ms} ms raster; missing candles must be filled (merge) first"
            )
        if candles.height > 1 and not (stamps.diff().drop_nulls() == self.spec.freq_ms).all():
            raise DataError("serve: the new candles are not consecutive on the freq raster")
