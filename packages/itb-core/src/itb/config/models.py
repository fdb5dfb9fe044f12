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
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SECRET_REF = re.compile(r"^(env:[A-Za-z_][A-Za-z0-9_]*|keyvault://[A-Za-z0-9-]+/[A-Za-z0-9-]+)$")
_FREQ = re.compile(r"^(\d+)\s*(s|sec|m|min|t|h|d)$", re.IGNORECASE)
#: A data source whose ``symbol`` is this placeholder takes each symbol of a multi-symbol config.
SYMBOL_PLACEHOLDER = "{symbol}"
_FREQ_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "t": 60, "h": 3600, "d": 86400}


class Model(BaseModel):
    """Base for every config model: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


def joined_prefix(value: str) -> str:
    """A column or feature prefix as the reference project joins it: ``"btc"`` means ``btc_close``.

    A prefix that already ends in ``_`` is kept, so ``"btc_"`` and ``"btc"`` name the same columns.
    """
    return value if not value or value.endswith("_") else f"{value}_"


def as_list(value: Any) -> Any:
    """The reference project's scalar-or-list form: a single value where a list is expected means
    a list of that one value (``"windows": 5`` is ``[5]``). Lists and ``None`` pass unchanged."""
    return value if value is None or isinstance(value, list | tuple | dict) else [value]


def parse_freq(freq: str) -> timedelta:
    """Parse a candle interval: Binance style (``1m``, ``1h``) or pandas style (``1min``, ``1T``)."""
    match = _FREQ.match(freq.strip())
    if not match:
        raise ValueError(f"unknown frequency {freq!r}: use e.g. '1m', '1min', '5m', '1h', '1d'")
    return timedelta(seconds=int(match.group(1)) * _FREQ_UNITS[match.group(2).lower()])


def span_ms(text: str) -> int:
    """A span written like a candle interval (``1m``, ``7d``; :func:`parse_freq`) in milliseconds."""
    return int(parse_freq(text).total_seconds() * 1000)


class DataSource(Model):
    """One kline source. Its columns enter the merged table with ``column_prefix`` in front."""

    symbol: str = Field(min_length=1)
    market: Literal["spot", "futures-um"] = "spot"
    path: str | None = Field(
        default=None,
        description="A Parquet file or folder (local path or fsspec URL), or 'sample:NAME' for bundled "
        "data. Default: what `itb download` stores under <data_root>/klines/.",
    )
    column_prefix: str = Field(
        default="",
        description="Put in front of the source's columns, joined with '_' as in the reference "
        "project ('btc' and 'btc_' both give 'btc_close').",
    )

    @field_validator("column_prefix")
    @classmethod
    def _join(cls, value: str) -> str:
        return joined_prefix(value)


class MergeConfig(Model):
    """How sources become one continuous time raster at ``freq``."""

    gaps: Literal["fill", "null"] = Field(
        default="fill",
        description="'fill': a missing candle repeats the previous close with zero volume and trades; "
        "'null': the row stays, its values are null.",
    )
    start: datetime | None = None
    end: datetime | None = None
    max_filled_share: float = Field(
        default=0.05,
        ge=0.0,
        le=1.0,
        description="Largest share of the rows that may be missing from a source (filled, or left null "
        "with gaps 'null'); above it merge fails, naming the share and the largest gap. Features and "
        "models over mostly invented candles mean nothing, and a large share usually means a wrong "
        "path or merge.start/end.",
    )


class GeneratorSet(Model):
    """A feature or label set: which generator, on which source columns, with its own config."""

    generator: str = Field(min_length=1)
    column_prefix: str = Field(
        default="", description="Read the inputs with this prefix, joined with '_' ('btc': 'btc_close')."
    )
    feature_prefix: str = Field(
        default="", description="Put in front of every output, joined with '_' ('f': 'f_close_SMA_5')."
    )
    config: dict[str, Any] = Field(default_factory=dict)

    @field_validator("column_prefix", "feature_prefix")
    @classmethod
    def _join(cls, value: str) -> str:
        return joined_prefix(value)


class SignalSet(Model):
    generator: str = Field(min_length=1)
    config: dict[str, Any] = Field(default_factory=dict)


#: What the reference project keeps in an algorithm's ``params`` next to ``train`` (hyper-parameters).
ITB_ALGORITHM_SETTINGS = ("is_scale", "length", "is_regression")


class Algorithm(Model):
    """A model type trained for every label; its scores are named ``<label>_<name>``."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_]+$")
    algo: Literal["gb", "lc", "svc"] = Field(
        default="gb",
        description="'gb': LightGBM (a classifier, or a regressor with params.objective 'regression'); "
        "'lc': logistic regression; 'svc': a support vector classifier with Platt probabilities "
        "(both scikit-learn, the optional extra itb-core[lc]).",
    )
    params: dict[str, Any] = Field(default_factory=dict)
    scale: bool | None = Field(
        default=None,
        description="Standardise features (mean 0, std 1, fitted on the training rows only and saved "
        "with the model); default: on for 'lc' and 'svc' (they need it), off for 'gb' (trees do not).",
    )

    length: int | None = Field(
        default=None,
        ge=1,
        description="Train on at most the last N usable rows of the training range (the reference "
        "project's params.length); default: all of them.",
    )

    @model_validator(mode="before")
    @classmethod
    def _reference_layout(cls, data: Any) -> Any:
        """The reference project's layout: ``params`` holds itb's own settings (``is_scale``,
        ``length``, ``is_regression``) and ``train`` the hyper-parameters. It becomes itb's:
        ``scale``, ``length`` and ``params`` (``is_regression`` as LightGBM's regression objective)."""
        if isinstance(data, dict) and data.get("algo") == "nn":
            raise ValueError(
                "algo 'nn' (the reference project's Keras network) is not supported: use 'gb', 'lc' or 'svc'"
            )
        if not isinstance(data, dict) or "train" not in data:
            return data
        data = dict(data)
        hyper = data.pop("train")
        settings = data.get("params") or {}
        if not isinstance(hyper, dict) or not isinstance(settings, dict):
            raise ValueError("'params' and 'train' must be objects (the reference project's layout)")
        unknown = sorted(set(settings) - set(ITB_ALGORITHM_SETTINGS))
        if unknown:
            raise ValueError(
                f"with 'train' (the reference layout) 'params' takes {list(ITB_ALGORITHM_SETTINGS)}; "
                f"move {unknown} into 'train'"
            )
        params = {k: v for k, v in hyper.items() if v is not None}  # null: the library's default
        if settings.get("is_regression"):
            params.setdefault("objective", "regression")
        data["params"] = params
        if "is_scale" in settings:
            data.setdefault("scale", bool(settings["is_scale"]))
        if settings.get("length"):
            data.setdefault("length", settings["length"])
        return data

    @property
    def scaled(self) -> bool:
        return self.scale if self.scale is not None else self.algo in ("lc", "svc")

    @property
    def regression(self) -> bool:
        """A LightGBM regressor: any objective other than the binary ones."""
        objective = str(self.params.get("objective", "binary"))
        return self.algo == "gb" and objective not in ("binary", "cross_entropy", "xentropy")

    @model_validator(mode="after")
    def _lc_is_a_classifier(self) -> Algorithm:
        if self.algo in ("lc", "svc") and "objective" in self.params:
            raise ValueError(
                f"{self.algo!r} is a classifier: it takes no 'objective' (use algo 'gb' to regress)"
            )
        return self


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
    length: int | None = Field(
        default=None,
        ge=1,
        description="Train on the last N rows of the training range only (counted back from its end, "
        "before the holdout and the label horizon; the reference project's train_length); "
        "default: every row.",
    )
    retrain_every: str | None = Field(
        default=None,
        description="Keep the trained models while the features and labels only grew at their end "
        "by less than this span of data (e.g. '1d', '7d'): then `itb run` skips train and predicts "
        "the new rows with the models it has. A config or code change, a changed past or --force "
        "retrains at once. Default: retrain whenever the features or labels change.",
    )

    @field_validator("retrain_every")
    @classmethod
    def _span(cls, value: str | None) -> str | None:
        if value is not None:
            parse_freq(value)
        return value

    @field_validator("labels")
    @classmethod
    def _unique_labels(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("labels must be unique")
        return value


class RollingConfig(Model):
    """Walk-forward prediction: retrain every ``step_rows`` rows, predict only rows no model has seen.

    Each step trains on the ``train_rows`` rows (or ``train_span``) that end the label horizon
    before its first predicted row, so no training label looks into the predicted rows, then scores
    the next ``step_rows`` rows. Steps are independent stage runs: a backend runs them in parallel.
    """

    train_rows: int | None = Field(default=None, ge=100, description="Training window, in rows.")
    train_span: str | None = Field(
        default=None, description="Training window as a duration ('30d', '12h'); instead of train_rows."
    )
    step_rows: int = Field(ge=1, description="Rows predicted by each model (and how often to retrain).")
    start: datetime | int | None = Field(
        default=None,
        description="First predicted row: a row number or a time (UTC); default: as soon as a full "
        "training window and the label horizon lie before it.",
    )

    @field_validator("train_span")
    @classmethod
    def _valid_span(cls, value: str | None) -> str | None:
        if value is not None:
            parse_freq(value)
        return value

    @model_validator(mode="after")
    def _one_window(self) -> RollingConfig:
        if (self.train_rows is None) == (self.train_span is None):
            raise ValueError("give exactly one of train_rows and train_span")
        return self


class GridConfig(Model):
    """Grid search over the threshold rule's thresholds: every buy x sell pair is backtested."""

    buy_thresholds: list[float] = Field(min_length=1)
    sell_thresholds: list[float] = Field(min_length=1)
    score_column: str | None = Field(
        default=None, description="The score the thresholds apply to; default: the threshold rule's input."
    )
    top: int = Field(default=10, ge=1, description="Rows of the top-N table in simulation.json.")
    sort_by: Literal["profit_pct", "sharpe", "win_rate", "profit_per_month_pct"] = "profit_pct"


class SimulateConfig(Model):
    buy_column: str = "buy_signal"
    sell_column: str = "sell_signal"
    price_column: str = "close"
    fee: float = Field(default=0.001, ge=0, lt=0.1, description="Fee per trade side, as a fraction.")
    slippage: float = Field(
        default=0.0, ge=0, lt=0.1, description="Price moves against each fill by this fraction."
    )
    direction: Literal["long", "short", "both"] = Field(
        default="long",
        description="'long': buy opens, sell closes; 'short': sell opens, buy closes; 'both': always in "
        "the market after the first signal, each signal closing the open trade and reversing.",
    )
    span: Literal["holdout", "all"] = Field(
        default="holdout", description="Backtest only rows no model was trained on ('holdout'), or all."
    )
    grid: GridConfig | None = None
    report: bool = Field(default=True, description="Write report.html (price, signals, equity curve).")


class PromotionSettings(Model):
    """The gate a nightly retrain passes before its models replace the live ones (``itb run
    --candidate``): the candidate and the live models are scored on the same holdout (the last
    ``train.holdout`` of today's data) and the candidate is promoted only when every rule holds."""

    candidate: bool = Field(
        default=False,
        description="Train into models/candidates/<run_id>/ instead of the live models, then promote "
        "through this gate; `itb run --candidate` sets it for one run.",
    )
    max_auc_drop: float = Field(
        default=0.005,
        ge=0,
        le=1,
        description="Per model: how much lower than the live model's the candidate's holdout AUC may be.",
    )
    max_ap_drop: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Per model: the most the holdout average precision may drop; unset: not checked.",
    )
    require_profit_not_worse: bool = Field(
        default=True,
        description="The candidate's holdout backtest profit (with simulate.fee) must be at least the "
        "live models'.",
    )
    max_drawdown_increase_pct: float | None = Field(
        default=None,
        ge=0,
        description="The most the holdout backtest's max drawdown may grow, in percentage points; unset: "
        "not checked.",
    )
    keep_slots: int = Field(
        default=7,
        ge=1,
        description="Candidate slots (models/candidates/<run_id>/) and replaced model sets "
        "(models/previous/<run_id>/) kept, newest first: older ones are deleted after each decision.",
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
    lock_stale_after_s: float = Field(
        default=24 * 3600.0,
        gt=0,
        description="A data root lock held by a process on another machine (whose pid cannot be "
        "checked) counts as stale after this many seconds; `itb run --break-lock` then removes it.",
    )
    options: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Per-backend settings, keyed by backend name."
    )


_BASE_URL = re.compile(r"^https?://[^/?#\s]+/?$")


class DownloadConfig(Model):
    """How ``itb download`` fetches klines from Binance (REST API and the public kline archives).

    The base URLs are a scheme and host only (the client adds ``/api/v3/...``, ``/fapi/v1/...``,
    ``/data/...``); the environment variables ``ITB_BINANCE_API_URL``, ``ITB_BINANCE_FAPI_URL`` and
    ``ITB_BINANCE_DATA_URL`` override them, so a test or a mirror needs no config change.
    """

    start: datetime | None = Field(
        default=None,
        description="First candle to fetch (UTC); default: the first candle the exchange has.",
    )
    end: datetime | None = Field(
        default=None, description="Fetch candles opening before this time (UTC); default: up to now."
    )
    intervals: list[str] | None = Field(
        default=None, description="Candle intervals to fetch; default: the pipeline's ``freq``."
    )
    archive: bool = Field(
        default=True,
        description="Fetch whole past months from the public monthly archives (checksummed zip files) "
        "before paging the REST API for the rest.",
    )
    api_url: str = "https://api.binance.com"
    fapi_url: str = "https://fapi.binance.com"
    data_url: str = "https://data.binance.vision"
    page_limit: int | None = Field(
        default=None, ge=1, le=1500, description="Candles per REST page; default: the market's maximum."
    )
    max_retries: int = Field(default=5, ge=0, le=50)
    backoff_s: float = Field(default=1.0, ge=0, description="First retry delay; doubles per retry, jittered.")
    backoff_max_s: float = Field(default=60.0, ge=0)
    max_wait_s: float = Field(
        default=300.0, gt=0, description="Longest Retry-After (HTTP 429) worth waiting for; longer fails."
    )
    weight_limit: int | None = Field(
        default=None,
        ge=1,
        description="Request weight allowed per minute; default: Binance's (6000 spot, 2400 futures). "
        "Downloads pause before passing 90% of it.",
    )
    timeout_s: float = Field(default=30.0, gt=0, description="Timeout of one HTTP request.")

    @field_validator("api_url", "fapi_url", "data_url")
    @classmethod
    def _scheme_and_host(cls, value: str) -> str:
        if not _BASE_URL.match(value):
            raise ValueError(f"{value!r} must be a scheme and host such as 'https://api.binance.com'")
        return value.rstrip("/")

    @field_validator("intervals")
    @classmethod
    def _valid_intervals(cls, value: list[str] | None) -> list[str] | None:
        for interval in value or []:
            parse_freq(interval)
        return value


#: One of ``symbols``: it names a folder under the data root, so no slashes.
#: Rows in a trailing window: a positive integer (a validation error names the offending item).
Window = Annotated[int, Field(ge=1)]

SymbolName = Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]


class PipelineConfig(Model):
    """A whole pipeline: what data, which features and labels, how to train, signal and simulate."""

    description: str = ""
    symbol: str = Field(min_length=1)
    symbols: list[SymbolName] | None = Field(
        default=None,
        min_length=1,
        description="Run the pipeline once per symbol, in parallel: each run gets this config with "
        "'symbol' set to it, every data source whose symbol is '{symbol}' (or 'symbol') rewritten to "
        "it, and data_root <data_root>/<SYMBOL>. 'symbol' defaults to the first one.",
    )
    freq: str = "1m"
    data_root: str = "./data"
    data_sources: list[DataSource] = Field(min_length=1)
    merge: MergeConfig = Field(default_factory=MergeConfig)
    feature_sets: list[GeneratorSet] = Field(default_factory=list)
    label_sets: list[GeneratorSet] = Field(default_factory=list)
    train: TrainConfig
    signal_sets: list[SignalSet] = Field(default_factory=list)
    rolling: RollingConfig | None = Field(
        default=None, description="Walk-forward prediction (predictions_rolling.parquet); off by default."
    )
    simulate: SimulateConfig = Field(default_factory=SimulateConfig)
    output_sets: list[OutputSet] = Field(default_factory=list)
    promotion: PromotionSettings = Field(default_factory=PromotionSettings)
    backend: BackendSettings = Field(default_factory=BackendSettings)
    download: DownloadConfig = Field(default_factory=DownloadConfig)
    secrets: dict[str, str] = Field(
        default_factory=dict,
        description="Named secret references ('env:NAME' or 'keyvault://VAULT/NAME'); never values.",
    )

    @model_validator(mode="before")
    @classmethod
    def _symbol_from_symbols(cls, data: Any) -> Any:
        if isinstance(data, dict) and "symbol" not in data:
            symbols = data.get("symbols")
            if isinstance(symbols, list) and symbols and isinstance(symbols[0], str):
                data = {**data, "symbol": symbols[0]}
        return data

    @field_validator("symbols")
    @classmethod
    def _unique_symbols(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and len(set(value)) != len(value):
            duplicated = sorted({s for s in value if value.count(s) > 1})
            raise ValueError(f"symbols must be unique (repeated: {', '.join(duplicated)})")
        return value

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
        return span_ms(self.freq)

    def label_horizon(self) -> int:
        """The longest look-ahead of any label set (rows): training keeps this gap before the holdout,
        and a source needs more rows than it. Read from the label sets' data, not their code."""
        return max((int(s.config.get("horizon", 0)) for s in self.label_sets), default=0)

    def for_symbol(self, symbol: str) -> PipelineConfig:
        """The single-symbol config of one of ``symbols``: what that symbol's stages run with.

        ``symbol`` becomes ``symbol``; data sources whose symbol is the ``{symbol}`` placeholder or the
        config's ``symbol`` read ``symbol`` instead; ``data_root`` becomes ``<data_root>/<symbol>``, so
        the symbols' outputs, stage states and run files never collide.
        """
        sources = [
            s.model_copy(update={"symbol": symbol}) if s.symbol in (SYMBOL_PLACEHOLDER, self.symbol) else s
            for s in self.data_sources
        ]
        root = f"{self.data_root.rstrip('/')}/{symbol}"
        return self.model_copy(
            update={"symbol": symbol, "symbols": None, "data_sources": sources, "data_root": root}
        )
