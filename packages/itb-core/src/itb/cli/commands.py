"""``itb`` subcommands provided by plugins (the ``itb_add_commands`` hook).

A command says how to set up its argument parser and what to run with the parsed arguments; its
``run`` returns the exit code and may raise :class:`~itb.errors.ItbError` like a built-in command.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from itb.errors import ConfigError
from itb.plugins.registry import Registry


@dataclass(frozen=True)
class CommandInfo:
    name: str
    help: str
    #: Adds the command's arguments (and sub-commands) to its parser.
    configure: Callable[[argparse.ArgumentParser], None]
    #: Runs the command with the parsed arguments; returns the exit code.
    run: Callable[[argparse.Namespace], int]


class CommandRegistry(Registry[str, CommandInfo]):
    """What ``itb_add_commands`` hooks extend; the names of itb's own commands are ``reserved``."""

    def __init__(self, reserved: Iterable[str] = ()) -> None:
        super().__init__("command")
        self.reserved = frozenset(reserved)

    def add(self, command: CommandInfo) -> CommandInfo:
        if command.name in self.reserved:
            raise ConfigError(
                f"itb plugin {self.current_plugin!r}: command 'itb {command.name}' is a built-in itb command"
            )
        return self.put(command.name, command, repr(f"itb {command.name}"))
