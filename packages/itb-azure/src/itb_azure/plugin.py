"""Entry point of itb-azure: the ``aci`` backend, the ``keyvault`` secret resolver and ``itb azure``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from itb.backends import Backend, BackendInfo
from itb.cli.commands import CommandInfo, CommandRegistry
from itb.plugins import hookimpl

from itb_azure import deploy_cli
from itb_azure.cli import configure, run
from itb_azure.settings import AciSettings


def _aci(options: dict[str, Any]) -> Backend:
    from itb_azure.backend import AciBackend  # the Azure SDK loads only when the backend is used

    return AciBackend(options)


def _keyvault(ref: str) -> str:
    from itb_azure.keyvault import resolve_keyvault

    return resolve_keyvault(ref)


@hookimpl
def itb_backends() -> list[BackendInfo]:
    return [
        BackendInfo(
            "aci", _aci, "Azure Container Instances: one container group per stage run", 8, AciSettings
        )
    ]


@hookimpl
def itb_secret_resolvers() -> dict[str, Callable[[str], str]]:
    return {"keyvault": _keyvault}


@hookimpl
def itb_add_commands(commands: CommandRegistry) -> None:
    commands.add(
        CommandInfo("azure", "Azure commands (from itb-azure): settings from terraform", configure, run)
    )
    commands.add(
        CommandInfo(
            "deploy",
            "deploy the live service (from itb-azure): itb deploy serve CONFIG --backend aci",
            deploy_cli.configure,
            deploy_cli.run,
        )
    )
