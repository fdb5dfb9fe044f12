"""The plugin contract: generators, commands, outputs and backends through hooks; duplicate names
and misspelt hooks are errors naming the plugin; user ``module:function`` generators in every kind.

Throwaway plugins are real module objects registered on a fresh manager (``new_plugin_manager``), so
the process's own manager is never changed.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import inspect
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import polars as pl
import pytest
from itb.backends.base import BackendInfo
from itb.backends.inprocess import InProcessBackend
from itb.cli.commands import CommandInfo, CommandRegistry
from itb.cli.main import main
from itb.config import jsonc
from itb.config.loader import parse_config
from itb.errors import ConfigError
from itb.generators import generate
from itb.generators.registry import Generator, collect_generators
from itb.outputs import BUILTIN_OUTPUTS, OutputInfo, collect_outputs
from itb.plugins import hookimpl
from itb.plugins.manager import backend_registry, fill, new_plugin_manager
from itb.runs.runner import run_pipeline
from itb.stages.registry import get_stage
from pydantic import BaseModel

DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "btcusdt-1m.jsonc"


def plugin_module(name: str, **hooks: Any) -> ModuleType:
    """A module object holding ``hooks``, like an installed plugin module."""
    module = ModuleType(name)
    for hook_name, fn in hooks.items():
        setattr(module, hook_name, fn)
    return module


# ---- user functions referenced as tests.test_plugins:NAME ------------------------------------------


def rises_next(df: pl.DataFrame, config: dict[str, Any]) -> pl.DataFrame:
    """Label: the close ``horizon`` rows ahead is higher than this one (null where unknown)."""
    ahead = pl.col("close").shift(-int(config["horizon"]))
    return df.select((ahead > pl.col("close")).alias("rises_next"))


def score_sign(df: pl.DataFrame, config: dict[str, Any]) -> pl.DataFrame:
    """Signal: buy when the score column is above ``threshold``, sell when below."""
    score, threshold = pl.col(str(config["columns"])), float(config["threshold"])
    return df.select(
        (score > threshold).fill_null(False).alias("buy"), (score < threshold).fill_null(False).alias("sell")
    )


def default_config() -> dict[str, Any]:
    return jsonc.loads(DEFAULT_CONFIG.read_text())  # type: ignore[no-any-return]


# ---- registration -------------------------------------------------------------------------------


def test_builtin_generators_register_through_the_hook() -> None:
    registry = collect_generators(new_plugin_manager(entry_points=False))
    assert registry.names("feature") == ["itblib", "itbstats", "talib"]
    assert set(registry.names("signal")) == {"combine", "smoothen", "threshold_rule", "threshold_rule2"}
    assert registry.provider(("label", "highlow2")) == "itb.generators.builtins"


def test_a_plugin_generator_is_found_and_a_duplicate_names_both_plugins() -> None:
    class Empty(BaseModel):
        pass

    def ones(df: pl.DataFrame, cfg: Empty, column_prefix: str, feature_prefix: str) -> pl.DataFrame:
        return df.select(pl.lit(1.0).alias("one"))

    mine = Generator("one", "feature", Empty, ones, lambda *_: ["one"])

    @hookimpl
    def itb_register_generators(registry: Any) -> None:
        registry.add(mine)

    registry = collect_generators(
        new_plugin_manager(plugin_module("one_plugin", itb_register_generators=itb_register_generators))
    )
    assert registry.get("feature", "one") is mine
    assert registry.provider(("feature", "one")) == "one_plugin"

    talib_again = Generator("talib", "feature", Empty, ones, lambda *_: ["one"])

    @hookimpl
    def itb_register_generators_dup(registry: Any) -> None:
        registry.add(talib_again)

    dup = plugin_module("shadow_plugin", itb_register_generators=itb_register_generators_dup)
    with pytest.raises(ConfigError) as caught:
        collect_generators(new_plugin_manager(dup, entry_points=False))
    message = str(caught.value)
    assert "feature 'talib'" in message
    assert "'itb.generators.builtins'" in message and "'shadow_plugin'" in message


def test_a_duplicate_backend_names_both_plugins() -> None:
    @hookimpl
    def itb_backends() -> list[BackendInfo]:
        return [BackendInfo("inprocess", InProcessBackend, "a second inprocess")]

    pm = new_plugin_manager(plugin_module("copycat", itb_backends=itb_backends), entry_points=False)
    with pytest.raises(ConfigError, match=r"backend 'inprocess' .*'itb.backends.inprocess' and 'copycat'"):
        backend_registry(pm)


def test_a_misspelt_hook_is_an_error_naming_the_plugin() -> None:
    @hookimpl
    def itb_register_generator(registry: Any) -> None:  # "generators" is the hook's name
        raise AssertionError("never called")

    with pytest.raises(ConfigError, match=r"itb plugin 'typo_plugin'.*itb_register_generator"):
        new_plugin_manager(
            plugin_module("typo_plugin", itb_register_generator=itb_register_generator), entry_points=False
        )


def test_a_hook_with_unknown_arguments_is_an_error_naming_the_plugin() -> None:
    @hookimpl
    def itb_register_generators(generators: Any) -> None:  # the hook passes "registry"
        raise AssertionError("never called")

    with pytest.raises(ConfigError, match=r"itb plugin 'argname_plugin'.*generators"):
        new_plugin_manager(
            plugin_module("argname_plugin", itb_register_generators=itb_register_generators),
            entry_points=False,
        )


def test_an_installed_plugin_that_fails_to_import_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real (throwaway) distribution on sys.path whose ``itb`` entry point raises on import."""
    info = tmp_path / "broken_itb_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-itb-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[itb]\nbroken = broken_itb_plugin\n")
    (tmp_path / "broken_itb_plugin.py").write_text("raise RuntimeError('missing dependency xyz')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    message = r"itb plugin 'broken = broken_itb_plugin' failed to load: RuntimeError: missing dependency xyz"
    with pytest.raises(ConfigError, match=message):
        new_plugin_manager()


def test_installed_plugins_register_their_backends_and_commands() -> None:
    pm = new_plugin_manager()
    backends = backend_registry(pm)
    assert {"inprocess", "local", "aci"} <= set(backends)
    assert backends.provider("aci") == "aci"  # the entry point's name in itb-azure
    commands = CommandRegistry(reserved=("run",))
    fill("itb_add_commands", commands, pm)
    assert "azure" in commands and commands.provider("azure") == "aci"


def test_commands_may_not_shadow_builtins_or_each_other() -> None:
    def run(args: argparse.Namespace) -> int:
        return 0

    commands = CommandRegistry(reserved=("run", "validate"))
    with commands.provided_by("p1"), pytest.raises(ConfigError, match="'itb run' is a built-in"):
        commands.add(CommandInfo("run", "", lambda parser: None, run))
    with commands.provided_by("p1"):
        commands.add(CommandInfo("hello", "", lambda parser: None, run))
    with commands.provided_by("p2"), pytest.raises(ConfigError, match="'p1' and 'p2'"):
        commands.add(CommandInfo("hello", "", lambda parser: None, run))


def test_itb_azure_is_a_plugin_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"resource_group_name": {"value": "rg-itb", "sensitive": False}}))
    assert main(["azure", "settings", "--from-terraform", str(outputs)]) == 0
    assert capsys.readouterr().out == "ITB_AZURE_RESOURCE_GROUP=rg-itb\n"


def test_outputs_registry_has_the_builtins_and_takes_plugin_kinds() -> None:
    class FileConfig(BaseModel):
        path: str

    class FileOutput:
        def __init__(self, config: FileConfig) -> None:
            self.rows: list[dict[str, Any]] = []

        def send(self, row: Any) -> None:
            self.rows.append(dict(row))

        def close(self) -> None:
            pass

    info = OutputInfo("file", FileConfig, FileOutput)

    @hookimpl
    def itb_outputs(registry: Any) -> None:
        registry.add(info)

    builtins = [
        "score_notification_model",
        "diagram_notification_model",
        "trader_simulation",
        "trader_binance",
    ]
    assert [o.name for o in BUILTIN_OUTPUTS] == builtins
    plain = collect_outputs(new_plugin_manager(entry_points=False))
    assert list(plain) == builtins
    assert plain.provider("score_notification_model") == "itb"
    registry = collect_outputs(new_plugin_manager(plugin_module("out_plugin", itb_outputs=itb_outputs)))
    found = registry.lookup("file")
    assert found is info and registry.provider("file") == "out_plugin"
    output = found.factory(found.config_model.model_validate({"path": "x"}))
    output.send({"close": 1.0})
    assert output.rows == [{"close": 1.0}]  # type: ignore[attr-defined]


# ---- backend options --------------------------------------------------------------------------------


def test_backend_options_are_checked_with_key_paths() -> None:
    data = default_config()
    data["backend"] = {"name": "local", "options": {"local": {"start": "spawn", "prelod": []}}}
    with pytest.raises(ConfigError) as caught:
        parse_config(data, "cfg.json")
    message = str(caught.value)
    assert "backend.options.local.start: Input should be 'fork' or 'exec'" in message
    assert "backend.options.local.prelod: unknown key" in message
    data["backend"] = {"name": "local", "options": {"aci": {"max_parallel": 0}}}
    with pytest.raises(ConfigError, match=r"backend\.options\.aci\.max_parallel: Input should be greater"):
        parse_config(data, "cfg.json")
    data["backend"] = {"name": "local", "options": {"local": {"start": "exec"}, "elsewhere": {"x": 1}}}
    assert parse_config(data, "cfg.json").backend.options["local"] == {"start": "exec"}


# ---- user functions in every kind ---------------------------------------------------------------


def test_user_label_function_matches_a_numpy_oracle() -> None:
    close = np.array([1.0, 2.0, 1.5, 1.5, 3.0, 2.0])
    df = pl.DataFrame({"close": close})
    out = generate("label", "tests.test_plugins:rises_next", df, {"horizon": 2, "outputs": ["rises_next"]})
    expected = [bool(close[i + 2] > close[i]) for i in range(len(close) - 2)] + [None, None]
    assert out["rises_next"].to_list() == expected


def test_user_label_and_signal_functions_validate_and_run_in_a_pipeline(
    tmp_path: Path,
) -> None:
    data = copy.deepcopy(default_config())
    data["data_root"] = str(tmp_path / "data")
    data["merge"] = {"gaps": "fill", "start": "2024-02-01T00:00:00Z", "end": "2024-02-08T00:00:00Z"}
    data["label_sets"] = [
        {"generator": "tests.test_plugins:rises_next", "config": {"horizon": 30, "outputs": ["rises_next"]}}
    ]
    data["train"]["labels"] = ["rises_next"]
    data["train"]["algorithms"][0]["params"] = {"num_boost_round": 10, "num_leaves": 7}
    data["signal_sets"] = [
        {
            "generator": "tests.test_plugins:score_sign",
            "config": {"columns": "rises_next_gb", "threshold": 0.5, "outputs": ["buy", "sell"]},
        }
    ]
    data["simulate"].update(buy_column="buy", sell_column="sell")

    bad = copy.deepcopy(data)
    bad["signal_sets"][0]["config"]["columns"] = "no_such_score"
    with pytest.raises(
        ConfigError, match=r"signal_sets\[0\]\.config\.columns: unknown column 'no_such_score'"
    ):
        parse_config(bad, "bad.json")

    config = parse_config(data, "cfg.json")
    # Editing a user function's module makes the stage that runs it out of date: its hash is in the key.
    module_hash = "sha256:" + hashlib.sha256(inspect.getsource(sys.modules[__name__]).encode()).hexdigest()
    assert get_stage("labels").external_fingerprints(config) == {"tests.test_plugins:rises_next": module_hash}
    assert get_stage("signals").external_fingerprints(config) == {
        "tests.test_plugins:score_sign": module_hash
    }
    result = run_pipeline(config, backend="inprocess")
    assert result.ok, result.manifest
    root = Path(data["data_root"])
    merged = pl.read_parquet(next(root.rglob("merged.parquet")))
    labels = pl.read_parquet(next(root.rglob("labels.parquet")))
    close = merged["close"].to_numpy()
    assert labels["rises_next"].to_list()[:-30] == (close[30:] > close[:-30]).tolist()
    signals = pl.read_parquet(next(root.rglob("signals.parquet")))
    score = signals["rises_next_gb"].to_numpy()
    assert 0 < signals["buy"].sum() < signals.height and 0 < signals["sell"].sum() < signals.height
    assert signals["buy"].to_list() == (score > 0.5).tolist()
    assert signals["sell"].to_list() == (score < 0.5).tolist()
