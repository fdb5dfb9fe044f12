"""Fixtures for the Azure suite: Azurite (real Blob protocol peer) and the ARM/Key Vault emulator.

Everything listens on 127.0.0.1 only; nothing here talks to Azure.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from itb_azure.emulator.azurite import Azurite, start_azurite
from itb_azure.emulator.server import Emulator, start_emulator
from itb_azure.storage import ensure_container


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """One Azurite blob service for the session (started on a free port, stopped afterwards)."""
    try:
        server = start_azurite(tmp_path_factory.mktemp("azurite"))
    except FileNotFoundError as exc:
        pytest.fail(f"{exc}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def azure_env(azurite: Azurite, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Point adlfs at Azurite through the environment (the way stage containers get credentials)."""
    for name in ("AZURE_STORAGE_ACCOUNT_NAME", "AZURE_STORAGE_ACCOUNT_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite.connection_string)
    return {"AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string}


@pytest.fixture
def container_url(azure_env: dict[str, str]) -> str:
    """A fresh ``abfs://`` data root on Azurite for one test (its container created, as terraform does)."""
    container = f"t{uuid.uuid4().hex[:12]}"
    ensure_container(f"abfs://{container}")
    return f"abfs://{container}/data"


@pytest.fixture
def repo() -> Path:
    return Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """The ARM + Key Vault emulator on 127.0.0.1 (HTTPS, self-signed), stopped with its containers."""
    server = start_emulator(tmp_path_factory.mktemp("arm"), start_delay_s=0.1)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def aci_env(emulator: Emulator, azure_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment of a launching process that talks to the emulator and Azurite."""
    monkeypatch.setenv("ITB_AZURE_STATIC_TOKEN", emulator.token)
    emulator.state.faults.clear()
    return {**azure_env, "ITB_AZURE_STATIC_TOKEN": emulator.token}


@pytest.fixture
def aci_options(emulator: Emulator, aci_env: dict[str, str]) -> dict[str, Any]:
    """``backend.options.aci`` for the emulator, with a unique resource group per test (leak checks)."""
    return {
        "subscription_id": "00000000-0000-0000-0000-000000000001",
        "resource_group": f"rg-{uuid.uuid4().hex[:8]}",
        "location": "westeurope",
        "image": "itbregistry.azurecr.io/itb:test",
        "identity_id": "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/"
        "Microsoft.ManagedIdentity/userAssignedIdentities/itb",
        "identity_client_id": "11111111-1111-1111-1111-111111111111",
        "arm_endpoint": emulator.url,
        "ca_bundle": str(emulator.cert_path),
        "keyvault_endpoint": emulator.url + "/vaults/{vault}",
        "poll_interval_s": 0.2,
        "poll_max_interval_s": 0.5,
        "retry_total": 3,
        "threads": 1,  # as a local run on this machine: the model files record the thread count
    }


def groups_left(emulator: Emulator, resource_group: str) -> list[str]:
    with emulator.state.lock:
        return [g.name for g in emulator.state.groups.values() if g.rg == resource_group]
