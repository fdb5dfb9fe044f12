"""Multi-symbol runs (``symbols``): one run id, a config and data root per symbol, stages interleaved."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from itb.backends.base import StageRunSpec
from itb.backends.inprocess import InProcessBackend
from itb.config import parse_config
from itb.errors import ConfigError
from itb.runs.ids import run_prefix
from itb.runs.manifest import RunManifest
from itb.runs.runner import run_pipeline
from itb.storage import Storage

from tests.conftest import itb, load_default_config, write_config

SYMBOLS = ["BTCUSDT", "ETHUSDT"]
STAGES = ["merge", "features", "labels", "train", "predict", "signals", "simulate"]
OUTPUTS = ["merged.parquet", "features.parquet", "labels.parquet", "predictions.parquet", "signals.parquet"]


@pytest.fixture
def multi_data(tmp_path: Path) -> dict[str, Any]:
    """The default config on one week of the sample, read twice under two symbol names."""
    data = copy.deepcopy(load_default_config())
    data["data_root"] = str(tmp_path / "data")
    data["symbols"] = SYMBOLS
    data["data_sources"] = [
        {"symbol": "{symbol}", "market": "spot", "path": "sample:BTCUSDT-1m-2024Q1", "column_prefix": ""}
    ]
    data["merge"] = {"gaps": "fill", "start": "2024-02-01T00:00:00Z", "end": "2024-02-08T00:00:00Z"}
    data["train"]["algorithms"][0]["params"] = {"num_boost_round": 10, "num_leaves": 7}
    return data


def test_config_derives_one_config_per_symbol(multi_data: dict[str, Any]) -> None:
    multi_data.pop("symbol", None)
    config = parse_config(multi_data)
    assert config.symbol == "BTCUSDT"  # defaults to the first symbol
    eth = config.for_symbol("ETHUSDT")
    assert eth.symbol == "ETHUSDT" and eth.symbols is None
    assert [s.symbol for s in eth.data_sources] == ["ETHUSDT"]
    assert eth.data_root == f"{multi_data['data_root']}/ETHUSDT"
    # a source naming the config's symbol follows the symbol too; other sources stay as they are
    multi_data["data_sources"] = [
        {"symbol": "BTCUSDT", "path": "sample:BTCUSDT-1m-2024Q1"},
        {"symbol": "BNBUSDT", "path": "sample:BTCUSDT-1m-2024Q1", "column_prefix": "bnb_"},
    ]
    eth = parse_config(multi_data).for_symbol("ETHUSDT")
    assert [s.symbol for s in eth.data_sources] == ["ETHUSDT", "BNBUSDT"]


@pytest.mark.parametrize(
    ("symbols", "where"),
    [(["BTCUSDT", "BTCUSDT"], "symbols:"), (["BTCUSDT", ""], "symbols[1]:"), ([], "symbols:"),
     (["BTC/USDT"], "symbols[0]:")],
)  # fmt: skip
def test_bad_symbols_are_errors_naming_the_key(
    multi_data: dict[str, Any], symbols: list[str], where: str
) -> None:
    multi_data["symbols"] = symbols
    with pytest.raises(ConfigError) as info:
        parse_config(multi_data, "multi.json")
    assert where in str(info.value) and "multi.json" in str(info.value)


def test_dry_run_lists_every_stage_of_every_symbol(multi_data: dict[str, Any], tmp_path: Path) -> None:
    config = write_config(tmp_path / "multi.json", multi_data)
    result = itb("run", str(config), "--dry-run", "--backend", "local")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    single_data = {k: v for k, v in multi_data.items() if k != "symbols"}
    single = itb(
        "run", str(write_config(tmp_path / "single.json", single_data)), "--dry-run", "--backend", "local"
    )
    planned = single.stdout.splitlines()  # stage runs (and the steps of fanned-out stages) of one symbol
    assert single.returncode == 0 and len(planned) >= len(STAGES)
    assert len(lines) == 2 * len(planned)
    for symbol in SYMBOLS:
        root = f"{multi_data['data_root']}/{symbol}"
        mine = [line for line in lines if f"--data-root {root} " in line]
        assert len(mine) == len(planned)
        assert all(f"--stage {stage} " in "".join(mine) for stage in STAGES)
    assert not (tmp_path / "data").exists()  # a dry run writes nothing


def test_inprocess_run_gives_each_symbol_its_own_root_and_manifest_section(
    multi_data: dict[str, Any],
) -> None:
    result = run_pipeline(parse_config(multi_data), backend="inprocess")
    assert result.ok, result.manifest.model_dump_json(indent=1)[:3000]
    root = Path(multi_data["data_root"])
    manifest = RunManifest.model_validate_json(
        (root / run_prefix(result.run_id) / "manifest.json").read_text()
    )
    assert manifest.status == "succeeded" and manifest.stages == {}
    assert list(manifest.symbols) == SYMBOLS
    fingerprints = {}
    for symbol in SYMBOLS:
        section = manifest.symbols[symbol]
        assert section.status == "succeeded" and section.data_root == str(root / symbol)
        assert list(section.stages) == STAGES
        for name in [*OUTPUTS, "simulation.json"]:
            assert (root / symbol / name).exists(), (symbol, name)
        stored = json.loads((root / symbol / run_prefix(result.run_id) / "config.json").read_text())
        assert stored["symbol"] == symbol and stored["data_sources"][0]["symbol"] == symbol
        assert stored["data_root"] == str(root / symbol) and stored["symbols"] is None
        fingerprints[symbol] = {
            out: info.fingerprint
            for s in section.stages.values()
            for out, info in s.outputs.items()
            if out != "report.html"  # its title names the symbol
        }
        assert "merged.parquet" in fingerprints[symbol] and "simulation.json" in fingerprints[symbol]
        assert (root / symbol / section.stages["merge"].log).exists()
    assert fingerprints["BTCUSDT"] == fingerprints["ETHUSDT"]  # the same data under two names
    assert not (root / "merged.parquet").exists()
    # a rerun skips every stage of every symbol
    again = run_pipeline(parse_config(multi_data), backend="inprocess")
    assert again.ok
    statuses = {s.status for sec in again.manifest.symbols.values() for s in sec.stages.values()}
    assert statuses == {"skipped"}


class _BoomForOneSymbol(InProcessBackend):
    """Runs ETHUSDT's features stage with a failing user feature function (tests.userfuncs:boom)."""

    def launch(self, spec: StageRunSpec) -> Any:
        if spec.symbol == "ETHUSDT" and spec.stage == "features":
            storage = Storage(spec.data_root)
            name = f"{run_prefix(spec.run_id)}/config.json"
            config = storage.read_json(name)
            config["feature_sets"].append({"generator": "tests.userfuncs:boom", "config": {}})
            storage.write_json(name, config)
        return super().launch(spec)


def test_a_failure_in_one_symbol_does_not_stop_the_other(multi_data: dict[str, Any]) -> None:
    result = run_pipeline(parse_config(multi_data), backend=_BoomForOneSymbol())
    assert result.status == "failed"
    btc, eth = (result.manifest.symbols[s] for s in SYMBOLS)
    assert btc.status == "succeeded"
    assert {s.status for s in btc.stages.values()} == {"succeeded"}
    assert eth.status == "failed"
    assert eth.stages["features"].status == "failed"
    assert "boom" in eth.stages["features"].error
    assert eth.stages["merge"].status == eth.stages["labels"].status == "succeeded"
    assert eth.stages["train"].status == eth.stages["simulate"].status == "not_run"
    assert (Path(multi_data["data_root"]) / "BTCUSDT" / "simulation.json").exists()


def test_local_backend_runs_the_symbols_stages_in_parallel(
    multi_data: dict[str, Any], tmp_path: Path
) -> None:
    config = write_config(tmp_path / "multi.json", multi_data)
    result = itb("run", str(config), "--backend", "local", "--workers", "2", "--threads", "1")
    assert result.returncode == 0, result.stderr
    for symbol in SYMBOLS:
        assert "run " in result.stdout and f" {symbol} — succeeded" in result.stdout
    root = Path(multi_data["data_root"])
    run_id = next(p.name for p in (root / "runs").iterdir())
    manifest = RunManifest.model_validate_json((root / "runs" / run_id / "manifest.json").read_text())
    assert manifest.status == "succeeded" and manifest.backend == "local"
    btc, eth = (manifest.symbols[s].stages for s in SYMBOLS)
    overlapping = [
        stage
        for stage in STAGES
        if btc[stage].started_at < eth[stage].ended_at and eth[stage].started_at < btc[stage].ended_at
    ]
    assert overlapping, {s: (btc[s].started_at, btc[s].ended_at, eth[s].started_at) for s in STAGES}
    for name in OUTPUTS:
        assert (root / "BTCUSDT" / name).read_bytes() == (root / "ETHUSDT" / name).read_bytes(), name
    shown = itb("runs", "show", run_id, "--data-root", str(root))
    assert shown.returncode == 0 and "ETHUSDT" in shown.stdout and "BTCUSDT" in shown.stdout
