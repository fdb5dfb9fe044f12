"""pluggy hook specifications for itb plugins (project name and entry-point group: ``itb``).

A plugin module registered under the ``itb`` entry-point group implements any of these::

    from itb.backends import hookimpl, BackendInfo

    @hookimpl
    def itb_backends():
        return [BackendInfo("mybackend", MyBackend, "runs stages on my cluster")]
"""

from __future__ import annotations

import pluggy

from itb.backends.base import BackendInfo

PROJECT = "itb"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class ItbSpec:
    @hookspec
    def itb_backends(self) -> list[BackendInfo]:  # type: ignore[empty-body]
        """Return the backends this plugin provides."""
