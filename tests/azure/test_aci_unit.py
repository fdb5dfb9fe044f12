"""Backend pieces: names, the concurrency limit, settings from env and from terraform outputs."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

from itb.backends.base import StageRunSpec
from itb_azure.backend import AciBackend, group_name, run_group_prefix
from itb_azure.cli import main as azure_cli
from itb_azure.emulator.server import Emulator
from itb_azure.settings import load_settings

from .conftest import groups_left


def test_group_names_are_valid_deterministic_and_distinct() -> None:
    run_id = "20261123T230229Z-3a21c4"
    names = {group_name(run_id, "train", "BTCUSDT", attempt) for attempt in range(1, 51)}
    assert len(names) == 50  # each attempt its own group
    assert group_name(run_id, "train", "BTCUSDT", 2) == group_name(run_id, "train", "BTCUSDT", 2)
    long = [group_name(run_id, f"simulate.grid-{i}-" + "x" * 80, "ETHUSDT", 1) for i in range(2)]
    assert long[0] != long[1]  # cut to 63, the hash of the whole identity keeps them apart
    for name in [*names, *long]:
        assert len(name) <= 63 and re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?", name)
        assert name.startswith(run_group_prefix(run_id))
    assert group_name(run_id, "train", "BTCUSDT", 1) == "itb-20261123t230229z-3a21c4-train-btcusdt-a1"


def test_group_names_take_the_symbol_of_a_multi_symbol_run(tmp_path: Path) -> None:
    backend = AciBackend({"resource_group": "rg", "image": "img"})
    run_id = "20261123T230229Z-3a21c4"
    lines = [
        backend.describe(StageRunSpec(run_id, "merge", str(tmp_path / symbol), symbol=symbol))
        for symbol in ("BTCUSDT", "ETHUSDT")
    ]
    assert "-merge-btcusdt-" in lines[0] and "-merge-ethusdt-" in lines[1]


def test_env_overrides_config(monkeypatch: Any) -> None:
    env = {"ITB_AZURE_RESOURCE_GROUP": "from-env", "ITB_AZURE_KEEP": "true", "ITB_AZURE_MAX_PARALLEL": "3"}
    settings = load_settings({"resource_group": "from-config", "stages": {"train": {"cpu": 2}}}, env)
    assert (settings.resource_group, settings.keep, settings.max_parallel) == ("from-env", True, 3)
    assert settings.resources("train").cpu == 2 and settings.resources("features").cpu == 2
    assert settings.resources("merge").memory_gb == 2


def test_concurrency_limit_queues_launches(
    aci_options: dict[str, Any], container_url: str, emulator: Emulator
) -> None:
    backend = AciBackend({**aci_options, "max_parallel": 1})
    specs = [StageRunSpec(f"norun-{i}", "merge", container_url) for i in range(2)]
    handles = [backend.launch(spec) for spec in specs]
    assert [h.queued for h in handles] == [False, True]
    peak = 0
    deadline = time.monotonic() + 90
    try:
        while not all(backend.poll(h).done for h in handles) and time.monotonic() < deadline:
            peak = max(peak, len(groups_left(emulator, aci_options["resource_group"])))
            time.sleep(0.05)
    finally:
        backend.close()
    assert all(h.result is not None for h in handles)
    assert peak == 1
    assert groups_left(emulator, aci_options["resource_group"]) == []
    # Each stage ran in its container and failed (there is no such run); its output came back.
    for handle in handles:
        assert handle.result is not None and handle.result.state == "failed"
        assert "norun-" in backend.logs(handle)


def test_settings_from_terraform_output(tmp_path: Path, capsys: Any) -> None:
    outputs = {
        "resource_group_name": {"value": "itb-rg", "sensitive": False},
        "location": {"value": "westeurope", "sensitive": False},
        "storage_account_name": {"value": "itbdata", "sensitive": False},
        "data_root": {"value": "abfs://data@itbdata.dfs.core.windows.net/itb", "sensitive": False},
        "acr_login_server": {"value": "itbacr.azurecr.io", "sensitive": False},
        "identity_id": {
            "value": "/subscriptions/sub-123/resourceGroups/itb-rg/providers/"
            "Microsoft.ManagedIdentity/userAssignedIdentities/itb",
            "sensitive": False,
        },
        "identity_client_id": {"value": "cid", "sensitive": False},
        "storage_account_key": {"value": "TOPSECRET", "sensitive": True},
    }
    source = tmp_path / "tf.json"
    source.write_text(json.dumps(outputs))
    target = tmp_path / ".itb-azure.env"
    assert azure_cli(["settings", "--from-terraform", str(source), "--write", str(target)]) == 0
    text = target.read_text()
    assert "ITB_AZURE_RESOURCE_GROUP=itb-rg" in text
    assert "ITB_AZURE_SUBSCRIPTION_ID=sub-123" in text
    assert "ITB_AZURE_IMAGE=itbacr.azurecr.io/itb:latest" in text
    assert "ITB_AZURE_DATA_ROOT=abfs://data@itbdata.dfs.core.windows.net/itb" in text
    assert "TOPSECRET" not in text
