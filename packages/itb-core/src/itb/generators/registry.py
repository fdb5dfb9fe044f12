"""The generator registry: (kind, name) -> :class:`Generator` (config model, function, output names).

Generators come from plugins through the ``itb_register_generators`` hook; itb's own are the
internal plugin :mod:`itb.generators.builtins`. A ``module:function`` name, in any kind, is a user
function adapted by :mod:`itb.generators.user`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

import polars as pl
from pydantic import BaseModel

from itb.errors import ConfigError
from itb.generators.history import History
from itb.plugins.manager import fill, plugin_manager
from itb.plugins.registry import Registry

if TYPE_CHECKING:
    import pluggy

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


class GeneratorRegistry(Registry[tuple[Kind, str], Generator]):
    """What ``itb_register_generators`` hooks extend."""

    def __init__(self) -> None:
        super().__init__("generator")

    def add(self, generator: Generator) -> Generator:
        key = (generator.kind, generator.name)
        return self.put(key, generator, f"{generator.kind} {generator.name!r}")

    def names(self, kind: Kind) -> list[str]:
        return sorted(name for k, name in self.keys() if k == kind)

    def get(self, kind: Kind, name: str) -> Generator:
        """Look a generator up by name; ``module:function`` names a user function of any kind."""
        found = self.lookup((kind, name))
        if found is not None:
            return found
        if ":" in name:
            return user_generator(kind, name)
        known = ", ".join(self.names(kind))
        raise ConfigError(
            f"unknown {kind} generator {name!r} (known: {known} or 'module:function' for a user function)"
        )


def collect_generators(pm: pluggy.PluginManager) -> GeneratorRegistry:
    """A registry filled by the plugins of ``pm`` (a duplicate name is a :class:`ConfigError`)."""
    registry = GeneratorRegistry()
    fill("itb_register_generators", registry, pm)
    return registry


@cache
def generator_registry() -> GeneratorRegistry:
    """The generators of this process's plugins, collected once."""
    return collect_generators(plugin_manager())


def user_generator(kind: Kind, reference: str) -> Generator:
    from itb.generators.user import UserConfig, UserFunction

    user = UserFunction(reference)
    return Generator(reference, kind, UserConfig, user.run, user.outputs, doc=inspect.getdoc(user.fn) or "")


def known_generators(kind: Kind) -> list[str]:
    return generator_registry().names(kind)


def get_generator(kind: Kind, name: str) -> Generator:
    """Look a generator up by name; ``module:function`` names a user function of any kind."""
    return generator_registry().get(kind, name)


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
