"""The sample pipeline through the aci backend: ARM emulator + Azurite, compared with a local run."""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import pytest
from itb.config.loader import parse_config
from itb.runs.manifest import RunManifest
from itb.runs.runner import run_pipeline
from itb_azure.emulator.server import Emulator

from .conftest import groups_left


def _config(data: dict[str, Any], root: str, aci: dict[str, Any] | None = None) -> Any:
    data = copy.deepcopy(data)
    data["data_root"] = root
    if aci is not None:
        data.setdefault("backend", {}).setdefault("options", {})["aci"] = aci
    return parse_config(data, "test-config")


def _fingerprints(manifest: RunManifest) -> dict[str, str]:
    out = {}
    for stage, record in manifest.stages.items():
        for name, output in record.outputs.items():
            out[f"{stage}:{name}"] = output.fingerprint
    return out


def test_short_pipeline_matches_local(
    small_config_data: dict[str, Any],
    tmp_path: Path,
    container_url: str,
    aci_options: dict[str, Any],
    emulator: Emulator,
) -> None:
    small = copy.deepcopy(small_config_data)
    small["merge"] = {"gaps": "fill", "start": "2024-02-01T00:00:00Z", "end": "2024-02-06T00:00:00Z"}
    small["train"]["algorithms"][0]["params"] = {"num_boost_round": 10, "num_leaves": 7}
    t0 = time.perf_counter()
    local = run_pipeline(_config(small, str(tmp_path / "local")), backend="local")
    t1 = time.perf_counter()
    aci = run_pipeline(_config(small, container_url, aci_options), backend="aci")
    t2 = time.perf_counter()
    print(f"local {t1 - t0:.1f}s, aci {t2 - t1:.1f}s")
    assert local.ok, local.manifest.model_dump_json(include={"stages"}, indent=1)
    assert aci.ok, aci.manifest.model_dump_json(include={"stages"}, indent=1)
    assert _fingerprints(aci.manifest) == _fingerprints(local.manifest)
    assert len(_fingerprints(aci.manifest)) >= 7
    assert groups_left(emulator, aci_options["resource_group"]) == []
    assert emulator.state.live_processes() == 0
    log = aci.storage.read_bytes(f"runs/{aci.run_id}/logs/train.log").decode()
    assert "stage train starting" in log


@pytest.mark.slow
def test_full_sample_pipeline_matches_local(
    tmp_path: Path, container_url: str, aci_options: dict[str, Any], emulator: Emulator
) -> None:
    """The acceptance run: the bundled default config, aci via the emulator on Azurite vs local."""
    from tests.conftest import load_default_config

    data = load_default_config()
    t0 = time.perf_counter()
    local = run_pipeline(_config(data, str(tmp_path / "local")), backend="local")
    t1 = time.perf_counter()
    aci = run_pipeline(_config(data, container_url, aci_options), backend="aci")
    t2 = time.perf_counter()
    print(f"full sample: local {t1 - t0:.1f}s, aci via emulator {t2 - t1:.1f}s")
    assert local.ok and aci.ok, aci.manifest.model_dump_json(include={"stages"}, indent=1)
    fingerprints = _fingerprints(aci.manifest)
    assert fingerprints == _fingerprints(local.manifest)
    for key, value in sorted(fingerprints.items()):
        print(f"  {key}: {value}")
    assert groups_left(emulator, aci_options["resource_group"]) == []
