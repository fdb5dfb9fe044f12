"""The ``talib`` feature generator: technical indicators over columns and windows, named like the
reference project, computed natively (vectorised numpy / compiled filters; see ``indicators``).

Config::

    {"columns": ["close"],                       # inputs of single-series functions
     "functions": ["SMA", {"name": "MACD", "fastperiod": 12, "slowperiod": 26, "signalperiod": 9}],
     "windows": [5, 60],                         # each becomes the function's ``timeperiod``
     "names": null,                              # optional explicit names, one per output
     "parameters": {"rel_base": "last", "rel_func": "rel", "percentage": false, "log": false}}

A function is a TA-Lib name (default parameters) or a dict with ``name`` and TA-Lib parameter
names. ``windows`` apply to functions with a ``timeperiod`` (unless the dict sets it); without
``windows`` TA-Lib's default period is used. High/low/close/volume functions (ATR, NATR, CCI, MFI,
OBV, ADX, STOCH) read ``high``, ``low``, ``close``, ``volume`` with the set's ``column_prefix``; a
dict may name other inputs with ``"columns": [...]`` (also how CORREL and BETA get their two).

Output names (``<src>`` includes ``column_prefix``; ``feature_prefix`` goes in front of all):

* one series: ``<src>_<NAME>_<window>`` (``close_SMA_5``); MACD: ``<src>_MACD_12_26_9``,
  ``<src>_MACDsignal_12_26_9``, ``<src>_MACDhist_12_26_9``; BBANDS: ``<src>_BBANDS_upper_20``,
  ``_middle_``, ``_lower_``.
* two series: ``<src0>_<src1>_<NAME>_<window>`` (``high_low_CORREL_30``).
* high/low/close/volume: ``<column_prefix><NAME>_<window>`` (``ATR_14``, ``eth_ATR_14``), STOCH
  ``STOCH_slowk_5_3_3`` / ``STOCH_slowd_5_3_3``, OBV ``OBV``.

Any other TA-Lib function goes through the optional ``ta-lib`` package (``itb-core[ta-lib]``) when
it is installed; its outputs are named the same way (``<NAME>_<output>`` when it has several).

Native functions compute every window from its own rows (start-independent, exact; see
``indicators``), restart recursive indicators after a gap, and give null exactly where a window
holds a missing (null, NaN, inf) input. :func:`lookback` says how many rows of history each output
needs; functions run through the ``ta-lib`` package keep TA-Lib's running sums and are declared
cumulative.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
from pydantic import ConfigDict, Field, field_validator, model_validator

from itb.config.models import Model, Window, as_list
from itb.generators import indicators as ind
from itb.generators.frames import require_columns
from itb.generators.history import History, decay_rows
from itb.generators.postprocess import PostProcess, apply
from itb.generators.registry import Generator
from itb.generators.windowed import finite

OHLCV = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True)
class Spec:
    """How to call one indicator: its inputs, parameters (TA-Lib names and defaults), outputs."""

    fn: Callable[..., Any]
    inputs: tuple[str, ...]  # "real", "real0"/"real1", or OHLCV names
    params: dict[str, Any]
    outputs: tuple[str, ...] = ()  # labels replacing NAME for multi-output functions
    minimum: int = 1  # smallest timeperiod
    native: bool = True

    @property
    def windowed(self) -> bool:
        return "timeperiod" in self.params


_DEFAULT_PERIOD = {"SMA": 30, "EMA": 30, "WMA": 30, "DEMA": 30, "TEMA": 30, "SUM": 30, "MIN": 30,
                   "MAX": 30, "STDDEV": 5, "VAR": 5, "MOM": 10, "ROC": 10, "RSI": 14}  # fmt: skip


def _single(name: str) -> Spec:
    fn, minimum = ind.FUNCTIONS[name]
    return Spec(fn, ("real",), {"timeperiod": _DEFAULT_PERIOD.get(name, 14)}, minimum=minimum)


SPECS: dict[str, Spec] = {name: _single(name) for name in ind.FUNCTIONS}
SPECS.update(
    {
        "ATR": Spec(ind.atr, ("high", "low", "close"), {"timeperiod": 14}),
        "NATR": Spec(ind.natr, ("high", "low", "close"), {"timeperiod": 14}),
        "CCI": Spec(ind.cci, ("high", "low", "close"), {"timeperiod": 14}, minimum=2),
        "ADX": Spec(ind.adx, ("high", "low", "close"), {"timeperiod": 14}, minimum=2),
        "MFI": Spec(ind.mfi, ("high", "low", "close", "volume"), {"timeperiod": 14}, minimum=2),
        "OBV": Spec(ind.obv, ("close", "volume"), {}),
        "CORREL": Spec(ind.correl, ("real0", "real1"), {"timeperiod": 30}),
        "BETA": Spec(ind.beta, ("real0", "real1"), {"timeperiod": 5}),
        "MACD": Spec(
            ind.macd,
            ("real",),
            {"fastperiod": 12, "slowperiod": 26, "signalperiod": 9},
            ("MACD", "MACDsignal", "MACDhist"),
        ),
        "BBANDS": Spec(
            ind.bbands,
            ("real",),
            {"timeperiod": 5, "nbdevup": 2.0, "nbdevdn": 2.0, "matype": 0},
            ("BBANDS_upper", "BBANDS_middle", "BBANDS_lower"),
            minimum=2,
        ),
        "STOCH": Spec(
            ind.stoch,
            ("high", "low", "close"),
            {"fastk_period": 5, "slowk_period": 3, "slowk_matype": 0, "slowd_period": 3, "slowd_matype": 0},
            ("STOCH_slowk", "STOCH_slowd"),
        ),
    }
)


def _talib_spec(name: str) -> Spec:
    """A spec for a TA-Lib function we do not implement natively (needs the ``ta-lib`` extra)."""
    try:
        import talib
        from talib import abstract
    except ImportError:
        raise ValueError(
            f"function {name!r} is not implemented natively (native: {', '.join(sorted(SPECS))}); "
            "install the optional TA-Lib extra (pip install 'itb-core[ta-lib]') to use any TA-Lib function"
        ) from None
    if name not in talib.get_functions():  # type: ignore[no-untyped-call]
        raise ValueError(f"unknown function {name!r}: neither native ({', '.join(sorted(SPECS))}) nor TA-Lib")
    info = abstract.Function(name).info  # type: ignore[attr-defined]
    inputs: list[str] = []
    for key, value in info["input_names"].items():
        if isinstance(value, list):
            inputs.extend(value)
        elif key in ("price", "real"):
            inputs.append("real")
        else:
            inputs.append(f"real{len([i for i in inputs if i.startswith('real')])}")
    outputs = tuple(info["output_names"])
    labels = () if len(outputs) == 1 else tuple(f"{name}_{o}" for o in outputs)
    fn = getattr(talib, name)
    return Spec(fn, tuple(inputs), dict(info["parameters"]), labels, native=False)


def _in_talib(name: str) -> bool:
    """True when the ta-lib package has ``name``; also True when it is not installed, so that
    :func:`get_spec` explains how to get it instead of calling the name unknown."""
    try:
        import talib
    except ImportError:
        return True
    return name in talib.get_functions()  # type: ignore[no-untyped-call]


def get_spec(name: str) -> Spec:
    return SPECS[name] if name in SPECS else _talib_spec(name)


class FunctionEntry(Model):
    """A function with parameters: ``{"name": "MACD", "fastperiod": 12, ...}``."""

    model_config = ConfigDict(extra="allow")
    name: str
    columns: list[str] | None = None

    @field_validator("name")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()

    @model_validator(mode="after")
    def _known_params(self) -> FunctionEntry:
        spec = get_spec(self.name)
        unknown = sorted(set(self.model_extra or {}) - set(spec.params))
        if unknown:
            raise ValueError(f"{self.name}: unknown parameter(s) {unknown} (known: {sorted(spec.params)})")
        return self


class TalibConfig(Model):
    columns: list[str] | dict[str, str] | None = Field(
        default=None,
        description="Inputs of single-series functions; or, as in the reference project, TA-Lib "
        "arguments -> columns for every function ({'high': 'high', 'low': 'low', 'close': 'close'}: "
        "high_low_close_ATR_14).",
    )
    functions: list[str | FunctionEntry] = Field(min_length=1)
    windows: list[Window] | None = Field(default=None, description="Each becomes a function's timeperiod.")
    names: list[str] | str | None = Field(
        default=None,
        description="Explicit output names, one per generated column, in order; a string is put "
        "between the function and the window as in the reference project (close_SMA_<names>_5).",
    )
    parameters: PostProcess | None = None

    @field_validator("columns", "functions", "windows", mode="before")
    @classmethod
    def _scalars(cls, value: Any) -> Any:
        return as_list(value)

    @field_validator("functions")
    @classmethod
    def _known(cls, value: list[str | FunctionEntry]) -> list[str | FunctionEntry]:
        out: list[str | FunctionEntry] = [e.upper() if isinstance(e, str) else e for e in value]
        names = [e for e in out if isinstance(e, str)]
        unknown = [n for n in names if n not in SPECS and not _in_talib(n)]
        if unknown:
            raise ValueError(
                f"unknown function(s) {unknown} (known: {', '.join(sorted(SPECS))}, or any TA-Lib "
                "function with the ta-lib extra installed)"
            )
        for name in names:
            get_spec(name)  # a TA-Lib-only function without the extra: a clear error
        return out


@dataclass
class Call:
    function: str
    spec: Spec
    sources: list[str]
    params: dict[str, Any]
    names: list[str]
    group: tuple[Any, ...] = field(default=())  # calls with the same group are post-processed together


def _period_suffix(spec: Spec, params: dict[str, Any]) -> str:
    if spec.windowed:
        return f"_{params['timeperiod']}"
    periods = [str(v) for k, v in params.items() if k.endswith("period")]
    return "_" + "_".join(periods) if periods else ""


def _argument_sources(name: str, spec: Spec, mapping: dict[str, str], prefix: str) -> tuple[list[str], str]:
    """The reference project's ``columns`` dict (TA-Lib argument -> column): the call's inputs in
    the function's order (by argument name, else in the dict's order) and the name stem, the columns
    joined with ``_`` (``high_low_close_``)."""
    if set(spec.inputs) <= set(mapping):
        columns = [mapping[i] for i in spec.inputs]
    elif len(mapping) == len(spec.inputs):
        columns = list(mapping.values())
    else:
        raise ValueError(f"{name} takes the inputs {list(spec.inputs)}; 'columns' gives {list(mapping)}")
    return [f"{prefix}{c}" for c in columns], prefix + "_".join(mapping.values()) + "_"


def _plan(cfg: TalibConfig, column_prefix: str, feature_prefix: str) -> list[Call]:
    calls: list[Call] = []
    for position, entry in enumerate(cfg.functions):
        name = entry if isinstance(entry, str) else entry.name
        spec = get_spec(name)
        explicit = {} if isinstance(entry, str) else dict(entry.model_extra or {})
        entry_columns = None if isinstance(entry, str) else entry.columns
        argument_stem = None
        # Which input columns: one call per config column for single-series functions.
        if isinstance(cfg.columns, dict) and entry_columns is None:
            sources, argument_stem = _argument_sources(name, spec, cfg.columns, column_prefix)
            source_sets = [sources]
        elif spec.inputs == ("real",):
            columns = entry_columns or cfg.columns
            if not columns:
                raise ValueError(f"{name} needs input columns: set 'columns'")
            source_sets = [[f"{column_prefix}{c}"] for c in columns]
        elif spec.inputs == ("real0", "real1"):
            columns = entry_columns or cfg.columns
            if not columns or len(columns) != 2:
                raise ValueError(
                    f"{name} needs exactly two input columns (give them in the function's 'columns')"
                )
            source_sets = [[f"{column_prefix}{c}" for c in columns]]
        else:
            columns = entry_columns or [c if c in OHLCV else "close" for c in spec.inputs]
            if len(columns) != len(spec.inputs):
                raise ValueError(f"{name} takes {len(spec.inputs)} input columns {list(spec.inputs)}")
            source_sets = [[f"{column_prefix}{c}" for c in columns]]
        if spec.windowed and "timeperiod" not in explicit and cfg.windows:
            param_sets = [{**spec.params, **explicit, "timeperiod": w} for w in cfg.windows]
        else:
            param_sets = [{**spec.params, **explicit}]
        for sources in source_sets:
            if argument_stem is not None:
                stem = argument_stem
            elif spec.inputs == ("real",):
                stem = f"{sources[0]}_"
            elif spec.inputs == ("real0", "real1"):
                stem = f"{sources[0]}_{sources[1]}_"
            else:
                stem = column_prefix
            for params in param_sets:
                if spec.windowed and params["timeperiod"] < spec.minimum:
                    raise ValueError(f"{name} needs windows >= {spec.minimum}, got {params['timeperiod']}")
                labels = spec.outputs or (name,)
                suffix = _period_suffix(spec, params)
                names = [f"{feature_prefix}{stem}{label}{suffix}" for label in labels]
                calls.append(Call(name, spec, sources, params, names, (position, tuple(sources))))
    if isinstance(cfg.names, str):
        _name_infix(calls, cfg.names, feature_prefix)
    elif cfg.names is not None:
        total = sum(len(c.names) for c in calls)
        if len(cfg.names) != total:
            raise ValueError(f"names has {len(cfg.names)} entries but {total} features are generated")
        it = iter(cfg.names)
        for call in calls:
            call.names = [next(it) for _ in call.names]
    return calls


def _name_infix(calls: list[Call], infix: str, feature_prefix: str) -> None:
    """The reference project's string ``names``: ``<src>_<NAME>_<infix>_<window>`` for a windowed
    call, the string itself for a call without a window."""
    for call in calls:
        suffix = _period_suffix(call.spec, call.params)
        if call.spec.windowed:
            call.names = [n.removesuffix(suffix) + f"_{infix}{suffix}" for n in call.names]
        else:
            call.names = [f"{feature_prefix}{infix}" for _ in call.names]


def _ema_alpha(period: int) -> float:
    return 2.0 / (period + 1)


def call_history(function: str, params: dict[str, Any]) -> History:
    """The history one native call needs (TA-Lib's lookback as ``rows``; recursive indicators add
    the warm-up of their slowest filter); functions through the ta-lib package are cumulative."""
    p = {k: int(v) for k, v in params.items() if "period" in k}
    w = p.get("timeperiod", 0)
    wilder = decay_rows(1.0 / w) if w else 0
    if function in ("MOM", "ROC", "MFI", "BETA"):
        return History(rows=w)
    if function in ("EMA", "DEMA", "TEMA"):
        order = {"EMA": 1, "DEMA": 2, "TEMA": 3}[function]
        return History(rows=order * (w - 1), warmup=decay_rows(_ema_alpha(w), order))
    if function in ("RSI", "ATR", "NATR"):
        return History(rows=w, warmup=wilder)
    if function == "ADX":
        return History(rows=2 * w - 1, warmup=2 * wilder)
    if function == "OBV":
        return History(cumulative=True)
    if function == "MACD":
        slow = max(p["fastperiod"], p["slowperiod"])
        signal = p["signalperiod"]
        warmup = decay_rows(_ema_alpha(slow)) + decay_rows(_ema_alpha(signal))
        return History(rows=slow - 1 + signal - 1, warmup=warmup)
    if function == "STOCH":
        return History(rows=p["fastk_period"] - 1 + p["slowk_period"] - 1 + p["slowd_period"] - 1)
    if function in SPECS:  # plain windows: SMA, SUM, VAR, STDDEV, WMA, MIN, MAX, LINEARREG*, ...
        return History(rows=w - 1)
    return History(rows=w, cumulative=True)


def lookback(cfg: TalibConfig) -> History:
    """The history the set's outputs need: the largest over its calls."""
    return History.union(call_history(c.function, c.params) for c in _plan(cfg, "", ""))


def outputs(cfg: TalibConfig, column_prefix: str, feature_prefix: str) -> list[str]:
    return [name for call in _plan(cfg, column_prefix, feature_prefix) for name in call.names]


def _run(call: Call, arrays: dict[str, np.ndarray]) -> list[np.ndarray]:
    inputs = [arrays[s] for s in call.sources]
    if call.spec.native:  # native kernels take the parameters positionally, in TA-Lib's order
        args = [int(call.params[k]) if "period" in k or k.endswith("matype") else call.params[k]
                for k in call.spec.params]  # fmt: skip
        result = call.spec.fn(*inputs, *args)
    else:
        result = call.spec.fn(*inputs, **call.params)
    results = list(result) if isinstance(result, tuple | list) else [result]
    return [np.asarray(r, dtype=np.float64) for r in results]


def generate(df: pl.DataFrame, cfg: TalibConfig, column_prefix: str, feature_prefix: str) -> pl.DataFrame:
    calls = _plan(cfg, column_prefix, feature_prefix)
    sources = sorted({s for call in calls for s in call.sources})
    require_columns(df, sources, "talib feature set")
    arrays = {s: finite(df[s].cast(pl.Float64).to_numpy()) for s in sources}  # null, inf -> NaN
    # Group outputs for post-processing: same function entry, same inputs, same output index.
    grouped: dict[tuple[Any, ...], list[tuple[str, np.ndarray]]] = {}
    order: list[str] = []
    for call in calls:
        for index, (name, values) in enumerate(zip(call.names, _run(call, arrays), strict=True)):
            grouped.setdefault((*call.group, index), []).append((name, values))
            order.append(name)
    columns: dict[str, np.ndarray] = {}
    for items in grouped.values():
        processed = apply([v for _, v in items], cfg.parameters)
        columns.update({name: v for (name, _), v in zip(items, processed, strict=True)})
    # Missing is null, never NaN or inf (also for functions run through the ta-lib package).
    return pl.DataFrame([pl.Series(name, finite(columns[name])).fill_nan(None) for name in order])


#: Registered by :mod:`itb.generators.builtins`.
GENERATORS = (
    Generator("talib", "feature", TalibConfig, generate, outputs, doc=__doc__ or "", lookback=lookback),
)
