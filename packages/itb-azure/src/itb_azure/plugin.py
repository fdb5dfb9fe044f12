"""Entry point of itb-azure: the ``aci`` backend and the ``keyvault`` secret resolver."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from itb.backends import Backend, BackendInfo, hookimpl


def _aci(options: dict[str, Any]) -> Backend:
    from itb_azure.backend import AciBackend  # the Azure SDK loads only when the backend is used

    return AciBackend(options)


def _keyvault(ref: str) -> str:
    from itb_azure.keyvault import resolve_keyvault

    return resolve_keyvault(ref)


@hookimpl
def itb_backends() -> list[BackendInfo]:
    return [BackendInfo("aci", _aci, "Azure Container Instances: one container group per stage run", 8)]


@hookimpl
def itb_secret_resolvers() -> dict[str, Callable[[str], str]]:
    return {"keyvault": _keyvault}
