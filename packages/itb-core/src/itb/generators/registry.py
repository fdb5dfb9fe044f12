"""The generator registry: name -> (kind, config model, function, output names)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import polars as pl
from pydantic import BaseModel

from itb.errors import ConfigError
from itb.generators.history import History

Kind = Literal["feature", "label", "signal"]

#: A generator function: (table, validated config, column prefix, feature prefix) -> new columns only.
GeneratorFn = Callable[[pl.DataFrame, Any, str, str], pl.DataFrame]
OutputsFn = Callable[[Any, str, str], list[str]]


@dataclass(frozen=True)
class Generator:
    name: str
    kind: Kind
    config_model: type[BaseModel]
    fn: GeneratorFn
    outputs: OutputsFn
    doc: str = ""
    #: (validated config) -> the history an output row needs; None: unknown (treated as all).
    lookback: Callable[[Any], History] | None = None

    def validate(self, config: Mapping[str, Any]) -> Any:
        return self.config_model.model_validate(dict(config))


_REGISTRY: dict[tuple[Kind, str], Generator] = {}


def register(generator: Generator) -> Generator:
    _REGISTRY[(generator.kind, generator.name)] = generator
    return generator


def load_builtins() -> None:
    """Register the built-in generators. Called on first use (keeps ``import itb`` light) and by the
    stage registry, so that processes pre-importing the stage graph have them loaded already."""
    from itb.generators import itblib, itbstats, labels, signals, talib_features  # noqa: F401


def known_generators(kind: Kind) -> list[str]:
    load_builtins()
    return sorted(name for k, name in _REGISTRY if k == kind)


def get_generator(kind: Kind, name: str) -> Generator:
    """Look a generator up by name; ``module:function`` names a user feature function."""
    load_builtins()
    if (kind, name) in _REGISTRY:
        return _REGISTRY[(kind, name)]
    if ":" in name and kind == "feature":
        from itb.generators.user import user_generator

        return user_generator(name)
    known = ", ".join(known_generators(kind))
    hint = " or 'module:function' for a user function" if kind == "feature" else ""
    raise ConfigError(f"unknown {kind} generator {name!r} (known: {known}{hint})")


def generate(
    kind: Kind,
    name: str,
    df: Any,
    config: Mapping[str, Any],
    *,
    column_prefix: str = "",
    feature_prefix: str = "",
) -> pl.DataFrame:
    """Run one generator on ``df`` (polars or pandas) and return only the new columns (polars)."""
    from itb.generators.frames import to_polars

    generator = get_generator(kind, name)
    return generator.fn(to_polars(df), generator.validate(config), column_prefix, feature_prefix)
