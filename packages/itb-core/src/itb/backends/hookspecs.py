"""pluggy hook specifications for itb plugins (project name and entry-point group: ``itb``).

A plugin module registered under the ``itb`` entry-point group implements any of these::

    from itb.backends import hookimpl, BackendInfo

    @hookimpl
    def itb_backends():
        return [BackendInfo("mybackend", MyBackend, "runs stages on my cluster")]
"""

from __future__ import annotations

from collections.abc import Callable

import pluggy

from itb.backends.base import BackendInfo

PROJECT = "itb"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class ItbSpec:
    @hookspec
    def itb_backends(self) -> list[BackendInfo]:  # type: ignore[empty-body]
        """Return the backends this plugin provides."""

    @hookspec
    def itb_secret_resolvers(self) -> dict[str, Callable[[str], str]]:  # type: ignore[empty-body]
        """Return secret resolvers by reference scheme (``keyvault`` for ``keyvault://VAULT/NAME``).

        A resolver takes the whole reference and returns the value; it runs inside the stage
        process, and must never log the value.
        """
