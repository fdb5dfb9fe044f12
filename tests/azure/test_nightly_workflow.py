"""The nightly steps of `.github/workflows/pipeline.yml`, run as written against the emulators.

Two nights on Azurite (Blob) and the ARM emulator (container groups), with Binance replaced by the
fake on 127.0.0.1 serving real BTCUSDT klines. Each nightly step's script is run by bash with the
variables `.itb-azure.env` would hold; `make pipeline BACKEND=aci CONFIG=... ARGS=...` is the one
command replaced, by what the Makefile's recipe for it runs (``python -m itb_azure.demo CONFIG ARGS``:
the recipe itself is checked against the Makefile). Night 1 downloads, merges, trains the first
candidate and promotes it (no live models yet); the fake's clock moves a day; night 2 downloads the
day, appends it (merge, features, labels), trains a candidate and judges it against the live models.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from itb.runs.manifest import RunManifest, StageStatus, list_runs
from itb.storage import Storage
from itb_azure.emulator.azurite import Azurite
from itb_azure.emulator.server import Emulator

from tests.azure.conftest import groups_left
from tests.conftest import SHARED_DATA, load_default_config
from tests.fakes.binance_server import FakeBinance, load_klines, ms

REPO = Path(__file__).resolve().parents[2]
SPOT_FILE = SHARED_DATA / "binance" / "spot" / "BTCUSDT-1m.parquet"
MAKE_PIPELINE = re.compile(r'^make pipeline BACKEND=aci CONFIG="\$CONFIG"(?: ARGS="(?P<args>[^"]*)")?$')

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not SPOT_FILE.exists(), reason="needs ../shared/data"),
]


def nightly_scripts() -> list[str]:
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "pipeline.yml").read_text())
    steps = workflow["jobs"]["run"]["steps"]
    return [step["run"] for step in steps if step.get("if") == "env.MODE == 'nightly'"]


def as_run_here(script: str) -> str:
    """The step's script with `make pipeline BACKEND=aci ...` replaced by its recipe's command."""
    lines = []
    for line in script.strip().splitlines():
        match = MAKE_PIPELINE.match(line.strip())
        if match:
            line = f'"$PYTHON" -m itb_azure.demo "$CONFIG" {match.group("args") or ""}'
        lines.append(line)
    return "\n".join(lines)


def test_the_makefile_recipe_is_the_command_the_test_runs() -> None:
    makefile = (REPO / "Makefile").read_text()
    assert "$(BIN)/python -m itb_azure.demo $(CONFIG) $(ARGS)" in makefile
    scripts = nightly_scripts()
    assert len(scripts) == 4
    assert sum(bool(MAKE_PIPELINE.match(s.strip().splitlines()[-1].strip())) for s in scripts) == 3


APPENDED = ("merged.parquet", "features.parquet", "labels.parquet")


def _committed_blocks(azurite: Azurite, container: str, blob: str) -> int:
    from azure.storage.blob import BlobClient

    client = BlobClient.from_connection_string(azurite.connection_string, container, blob)
    committed, _ = client.get_block_list("committed")
    return len(committed)


def _night(workdir: Path, env: dict[str, str], storage: Storage) -> list[RunManifest]:
    before = {m.run_id for m in list_runs(storage)}
    for number, script in enumerate(nightly_scripts(), 1):
        done = subprocess.run(
            ["bash", "-e", "-c", as_run_here(script)], cwd=workdir, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, f"nightly step {number}:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return [m for m in list_runs(storage) if m.run_id not in before]


def test_two_nights_download_append_train_a_candidate_and_promote(
    tmp_path: Path, azurite: Azurite, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    klines = load_klines(SPOT_FILE, "2023-05-01", "2023-05-20")
    fake = FakeBinance({("spot", "BTCUSDT"): klines}, ms("2023-05-15T00:00:30")).start()
    container = "nightly"
    root = f"abfs://{container}/data"
    data: dict[str, Any] = load_default_config()
    data.update(data_root=root, data_sources=[{"symbol": "BTCUSDT", "market": "spot"}])
    data["download"] = {"start": "2023-05-01", "backoff_s": 0.01, "backoff_max_s": 0.05, "max_retries": 4}
    data["merge"] = {"gaps": "fill"}
    data["train"]["algorithms"][0]["params"] = {"num_boost_round": 10, "num_leaves": 7}
    config = tmp_path / "nightly.json"
    config.write_text(json.dumps(data, indent=2))
    workdir = tmp_path / "checkout"
    (workdir / ".venv").mkdir(parents=True)
    (workdir / ".venv" / "bin").symlink_to(Path(sys.executable).parent)
    resource_group = "itb-nightly"
    settings = {  # what `itb azure settings --from-terraform` writes, pointed at the emulators
        "ITB_AZURE_SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000001",
        "ITB_AZURE_RESOURCE_GROUP": resource_group,
        "ITB_AZURE_IMAGE": "itb:nightly",
        "ITB_AZURE_ARM_ENDPOINT": emulator.url,
        "ITB_AZURE_CA_BUNDLE": str(emulator.cert_path),
        "ITB_AZURE_KEYVAULT_ENDPOINT": emulator.url + "/vaults/{vault}",
        "ITB_AZURE_POLL_INTERVAL_S": "0.2",
        "ITB_AZURE_POLL_MAX_INTERVAL_S": "0.5",
        "ITB_AZURE_STATIC_TOKEN": emulator.token,
        "ITB_AZURE_THREADS": "1",
        "ITB_AZURE_DATA_ROOT": root,
        "AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string,
    }
    (workdir / ".itb-azure.env").write_text("".join(f"{k}={v!r}\n" for k, v in settings.items()))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ITB_AZURE_", "AZURE_STORAGE_"))}
    env.update(fake.env(), CONFIG=str(config), PYTHON=sys.executable, ITB_FSYNC="0")
    for key, value in settings.items():
        monkeypatch.setenv(key, value)  # this process reads the manifests from Azurite too
    from itb_azure.storage import ensure_container

    ensure_container(f"abfs://{container}")
    storage = Storage(root)
    try:
        first = _night(workdir, env, storage)
        blocks = {name: _committed_blocks(azurite, container, f"data/{name}") for name in APPENDED}
        fake.now_ms += 24 * 3600 * 1000  # a day later
        second = _night(workdir, env, storage)
    finally:
        fake.stop()
    # night 2 grew the tables on Blob by one block each: their new rows only, not the tables again
    assert {n: _committed_blocks(azurite, container, f"data/{n}") - b for n, b in blocks.items()} == {
        name: 1 for name in APPENDED
    }
    for night in (first, second):
        assert len(night) == 4, [m.run_id for m in night]  # one run per step
        assert all(m.status == "succeeded" for m in night), [(m.run_id, m.status) for m in night]
        assert [sorted(m.stages) for m in night[:3]] == [
            ["download"],
            ["features", "labels", "merge"],
            ["candidate"],
        ]
    downloaded = [night[0].stages["download"].metrics for night in (first, second)]
    assert downloaded[0] != downloaded[1]
    merged = [m.stages["merge"] for m in (first[1], second[1])]
    assert [r.incremental.mode for r in merged if r.incremental] == ["full", "append"]
    assert second[1].stages["features"].incremental is not None
    assert second[1].stages["features"].incremental.mode == "append"
    assert merged[1].rows - merged[0].rows == 24 * 60  # the downloaded day, appended
    decisions = [night[3].promotion for night in (first, second)]
    assert decisions[0] is not None and decisions[0].promoted  # no live models yet
    assert "no live models yet" in " ".join(decisions[0].reasons)
    assert decisions[1] is not None and decisions[1].current is not None  # judged against the live set
    assert decisions[1].candidate_run == second[2].run_id
    for night in (first, second):
        assert night[3].stages["simulate"].status == StageStatus.SUCCEEDED
    assert groups_left(emulator, resource_group) == []
    assert emulator.state.live_processes() == 0
