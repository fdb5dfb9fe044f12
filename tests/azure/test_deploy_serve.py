"""``itb deploy serve --backend aci`` against the ARM emulator: an Always group running ``itb serve``
that comes back after its process dies, shows its restarts, and is removed by ``--stop``."""

from __future__ import annotations

import copy
import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from itb.cli.main import main
from itb.config.loader import parse_config
from itb.runs.runner import run_pipeline
from itb_azure.emulator.server import Emulator, Group

from tests.fakes.binance_server import FakeBinance, load_klines, ms

SPOT_FILE = Path(__file__).resolve().parents[3] / "shared/data/binance/spot/BTCUSDT-1m.parquet"
START = ms("2024-03-30T12:00:30")


def _config(data: dict[str, Any], path: Path, root: str, aci: dict[str, Any]) -> Path:
    data = copy.deepcopy(data)
    data["data_root"] = root
    data["backend"] = {"name": "aci", "options": {"aci": aci}}
    path.write_text(json.dumps(data))
    return path


def _group(emulator: Emulator, rg: str, name: str) -> Group | None:
    with emulator.state.lock:
        return next((g for g in emulator.state.groups.values() if (g.rg, g.name) == (rg, name)), None)


def _until(check: Callable[[], bool], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.1)


@pytest.fixture
def deployed(emulator: Emulator, aci_options: dict[str, Any]) -> Iterator[list[Path]]:
    """Configs whose service a test deployed; each is stopped afterwards, whatever happened."""
    configs: list[Path] = []
    yield configs
    for config in configs:
        main(["deploy", "serve", str(config), "--stop"])


def test_deploy_creates_an_always_group_running_itb_serve_and_stop_removes_it(
    small_config_data: dict[str, Any],
    tmp_path: Path,
    container_url: str,
    aci_options: dict[str, Any],
    emulator: Emulator,
    deployed: list[Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    rg = aci_options["resource_group"]
    config = _config(small_config_data, tmp_path / "config.json", container_url, aci_options)
    deployed.append(config)
    assert main(["deploy", "serve", str(config), "--backend", "aci", "--env", "ITB_FSYNC=0"]) == 0
    out = capsys.readouterr().out
    assert f"itb serve /etc/itb/config.json --data-root {container_url}" in out
    group = _group(emulator, rg, "itb-serve")
    assert group is not None and group.restart_policy == "Always"
    env = {v["name"]: v for v in group.container["properties"]["environmentVariables"]}
    assert "value" not in env["ITB_AZURE_STATIC_TOKEN"]  # secrets only as secure values
    assert (
        env["ITB_FSYNC"]["value"] == "0"
        and env["AZURE_CLIENT_ID"]["value"] == aci_options["identity_client_id"]
    )
    assert not any("AccountKey" in arg for arg in group.command())
    identity = group.body["identity"]["userAssignedIdentities"]
    assert list(identity) == [aci_options["identity_id"]]  # the stage identity
    # The config reached the container through its secret volume, with the Blob data root.
    mounted = json.loads((group.workdir / "volumes/config/config.json").read_text())
    assert mounted["data_root"] == container_url and mounted["symbol"] == small_config_data["symbol"]
    assert main(["deploy", "serve", str(config), "--stop"]) == 0
    assert "deleted container group itb-serve" in capsys.readouterr().out
    assert _group(emulator, rg, "itb-serve") is None
    assert main(["deploy", "serve", str(config), "--status"]) == 1
    assert "no container group itb-serve" in capsys.readouterr().err


def test_emulator_restarts_an_always_group_and_counts_it(
    aci_options: dict[str, Any], emulator: Emulator
) -> None:
    from azure.mgmt.containerinstance import models as m
    from itb_azure.backend import arm_client
    from itb_azure.serve_deploy import status_of
    from itb_azure.settings import load_settings

    rg = aci_options["resource_group"]
    client = arm_client(load_settings(aci_options))
    sleeper = m.Container(
        name="serve",
        image="img",
        command=[sys.executable, "-c", "import time; time.sleep(120)"],
        resources=m.ResourceRequirements(requests=m.ResourceRequests(cpu=1, memory_in_gb=1)),
    )
    model = m.ContainerGroup(
        location="westeurope", os_type="Linux", restart_policy="Always", containers=[sleeper]
    )
    client.container_groups.begin_create_or_update(rg, "always", model, polling_interval=0.2).result()
    try:
        group = _group(emulator, rg, "always")
        assert group is not None
        _until(lambda: group.state == "Running")
        pid = emulator.state.kill_container(rg, "always")
        _until(lambda: group.restart_count == 1 and group.state == "Running")
        assert group.process is not None and group.process.pid != pid
        status = status_of(client.container_groups.get(rg, "always"))
        assert (status.state, status.restart_count, status.previous_exit_code) == ("Running", 1, -9)
    finally:
        client.container_groups.begin_delete(rg, "always").result()
        client.close()
    assert _group(emulator, rg, "always") is None


@pytest.mark.slow
def test_itb_serve_without_models_is_restarted_by_the_always_policy(
    small_config_data: dict[str, Any],
    tmp_path: Path,
    container_url: str,
    aci_options: dict[str, Any],
    emulator: Emulator,
    deployed: list[Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """No models yet: ``itb serve`` exits 2 each time, and the Always policy starts it again."""
    rg = aci_options["resource_group"]
    config = _config(small_config_data, tmp_path / "config.json", container_url, aci_options)
    deployed.append(config)
    assert main(["deploy", "serve", str(config)]) in (0, 1)
    group = _group(emulator, rg, "itb-serve")
    assert group is not None
    _until(lambda: group.restart_count >= 2)  # exited twice, started again each time
    capsys.readouterr()
    assert main(["deploy", "serve", str(config), "--logs", "--tail", "50"]) == 0
    assert "no trained model" in capsys.readouterr().out  # it really ran itb serve on the Blob root
    assert main(["deploy", "serve", str(config), "--status"]) == 0
    status = capsys.readouterr().out
    assert "itb-serve: " in status and "last exit code 2" in status
    assert int(status.split("restarts ")[1].split(",")[0]) >= 2
    assert main(["deploy", "serve", str(config), "--stop"]) == 0
    assert _group(emulator, rg, "itb-serve") is None


def test_deploy_refuses_a_local_data_root_and_secret_env(
    small_config_data: dict[str, Any],
    tmp_path: Path,
    aci_options: dict[str, Any],
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = _config(small_config_data, tmp_path / "config.json", str(tmp_path / "data"), aci_options)
    assert main(["deploy", "serve", str(config)]) == 2
    assert "data_root: " in capsys.readouterr().err
    assert main(["deploy", "serve", str(config), "--data-root", "abfs://c/d", "--env", "API_KEY=x"]) == 2
    assert "--env: API_KEY looks like a secret" in capsys.readouterr().err
    assert _group(emulator, aci_options["resource_group"], "itb-serve") is None


@pytest.mark.slow
def test_live_service_survives_a_process_kill(
    tmp_path: Path,
    container_url: str,
    aci_options: dict[str, Any],
    emulator: Emulator,
    deployed: list[Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Trained models on Blob, a live fake exchange on 127.0.0.1: the service runs, its process is
    killed, ACI (the emulator) starts it again and ``--status`` shows the restart."""
    from tests.conftest import load_default_config

    if not SPOT_FILE.exists():
        pytest.skip(f"shared test data not found at {SPOT_FILE}")
    data = copy.deepcopy(load_default_config())
    data["merge"] = {"gaps": "fill", "start": "2024-03-20T00:00:00Z", "end": "2024-04-01T00:00:00Z"}
    data["train"]["algorithms"][0]["params"] = {"num_boost_round": 30, "num_leaves": 7}
    config = _config(data, tmp_path / "config.json", container_url, aci_options)
    trained = run_pipeline(parse_config(json.loads(config.read_text()), "t"), backend="inprocess")
    assert trained.ok
    fake = FakeBinance(
        {("spot", "BTCUSDT"): load_klines(SPOT_FILE, "2024-03-25", "2024-04-01")}, START
    ).start()
    try:
        fake.run_clock(START, 60.0)
        env = [
            f"--env={k}={v}"
            for k, v in {**fake.env(), "ITB_SERVE_CLOCK_SPEED": "60", "ITB_FSYNC": "0"}.items()
        ]
        deployed.append(config)
        assert main(["deploy", "serve", str(config), "--close-delay-s", "0.05", *env]) == 0
        rg = aci_options["resource_group"]
        group = _group(emulator, rg, "itb-serve")
        assert group is not None
        _until(lambda: "serving BTCUSDT live" in group.log_path.read_text())
        pid = emulator.state.kill_container(rg, "itb-serve")
        _until(lambda: group.restart_count == 1 and group.state == "Running")
        assert group.process is not None and group.process.pid != pid
        _until(lambda: group.log_path.read_text().count("serving BTCUSDT live") == 2)
        capsys.readouterr()
        assert main(["deploy", "serve", str(config), "--status"]) == 0
        status = capsys.readouterr().out
        assert "itb-serve: Running" in status and "restarts 1, last exit code -9" in status
        assert main(["deploy", "serve", str(config), "--stop"]) == 0
        assert _group(emulator, rg, "itb-serve") is None
    finally:
        fake.stop()
