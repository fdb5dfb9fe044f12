"""Entry point of the ``local`` backend (entry-point group ``itb``)."""

from __future__ import annotations

from itb.backends import BackendInfo, hookimpl

from itb_local.backend import LocalBackend


@hookimpl
def itb_backends() -> list[BackendInfo]:
    return [BackendInfo("local", LocalBackend, "each stage as its own local process, in parallel")]
