"""Generators: pure functions that add feature, label or signal columns to a table.

Each generator has a name, a pydantic config model and a function over a polars DataFrame, and can
say which columns it will produce before it runs (so ``itb validate`` checks column references).
Plugins add generators through the ``itb_register_generators`` hook. Call one directly::

    from itb.generators import generate
    out = generate("feature", "talib", df, {"columns": ["close"], "functions": ["SMA"], "windows": [5]})
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["Generator", "generate", "get_generator", "known_generators"]

if TYPE_CHECKING:
    from itb.generators.registry import Generator, generate, get_generator, known_generators


def __getattr__(name: str) -> Any:
    # Lazy: importing a module of this package (the internal plugin that lists the built-in
    # generators, which every ``itb`` command loads) must not import polars.
    if name in __all__:
        from itb.generators import registry

        return getattr(registry, name)
    raise AttributeError(name)
