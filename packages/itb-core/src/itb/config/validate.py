"""What ``itb validate`` checks beyond the config file: the data root, the sources' data, the models'
parameters. Each check returns problems as ``key.path: message`` lines (naming file, column and row).

The source checks read Parquet metadata (schema, row count) and only the ``timestamp`` column,
so they take milliseconds where a run would take minutes to fail on the same data. The stages
check the same things again (the data may change after validation) and fail with exit code 2.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from itb.config.models import Algorithm, PipelineConfig
from itb.errors import ItbError
from itb.models.sklearn_params import LOGISTIC_REGRESSION_PARAMETERS, SVC_PARAMETERS
from itb.storage.sources import SourceNotFound, resolve_source
from itb.storage.url import check_data_root, filesystem

#: Columns a kline source must have (the others are optional).
REQUIRED_KLINE_COLUMNS = ("timestamp", "open", "high", "low", "close")
#: Parameters itb itself takes out of a 'gb' algorithm's params before LightGBM sees them.
ITB_GB_PARAMS = {"num_boost_round", "n_estimators"}


def check_data_root_problem(config: PipelineConfig) -> list[str]:
    try:
        check_data_root(config.data_root)
    except ItbError as exc:
        return [f"data_root: {exc}"]
    return []


def _ms(value: datetime | None) -> int | None:
    return int(value.timestamp() * 1000) if value is not None else None


def _source_timestamps(url: str, where: str, problems: list[str]) -> np.ndarray | None:
    """The file's timestamps (int64 ms), or None with a problem recorded."""
    fs, path = filesystem(url)
    try:
        with fs.open(path, "rb") as handle:
            parquet = pq.ParquetFile(handle)
            names = parquet.schema_arrow.names
            missing = [c for c in REQUIRED_KLINE_COLUMNS if c not in names]
            if missing:
                problems.append(f"{where}: {url}: missing kline column(s) {missing}; has {names}")
                return None
            if parquet.metadata.num_rows == 0:
                problems.append(f"{where}: {url}: has no rows")
                return None
            column = parquet.read(columns=["timestamp"]).column("timestamp")
    except (pa.ArrowInvalid, OSError) as exc:
        problems.append(f"{where}: {url}: not a readable Parquet file: {exc}")
        return None
    if pa.types.is_timestamp(column.type):
        column = column.cast(pa.timestamp("ms")).cast(pa.int64())
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.int64)


def check_source_data(config: PipelineConfig) -> list[str]:
    """Each source file is Parquet with the kline columns and rows, on the ``freq`` raster; the
    merged range leaves enough rows for the label horizon, training and the holdout."""
    problems: list[str] = []
    freq = config.freq_ms
    spans: list[tuple[int, int]] = []
    for i, source in enumerate(config.data_sources):
        where = f"data_sources[{i}].path"
        try:
            urls = resolve_source(source, config)
        except SourceNotFound as exc:
            problems.append(f"{where}: {exc}")
            continue
        first = last = None
        for url in urls:
            stamps = _source_timestamps(url, where, problems)
            if stamps is None:
                continue
            off = np.flatnonzero(stamps % freq != 0)
            if off.size:
                problems.append(
                    f"{where}: {url}: row {int(off[0])}: timestamp {int(stamps[off[0]])} is not on the "
                    f"{config.freq} raster ({off.size} such rows)"
                )
            low, high = int(stamps.min()), int(stamps.max())
            first = low if first is None else min(first, low)
            last = high if last is None else max(last, high)
        if first is not None and last is not None:
            spans.append((first, last))
    if problems or not spans:
        return problems
    start = _ms(config.merge.start) or spans[0][0]
    end = _ms(config.merge.end) or spans[0][1] + freq
    rows = max(0, (end - (start - start % freq) + freq - 1) // freq)
    holdout = rows - int(rows * (1 - config.train.holdout))
    train_rows = int(rows * (1 - config.train.holdout)) - config.label_horizon()
    span = "merge.start/merge.end" if config.merge.start or config.merge.end else "data_sources"
    if rows == 0:
        problems.append(f"{span}: the merged range has no rows")
    elif train_rows <= 0 or holdout <= 0:
        problems.append(
            f"train.holdout: {rows} merged rows leave {max(train_rows, 0)} for training after the holdout "
            f"({holdout} rows) and the label horizon ({config.label_horizon()} rows); widen {span}"
        )
    return problems


def _lightgbm_parameters() -> set[str] | None:
    """Every LightGBM parameter name and alias (:mod:`itb.models.lgbm_params`: LightGBM's own list,
    kept in itb so that checking a config does not import LightGBM)."""
    from itb.models.lgbm_params import LIGHTGBM_PARAMETERS

    return set(LIGHTGBM_PARAMETERS)


def _installed_sklearn_parameters(algo: str) -> set[str] | None:
    """The installed scikit-learn's parameters of ``algo``'s estimator (None when it is not
    installed: the train stage says so itself). Only asked about names the lists below lack."""
    try:
        if algo == "svc":
            from sklearn.svm import SVC

            return set(SVC().get_params())
        from sklearn.linear_model import LogisticRegression

        return set(LogisticRegression().get_params())
    except ImportError:
        return None


def check_algorithm_params(config: PipelineConfig) -> list[str]:
    """Free-form ``params`` of each algorithm must be parameters its library takes."""
    problems: list[str] = []
    known: dict[str, set[str] | None] = {}
    for i, algorithm in enumerate(config.train.algorithms):
        names = _known_params(algorithm, known)
        if names is None:
            continue
        library = {"gb": "LightGBM", "lc": "scikit-learn's LogisticRegression", "svc": "scikit-learn's SVC"}[
            algorithm.algo
        ]
        unknown = [key for key in algorithm.params if key not in names]
        if unknown and algorithm.algo in ("lc", "svc"):  # perhaps a newer scikit-learn's parameter
            installed = _installed_sklearn_parameters(algorithm.algo)
            unknown = [] if installed is None else [key for key in unknown if key not in installed]
        for key in unknown:
            problems.append(f"train.algorithms[{i}].params.{key}: not a parameter of {library}")
    return problems


def _known_params(algorithm: Algorithm, cache: dict[str, set[str] | None]) -> set[str] | None:
    if algorithm.algo not in cache:
        if algorithm.algo == "gb":
            found = _lightgbm_parameters()
            cache["gb"] = None if found is None else found | ITB_GB_PARAMS
        elif algorithm.algo == "svc":
            cache["svc"] = set(SVC_PARAMETERS)
        else:
            cache["lc"] = set(LOGISTIC_REGRESSION_PARAMETERS)
    return cache[algorithm.algo]


def check_feature_sets(config: PipelineConfig) -> list[str]:
    """A pipeline trains models, so it needs features (a download-only config may leave them out:
    ``itb download`` does not validate this way)."""
    return [] if config.feature_sets else ["feature_sets: empty; the models need at least one feature set"]


def config_checks(config: PipelineConfig) -> list[str]:
    """The checks that read no data (``itb run`` makes them too, before it starts)."""
    return [*check_feature_sets(config), *check_algorithm_params(config)]


def deep_checks(config: PipelineConfig) -> list[str]:
    """Everything ``itb validate`` adds to the config checks."""
    return [*config_checks(config), *check_data_root_problem(config), *check_source_data(config)]
