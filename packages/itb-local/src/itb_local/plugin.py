"""Entry point of the ``local`` backend (entry-point group ``itb``)."""

from __future__ import annotations

from itb.backends import BackendInfo
from itb.plugins import hookimpl

from itb_local.backend import LocalBackend
from itb_local.options import LocalOptions


@hookimpl
def itb_backends() -> list[BackendInfo]:
    return [
        BackendInfo(
            "local",
            LocalBackend,
            "each stage as its own local process, in parallel",
            options_model=LocalOptions,
        )
    ]
