"""pluggy hook specifications for itb plugins (project name and entry-point group: ``itb``).

Hooks receive an object to extend (a registry, the command table) rather than returning values, so
that the manager knows which plugin provided what and can name both when two provide the same name.
This module imports nothing from itb at run time: the types are for readers and type checkers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from itb.backends.base import BackendInfo
    from itb.cli.commands import CommandRegistry
    from itb.generators.registry import GeneratorRegistry
    from itb.outputs import OutputRegistry

PROJECT = "itb"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class ItbSpec:
    @hookspec
    def itb_backends(self) -> list[BackendInfo]:  # type: ignore[empty-body]
        """Return the backends this plugin provides.

        A backend may declare ``options_model``, the pydantic model of its ``backend.options.NAME``
        section, so that ``itb validate`` reports bad options with their key paths.
        """

    @hookspec
    def itb_secret_resolvers(self) -> dict[str, Callable[[str], str]]:  # type: ignore[empty-body]
        """Return secret resolvers by reference scheme (``keyvault`` for ``keyvault://VAULT/NAME``).

        A resolver takes the whole reference and returns the value; it runs inside the stage
        process, and must never log the value.
        """

    @hookspec
    def itb_register_generators(self, registry: GeneratorRegistry) -> None:
        """Add feature, label and signal generators: ``registry.add(Generator(...))``."""

    @hookspec
    def itb_add_commands(self, commands: CommandRegistry) -> None:
        """Add ``itb`` subcommands: ``commands.add(CommandInfo(name, help, configure, run))``."""

    @hookspec
    def itb_outputs(self, registry: OutputRegistry) -> None:
        """Add output kinds (where a live service sends each candle's signals):
        ``registry.add(OutputInfo(name, config_model, factory))``."""
