"""Entry point of the ``aci`` backend. Not implemented yet: it says so clearly instead of failing later."""

from __future__ import annotations

from typing import Any

from itb.backends import Backend, BackendInfo, hookimpl
from itb.errors import ConfigError


def _not_yet(options: dict[str, Any]) -> Backend:
    raise ConfigError(
        "the 'aci' backend is not implemented in this release of itb-azure; use --backend local"
    )


@hookimpl
def itb_backends() -> list[BackendInfo]:
    return [BackendInfo("aci", _not_yet, "Azure Container Instances (not implemented yet)")]
