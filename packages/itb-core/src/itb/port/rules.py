"""The mapping rules from a reference-project (asavinov/intelligent-trading-bot) config to an itb one.

Each rule is a function of the source dict that adds to a :class:`Port` (the itb config data, where
each of its top-level keys came from, and the report) and names the source keys it handled; keys
no rule handles are reported as dropped. Rules read secret keys only to see that they are present:
their values are never read, so they cannot reach the output, the report or a log.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from itb.config.models import joined_prefix
from itb.generators.registry import Kind, known_generators
from itb.models.trained import GB_DEFAULTS, LC_DEFAULTS
from itb.port.report import Changed, Dropped, Mapped, PortReport, Unsupported

#: Source secret key -> (itb secret name, environment variable it is read from).
SECRET_KEYS = {
    "api_key": ("binance_api_key", "BINANCE_API_KEY"),
    "api_secret": ("binance_api_secret", "BINANCE_API_SECRET"),
    "telegram_bot_token": ("telegram_bot_token", "TELEGRAM_BOT_TOKEN"),
    "telegram_chat_id": ("telegram_chat_id", "TELEGRAM_CHAT_ID"),
}
MT5_KEYS = ("mt5_account_id", "mt5_password", "mt5_server")
MT5_INSTEAD = (
    "itb reads Binance klines; export the MT5 bars to Parquet (timestamp, open, high, low, close, "
    "volume) and set data_sources[].path"
)
#: Output generators of the reference project carried over for the live service.
OUTPUT_GENERATORS = ("score_notification_model", "diagram_notification_model", "trader_simulation",
                     "trader_binance")  # fmt: skip
#: Keys that only name the reference project's files and folders.
FILE_KEYS = ("merge_file_name", "feature_file_name", "matrix_file_name", "predict_file_name",
             "signal_file_name", "signal_models_file_name", "model_folder", "time_column")  # fmt: skip
#: Keys of the reference project's online service, which batch runs do not use.
ONLINE_KEYS = ("predict_length", "append_overlap_records", "collector",
               "trade_model", "score_notification_model", "diagram_notification_model", "base_asset",
               "quote_asset")  # fmt: skip
#: The libraries' own defaults where itb's differ (the reference project passed ``train`` as it is).
LIBRARY_DEFAULTS: dict[str, dict[str, Any]] = {
    "gb": {"objective": "regression", "max_depth": -1, "learning_rate": 0.1, "lambda_l1": 0.0,
           "lambda_l2": 0.0, "num_boost_round": 100},
    "lc": {"C": 1.0, "solver": "lbfgs", "max_iter": 100, "tol": 1e-4},
}  # fmt: skip
#: What itb recommends where the port keeps the reference project's backtest defaults.
ITB_FEE = 0.001


@dataclass
class Port:
    """The itb config being built, where each of its top-level keys came from, and the report."""

    data: dict[str, Any] = field(default_factory=dict)
    origins: dict[str, list[str]] = field(default_factory=dict)
    report: PortReport = field(default_factory=PortReport)

    def put(self, key: str, value: Any, *sources: str) -> None:
        self.data[key] = value
        known = self.origins.setdefault(key, [])
        known.extend(s for s in sources if s not in known)

    def mapped(self, source: str, target: str, note: str = "") -> None:
        self.report.mapped.append(Mapped(source, target, note))

    def changed(self, source: str, what: str, keep: str) -> None:
        self.report.changed_meaning.append(Changed(source, what, keep))

    def dropped(self, source: str, why: str) -> None:
        self.report.dropped.append(Dropped(source, why))

    def unsupported(self, source: str, instead: str, *, blocking: bool = True) -> None:
        self.report.unsupported.append(Unsupported(source, instead, blocking))


Rule = Callable[[dict[str, Any], Port], set[str]]


def port_config(source: dict[str, Any]) -> Port:
    """Map a reference-project config (already parsed from JSONC) to itb config data and a report.

    The parts itb cannot run (MT5, tick sources, MT5 traders, ``nn``) are left out and reported as
    not supported (blocking): the caller decides whether that fails the port. ``source`` is not
    modified.
    """
    src = copy.deepcopy(source)
    port = Port()
    handled: set[str] = set()
    for rule in RULES:
        handled |= rule(src, port)
    for key in src:
        if key not in handled:
            port.dropped(key, "not a key itb knows from the reference project")
    port.origins = {key: [s for s in keys if s in src] for key, keys in port.origins.items()}
    return port


def _identity(src: dict[str, Any], port: Port) -> set[str]:
    """``description``, ``symbol``, ``freq``; ``data_folder`` and ``train`` have no itb equivalent."""
    for key in ("description", "symbol", "freq"):
        if key in src:
            port.put(key, src[key], key)
            port.mapped(key, key)
    port.put("data_root", "./data", *(["data_folder"] if "data_folder" in src else []))
    if "data_folder" in src:
        port.dropped(
            "data_folder",
            "itb keeps downloads and stage outputs under data_root ('./data'); it does not read the "
            "reference project's <data_folder>/<folder>/<file> files: set data_sources[].path to use them",
        )
    if "train" in src:
        port.dropped("train", "every itb run trains (`itb run --only predict` reuses trained models)")
    for key in FILE_KEYS:
        if key in src:
            port.dropped(key, "itb names its own files (under data_root) and uses 'timestamp'")
    for key in ONLINE_KEYS:
        if key in src:
            port.dropped(key, "a setting of the reference project's online service; batch runs do not use it")
    if "features_horizon" in src:
        port.dropped("features_horizon", "itb computes the history each generator needs (its lookback)")
    if src.get("merge_interpolate"):
        port.changed(
            "merge_interpolate",
            "itb fills a missing candle with the previous close (merge.gaps 'fill'), not an interpolation",
            "nothing does exactly; merge.gaps 'null' leaves the rows empty instead",
        )
    return {"description", "symbol", "freq", "data_folder", "train", "merge_interpolate", "features_horizon",
            *FILE_KEYS, *ONLINE_KEYS}  # fmt: skip


def _credentials(src: dict[str, Any], port: Port) -> set[str]:
    """Secret keys become references to environment variables; their values are never read."""
    secrets: dict[str, str] = {}
    for key, (name, variable) in SECRET_KEYS.items():
        if key in src:
            secrets[name] = f"env:{variable}"
            port.mapped(key, f"secrets.{name}", f"read from ${variable}; the value in the file is not copied")
    if secrets:
        port.put("secrets", secrets, *(k for k in SECRET_KEYS if k in src))
    for key in MT5_KEYS:
        if key in src:
            port.unsupported(key, f"MT5 is not supported ({MT5_INSTEAD}); the value is not copied")
    if "client_args" in src:
        port.dropped(
            "client_args",
            "python-binance client arguments; itb's download uses download.api_url (e.g. a 'us' tld)",
        )
    return {*SECRET_KEYS, *MT5_KEYS, "client_args"}


def _sources(src: dict[str, Any], port: Port) -> set[str]:
    """``{folder, file}`` sources become downloadable ones: symbol from the folder, market from the
    venue, no path (``itb download`` fills them). ``ticks`` and MT5 data are not supported."""
    venue = src.get("venue", "binance")
    if venue == "binance":
        port.mapped("venue", "data_sources[].market", "Binance spot klines, fetched by `itb download`")
    elif venue == "mt5":
        port.unsupported("venue", f"venue 'mt5': {MT5_INSTEAD}")
    else:
        port.unsupported("venue", f"venue {venue!r}: itb downloads Binance klines; set data_sources[].path")
    sources: list[dict[str, Any]] = []
    for i, ds in enumerate(src.get("data_sources") or []):
        where = f"data_sources[{i}]"
        folder = ds.get("folder") or src.get("symbol", "")
        file = ds.get("file") or folder
        if file == "ticks":
            port.unsupported(where, "tick sources: itb reads klines only; aggregate ticks to klines first")
            continue
        item = {"symbol": folder, "market": "spot", "column_prefix": ds.get("column_prefix", "")}
        if any(joined_prefix(s["column_prefix"]) == joined_prefix(item["column_prefix"]) for s in sources):
            item["column_prefix"] = joined_prefix(folder.lower())
            port.changed(
                f"{where}.column_prefix",
                f"an earlier source has the same prefix, so their columns would collide; the port names "
                f"this one's columns {item['column_prefix']}close, ...",
                "nothing: the reference project overwrote one source's columns with the other's",
            )
        sources.append(item)
        if venue != "binance":
            port.changed(
                where,
                f"a {venue} source becomes a Binance-style source named {folder!r}; `itb download` "
                "cannot fetch it",
                f"set {where}.path to a Parquet export of its bars",
            )
        elif file != "klines":
            port.changed(
                where,
                f"the reference project read <data_folder>/{folder}/{file}; itb downloads Binance klines",
                f"set {where}.path to that data as Parquet",
            )
        else:
            port.mapped(where, where, f"symbol {folder}, downloadable (no path)")
        extra = sorted(set(ds) - {"folder", "file", "column_prefix"})
        if extra:
            port.dropped(f"{where}.{','.join(extra)}", "source options itb has no use for")
    if sources:
        port.put("data_sources", sources, "data_sources", "venue")
    return {"venue", "data_sources"}


def _known(kind: Kind, name: str) -> bool:
    return ":" in name or name in known_generators(kind)


#: Generators of the reference project that itb does not have, and what to use instead.
MISSING_GENERATORS = {
    "tsfresh": "itbstats (skewness, kurtosis, ...) or a user function 'module:function'",
    "depth": "a user function 'module:function' over your order-book columns",
    "topbot": "topbot2",
}


def _generator_sets(key: str, kind: Kind) -> Rule:
    def rule(src: dict[str, Any], port: Port) -> set[str]:
        out = []
        for i, gset in enumerate(src.get(key) or []):
            where = f"{key}[{i}]"
            name = str(gset.get("generator", ""))
            if not _known(kind, name):
                instead = MISSING_GENERATORS.get(
                    name, f"one of {known_generators(kind)} or 'module:function'"
                )
                port.unsupported(f"{where}.generator", f"{name!r} is not an itb {kind} generator: {instead}")
                continue
            item = {k: gset[k] for k in ("generator", "column_prefix", "feature_prefix") if gset.get(k)}
            item["config"] = copy.deepcopy(gset.get("config") or {})
            if ":" in name:
                names = item["config"].get("names")
                if isinstance(names, str | list) and "outputs" not in item["config"]:
                    item["config"]["outputs"] = [names] if isinstance(names, str) else list(names)
                port.mapped(
                    where,
                    where,
                    "a user function with the reference signature fn(df, config, global_config, "
                    "model_store), run through an adapter; its module must be importable (PYTHONPATH)",
                )
            else:
                port.mapped(where, where)
            if gset.get("column_prefix"):
                port.changed(
                    f"{where}.column_prefix",
                    "itb keeps the column prefix in output names (btc_close_SMA_5); the reference "
                    "project drops it (close_SMA_5)",
                    "refer to the prefixed names in train.features",
                )
            out.append(item)
        port.put(key, out, key)
        return {key}

    return rule


def _window(src: dict[str, Any]) -> int | None:
    """The walk-forward window that reproduces the reference project's: its ``train_length``; with
    ``train_length`` 0 (an expanding window) the longest ``params.length``, since each algorithm
    trains on its own last ``length`` rows of the window (itb's ``Algorithm.length``, also in the
    walk-forward steps); None when neither is set."""
    length = int(src.get("train_length") or 0)
    if length > 0:
        return length
    lengths = [int((a.get("params") or {}).get("length") or 0) for a in src.get("algorithms") or []]
    return max(lengths) if any(n > 0 for n in lengths) else None


def _unbounded_algorithms(src: dict[str, Any]) -> list[str]:
    """Algorithms the reference project trained on every row before a walk-forward step: no
    ``train_length`` and no ``params.length``."""
    if int(src.get("train_length") or 0) > 0:
        return []
    algorithms = src.get("algorithms") or []
    return [
        f"algorithms[{i}]"
        for i, a in enumerate(algorithms)
        if not int((a.get("params") or {}).get("length") or 0)
    ]


def _train(src: dict[str, Any], port: Port) -> set[str]:
    """``train_features``, ``labels``, ``algorithms`` (the reference layout is itb-valid as it is),
    ``train_length`` -> ``train.length``; ``label_horizon`` is derived by itb from the label sets."""
    train: dict[str, Any] = {}
    if "train_features" in src:
        train["features"] = src["train_features"]
        port.mapped("train_features", "train.features")
    train["labels"] = src.get("labels") or []
    port.mapped("labels", "train.labels")
    algorithms = []
    for i, algo in enumerate(src.get("algorithms") or []):
        where = f"algorithms[{i}]"
        kind = algo.get("algo", "gb")
        if kind == "nn":
            port.unsupported(where, "algo 'nn' (Keras): use 'gb' (LightGBM) or 'lc' (logistic regression)")
            continue
        if kind not in ("gb", "lc", "svc"):
            port.unsupported(where, f"algo {kind!r}: use 'gb', 'lc' or 'svc'")
            continue
        algorithms.append(copy.deepcopy(algo))
        port.mapped(where, f"train.algorithms[{len(algorithms) - 1}]", "the reference layout params/train")
        defaults = {"gb": GB_DEFAULTS, "lc": LC_DEFAULTS}.get(kind, {})
        library_defaults = LIBRARY_DEFAULTS.get(kind, {})
        unset = {
            k: v
            for k, v in defaults.items()
            if k not in (algo.get("train") or {}) and library_defaults.get(k) != v
        }
        if unset:
            library = "LightGBM's" if kind == "gb" else "scikit-learn's"
            port.changed(
                f"{where}.train",
                f"itb fills unset hyper-parameters with its defaults {unset}; the reference project used "
                f"{library} own",
                f"write the ones you relied on into {where}.train",
            )
    train["algorithms"] = algorithms
    length = int(src.get("train_length") or 0)
    if length > 0:
        train["length"] = length
        port.changed(
            "train_length",
            "itb trains on the last train.length rows of the training range; the reference project "
            "also cut the merged data (features, predictions, backtest) to that many rows",
            "set merge.start to limit the whole data as well",
        )
    elif "train_length" in src:
        port.dropped("train_length", "0: train on every row, as itb does by default")
    port.changed(
        "train",
        "itb keeps the last train.holdout (20%) of the rows out of training and reports metrics on them; "
        "the reference project trained on every row",
        "nothing does: a holdout is what makes itb's metrics honest (train.holdout can be as small as 0.01)",
    )
    horizons = [int((s.get("config") or {}).get("horizon") or 0) for s in src.get("label_sets") or []]
    if "label_horizon" in src:
        derived = max(horizons, default=0)
        if int(src["label_horizon"] or 0) == derived:
            port.dropped("label_horizon", f"itb derives it from the label sets' horizons ({derived})")
        else:
            port.changed(
                "label_horizon",
                f"itb derives the gap before the holdout from the label sets' horizons ({derived}), "
                f"not from label_horizon ({src['label_horizon']})",
                "set the label sets' horizon",
            )
    if "train_feature_sets" in src:
        sets = src["train_feature_sets"] or []
        overrides = [s for s in sets if s.get("config") or s.get("generator") != "train_features"]
        if overrides:
            port.unsupported(
                "train_feature_sets",
                "per-set features/labels/algorithms: itb trains every train.algorithms entry on every "
                "train.labels entry with train.features",
                blocking=False,
            )
        else:
            port.dropped(
                "train_feature_sets", "itb trains train.algorithms on train.labels with train.features"
            )
    port.put("train", train, "train_features", "labels", "algorithms", "train_length")
    return {"train_features", "labels", "algorithms", "train_length", "label_horizon", "train_feature_sets"}


def _signals(src: dict[str, Any], port: Port) -> set[str]:
    """Signal sets carry over; a zero ``coefficient`` (which the reference project ignored) becomes 1."""
    out = []
    for i, sset in enumerate(src.get("signal_sets") or []):
        where = f"signal_sets[{i}]"
        name = str(sset.get("generator", ""))
        if not _known("signal", name):
            port.unsupported(
                f"{where}.generator", f"{name!r}: one of {known_generators('signal')} or 'module:function'"
            )
            continue
        config = copy.deepcopy(sset.get("config") or {})
        if name == "combine" and config.get("coefficient", 1) in (0, 0.0):
            config["coefficient"] = 1.0
            port.changed(
                f"{where}.config.coefficient",
                "0 was ignored by the reference project (a score times 1); itb applies a coefficient as "
                "written, so the port writes 1",
                "nothing more: the port already wrote 1",
            )
        out.append({"generator": name, "config": config})
        port.mapped(where, where)
    port.put("signal_sets", out, "signal_sets")
    return {"signal_sets"}


def _threshold_set(src: dict[str, Any], generator: str | None) -> dict[str, Any] | None:
    for sset in src.get("signal_sets") or []:
        if sset.get("generator") == (generator or "threshold_rule"):
            return sset.get("config") or {}
    return None


def _simulate(src: dict[str, Any], port: Port) -> set[str]:
    """``simulate_model`` -> ``simulate`` with the reference project's defaults written out: no fee,
    the whole data (not only the holdout)."""
    sim = src.get("simulate_model")
    rule = _threshold_set(src, (sim or {}).get("signal_generator"))
    out: dict[str, Any] = {}
    names = (rule or {}).get("names")
    if isinstance(names, list) and len(names) == 2:
        out["buy_column"], out["sell_column"] = names
    if sim is None:
        if out:
            port.put("simulate", {**out, "fee": 0.0, "span": "all"}, "signal_sets")
        return {"simulate_model"}
    out["fee"] = 0.0
    out["span"] = "all"
    port.changed(
        "simulate_model",
        "the reference project backtests without fees over every row (in-sample); the port keeps that "
        "(simulate.fee 0, simulate.span 'all')",
        f"already kept; itb recommends simulate.fee {ITB_FEE} and simulate.span 'holdout' "
        "(rows no model saw)",
    )
    direction = sim.get("direction", "long")
    out["direction"] = direction
    port.mapped("simulate_model.direction", "simulate.direction")
    grid = sim.get("grid") or {}
    if grid:
        buy, sell = grid.get("buy_signal_threshold"), grid.get("sell_signal_threshold")
        if isinstance(buy, list) and isinstance(sell, list):
            out["grid"] = {
                "buy_thresholds": buy,
                "sell_thresholds": sell,
                "top": int(sim.get("topn_to_store", 10)),
            }
            if rule is not None and isinstance(rule.get("columns"), str):
                out["grid"]["score_column"] = rule["columns"]
            port.mapped("simulate_model.grid", "simulate.grid", "every buy x sell pair is backtested")
            port.mapped("simulate_model.topn_to_store", "simulate.grid.top")
        else:
            port.unsupported(
                "simulate_model.grid",
                "thresholds as Python expressions or *_2 thresholds: list buy/sell thresholds explicitly",
                blocking=False,
            )
    if sim.get("buy_sell_equal"):
        port.changed(
            "simulate_model.buy_sell_equal",
            "itb backtests every buy x sell pair, not only sell = -buy",
            "list the pairs you want, or read the sell = -buy rows from simulation.json",
        )
    if sim.get("data_start") not in (None, 0) or sim.get("data_end") is not None:
        port.changed(
            "simulate_model.data_start/data_end",
            "itb backtests the rows simulate.span selects",
            "set merge.start/merge.end to limit the data",
        )
    port.put("simulate", out, "simulate_model")
    return {"simulate_model"}


def _rolling(src: dict[str, Any], port: Port) -> set[str]:
    """``rolling_predict`` -> ``rolling``: prediction_size is step_rows; the training window is
    train_length (or, for an expanding window, the longest params.length; each algorithm keeps its
    own length); the rest is reported."""
    rp = src.get("rolling_predict")
    if not rp:
        return {"rolling_predict"}
    window = _window(src)
    if window is None:
        port.unsupported(
            "rolling_predict",
            "an expanding training window (train_length 0): itb walks forward with a fixed window; add "
            "rolling with train_rows (or train_span)",
            blocking=False,
        )
        return {"rolling_predict"}
    out: dict[str, Any] = {"train_rows": window, "step_rows": int(rp.get("prediction_size") or 0) or window}
    port.mapped("rolling_predict.prediction_size", "rolling.step_rows")
    if int(src.get("train_length") or 0) > 0:
        port.mapped("train_length", "rolling.train_rows")
    else:
        port.mapped(
            "algorithms[].params.length",
            "rolling.train_rows",
            "the longest: each algorithm trains on its own last length rows of the window, as in the "
            "reference project's expanding window",
        )
    unbounded = _unbounded_algorithms(src)
    if unbounded:
        port.changed(
            ", ".join(unbounded),
            "the reference project trained these on every row before each walk-forward step (no "
            f"train_length, no params.length); itb on the last rolling.train_rows ({window}) rows",
            "raise rolling.train_rows to cover the data before the first step",
        )
    start = rp.get("prediction_start")
    if start is not None:
        out["start"] = start
        port.mapped("rolling_predict.prediction_start", "rolling.start")
    port.changed(
        "rolling_predict.prediction_steps",
        "itb predicts every row from rolling.start to the end of the data; the reference project made "
        f"exactly prediction_steps ({rp.get('prediction_steps')}) steps, ending at the last row"
        + ("" if start is not None else ", and started prediction_steps x prediction_size rows before it"),
        "set rolling.start to the first row to predict (a time) and merge.end to where it should stop",
    )
    port.changed(
        "rolling_predict",
        "itb runs the walk-forward stage in every `itb run` when 'rolling' is set (the reference project "
        "ran it on demand); each step trains up to the label horizon before its first row (the reference "
        "project left one more row out)",
        "remove 'rolling' to skip it; `itb run --only predict_rolling` runs it alone",
    )
    if rp.get("data_start") or rp.get("data_end"):
        port.changed(
            "rolling_predict.data_start/data_end",
            "itb walks forward over the whole merged data",
            "set merge.start/merge.end",
        )
    for key in ("use_multiprocessing", "max_workers"):
        if key in rp:
            port.dropped(
                f"rolling_predict.{key}", "itb runs the steps in parallel on its backend (backend.workers)"
            )
    port.put("rolling", out, "rolling_predict", "train_length")
    return {"rolling_predict"}


def _outputs(src: dict[str, Any], port: Port) -> set[str]:
    """``output_sets`` carry over with the reference keys (the live service implements them);
    ``trader_mt5`` is not supported."""
    out = []
    for i, oset in enumerate(src.get("output_sets") or []):
        where = f"output_sets[{i}]"
        name = str(oset.get("generator", ""))
        if name == "trader_mt5":
            port.unsupported(
                where, "trader_mt5: MT5 trading is not supported; trader_binance trades on Binance"
            )
            continue
        out.append({"generator": name, "config": copy.deepcopy(oset.get("config") or {})})
        note = "for the live service" if name in OUTPUT_GENERATORS else "a user output, for the live service"
        port.mapped(where, where, note)
    if out:
        port.put("output_sets", out, "output_sets")
    return {"output_sets"}


RULES: tuple[Rule, ...] = (
    _identity,
    _credentials,
    _sources,
    _generator_sets("feature_sets", "feature"),
    _generator_sets("label_sets", "label"),
    _train,
    _signals,
    _simulate,
    _rolling,
    _outputs,
)
