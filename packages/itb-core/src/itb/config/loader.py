"""Read a config file, validate it, and turn every problem into one clear message.

Messages name the file and the key path in the form users type (``feature_sets[2].config.windows``).
Validation goes past pydantic's structure check: each generator's own ``config`` is validated against
its model, and every column a later section refers to must be produced by an earlier one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from itb.config import jsonc
from itb.config.models import PipelineConfig
from itb.errors import ConfigError, ItbError

BASE_COLUMNS = ["open", "high", "low", "close", "volume", "close_time", "quote_av", "trades",
                "tb_base_av", "tb_quote_av"]  # fmt: skip


def format_loc(loc: Iterable[Any]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def _describe(error: dict[str, Any]) -> str:
    kind, msg = error["type"], error["msg"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    value = error.get("input")
    shown = json.dumps(value)[:60] if isinstance(value, str | int | float | bool | list | dict) else None
    return f"{msg} (got {shown})" if shown is not None and kind != "value_error" else msg


def _messages(exc: ValidationError, prefix: Sequence[Any] = ()) -> list[str]:
    return [f"{format_loc([*prefix, *e['loc']])}: {_describe(dict(e))}" for e in exc.errors()]


def _fail(source: str, problems: list[str]) -> ConfigError:
    lines = "\n".join(f"  {p}" for p in problems)
    noun = "problem" if len(problems) == 1 else "problems"
    return ConfigError(f"{source}: invalid config, {len(problems)} {noun}:\n{lines}")


def _structure(data: Any, source: str) -> PipelineConfig:
    try:
        return PipelineConfig.model_validate(data)
    except ValidationError as exc:
        raise _fail(source, _messages(exc)) from None


def parse_config(data: Any, source: str = "<config>") -> PipelineConfig:
    """Validate already-parsed config data (a dict) into a :class:`PipelineConfig`."""
    config = _structure(data, source)
    problems = validate_generators(config) + validate_backend_options(config)
    if problems:
        raise _fail(source, problems)
    return config


def validate_backend_options(config: PipelineConfig) -> list[str]:
    """Each ``backend.options.NAME`` against the model its backend declares (``options_model``).

    Options for a backend that is not installed here cannot be checked and are left alone: a config
    may carry settings for the cloud backend while it runs on a laptop.
    """
    from itb.plugins.manager import backends

    problems: list[str] = []
    for name, info in backends().items():
        options = config.backend.options.get(name)
        if options is None or info.options_model is None:
            continue
        try:
            info.options_model.model_validate(options)
        except ValidationError as exc:
            problems.extend(_messages(exc, ("backend", "options", name)))
    return problems


def _read(path: str | Path) -> Any:
    """The config file's data (JSON or JSONC); a missing, unreadable or malformed file is a ConfigError."""
    from itb.storage.url import read_text

    source = str(path)
    try:
        text = read_text(source)
    except FileNotFoundError:
        raise ConfigError(f"{source}: config file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{source}: is a folder, not a config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{source}: cannot read the config: {exc}") from None
    try:
        return jsonc.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{source}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None


def load_config(path: str | Path, *, check_inputs: bool = False) -> PipelineConfig:
    """Load a JSON/JSONC config file. With ``check_inputs`` also check that its data files exist."""
    source = str(path)
    config = parse_config(_read(path), source)
    if check_inputs:
        problems = check_input_files(config)
        if problems:
            raise _fail(source, problems)
    return config


def validate_generators(config: PipelineConfig) -> list[str]:
    """Validate each generator section and the column references between sections."""
    from itb.generators.registry import get_generator

    problems: list[str] = []
    available = {f"{s.column_prefix}{c}" for s in config.data_sources for c in BASE_COLUMNS}
    features: list[str] = []
    labels: list[str] = []
    for section, kind, target in (("feature_sets", "feature", features), ("label_sets", "label", labels)):
        for i, gset in enumerate(getattr(config, section)):
            try:
                generator = get_generator(kind, gset.generator)  # type: ignore[arg-type]
                parsed = generator.validate(gset.config)
            except ValidationError as exc:
                problems.extend(_messages(exc, (section, i, "config")))
                continue
            except (ItbError, ValueError) as exc:
                problems.append(f"{section}[{i}].generator: {exc}")
                continue
            problems.extend(
                _unknown_inputs(parsed, gset.column_prefix, available | set(features), section, i)
            )
            target.extend(generator.outputs(parsed, gset.column_prefix, gset.feature_prefix))
    duplicated = sorted({c for c in features + labels if (features + labels).count(c) > 1})
    if duplicated:
        problems.append(f"feature_sets/label_sets: columns generated twice: {duplicated}")

    declared_user_outputs = all(
        ":" not in s.generator or s.config.get("outputs") for s in config.feature_sets
    )
    if config.train.features is not None and declared_user_outputs:
        known = set(features) | available
        for i, name in enumerate(config.train.features):
            if name not in known:
                problems.append(f"train.features[{i}]: no feature set produces column {name!r}")
    for i, name in enumerate(config.train.labels):
        if name not in labels:
            problems.append(f"train.labels[{i}]: no label set produces {name!r} (they produce {labels})")

    columns = set(available) | set(features) | set(labels)
    columns |= {f"{label}_{a.name}" for label in config.train.labels for a in config.train.algorithms}
    for i, sset in enumerate(config.signal_sets):
        try:
            generator = get_generator("signal", sset.generator)
            parsed = generator.validate(sset.config)
        except ValidationError as exc:
            problems.extend(_messages(exc, ("signal_sets", i, "config")))
            continue
        except ItbError as exc:
            problems.append(f"signal_sets[{i}].generator: {exc}")
            continue
        refs = parsed.columns if isinstance(parsed.columns, list) else [parsed.columns]
        for ref in refs:
            if ref not in columns:
                problems.append(f"signal_sets[{i}].config.columns: unknown column {ref!r}")
        columns |= set(generator.outputs(parsed, "", ""))
    sim = config.simulate
    for key in ("buy_column", "sell_column"):
        if config.signal_sets and getattr(sim, key) not in columns:
            problems.append(f"simulate.{key}: no signal set produces {getattr(sim, key)!r}")
    if sim.grid is not None:
        rules = [s for s in config.signal_sets if s.generator == "threshold_rule"]
        score = sim.grid.score_column or (
            str(rules[-1].config.get("columns", "trade_score")) if rules else None
        )
        if score is None:
            problems.append("simulate.grid: no threshold_rule signal set; set simulate.grid.score_column")
        elif score not in columns:
            problems.append(f"simulate.grid.score_column: unknown column {score!r}")
    return problems


def _unknown_inputs(parsed: Any, prefix: str, known: set[str], section: str, i: int) -> list[str]:
    """Input columns (a generator config's ``columns``) that no source or earlier feature set
    provides: ``feature_sets[0].config.columns[1]: no source or earlier feature set provides 'closee'``."""
    columns = getattr(parsed, "columns", None)
    if columns is None:
        return []
    if isinstance(columns, dict):  # talib's reference form: TA-Lib argument -> column
        columns = list(columns.values())
    names = [columns] if isinstance(columns, str) else list(columns)
    return [
        f"{section}[{i}].config.columns" + (f"[{j}]" if not isinstance(columns, str) else "")
        + f": no source or earlier feature set provides {prefix + name!r}"
        for j, name in enumerate(names)
        if isinstance(name, str) and prefix + name not in known
    ]  # fmt: skip


def check_input_files(config: PipelineConfig) -> list[str]:
    """Every data source must point at existing data (a file, a folder of Parquet, or a sample)."""
    from itb.storage.sources import SourceNotFound, resolve_source

    problems = []
    for i, source in enumerate(config.data_sources):
        try:
            resolve_source(source, config)
        except SourceNotFound as exc:
            problems.append(f"data_sources[{i}].path: {exc}")
    return problems


def load_run_config(path: str | Path) -> PipelineConfig:
    """What ``itb run`` loads: :func:`load_config` with its input files checked, plus the checks of
    ``itb validate`` that need no data read (feature sets present, algorithm parameters the models
    take), so a run that could only fail in its train stage fails before it starts, with exit 2."""
    from itb.config.validate import config_checks

    config = load_config(path, check_inputs=True)
    problems = config_checks(config)
    if problems:
        raise _fail(str(path), problems)
    return config


def validate_config(path: str | Path) -> PipelineConfig:
    """What ``itb validate`` does: structure, generators, references and input files, then the data
    root, the sources' data (schema, rows, raster, enough rows) and the models' parameters."""
    from itb.config.validate import deep_checks

    config = _structure(_read(path), str(path))
    # all problems at once: the config's, then the data's
    problems = validate_generators(config) + validate_backend_options(config)
    problems += [p for p in deep_checks(config) if p not in problems]
    if problems:
        raise _fail(str(path), problems)
    return config
