"""itb's own generators, registered as an internal plugin (see :data:`itb.plugins.manager.INTERNAL_PLUGINS`).

Each generator module lists what it defines in ``GENERATORS``; importing one registers nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from itb.plugins.hookspecs import hookimpl

if TYPE_CHECKING:
    from itb.generators.registry import GeneratorRegistry


@hookimpl
def itb_register_generators(registry: GeneratorRegistry) -> None:
    # Imported here, not at the top: loading the plugin manager (every ``itb`` command) stays cheap.
    from itb.generators import itblib, itbstats, labels, signals, talib_features

    for module in (talib_features, itblib, itbstats, labels, signals):
        for generator in module.GENERATORS:
            registry.add(generator)
