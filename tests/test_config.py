"""Config loading and validation: JSONC, key paths in errors, unknown keys, references, exit codes."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from itb.config import ConfigError, jsonc, load_config, parse_config

from tests.conftest import DEFAULT_CONFIG, itb, load_default_config, write_config


def test_jsonc_keeps_slashes_inside_strings_and_positions() -> None:
    text = '{\n  "url": "https://example.test/a//b", // comment\n  /* block\n  */ "n": [1, 2,],\n}'
    assert jsonc.loads(text) == {"url": "https://example.test/a//b", "n": [1, 2]}
    stripped = jsonc.strip_comments(text)
    assert stripped.count("\n") == text.count("\n")


def test_escaped_quotes_in_strings_survive() -> None:
    assert jsonc.loads(r'{"a": "say \"//hi\"" /* c */}') == {"a": 'say "//hi"'}


def test_default_config_is_valid() -> None:
    config = load_config(DEFAULT_CONFIG, check_inputs=True)
    assert config.symbol == "BTCUSDT"
    assert config.freq_ms == 60_000


def _problems(data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(data, "cfg.json")
    return str(info.value)


def test_unknown_key_is_named_with_its_path() -> None:
    data = load_default_config()
    data["train"]["algorithms"][0]["lerning_rate"] = 0.1
    assert "train.algorithms[0].lerning_rate: unknown key" in _problems(data)


def test_wrong_type_in_generator_config_names_the_path() -> None:
    data = load_default_config()
    data["feature_sets"][1]["config"]["windows"] = ["five"]
    message = _problems(data)
    assert "cfg.json" in message
    assert "feature_sets[1].config.windows[0]" in message


def test_unknown_generator_is_named() -> None:
    data = load_default_config()
    data["feature_sets"][0]["generator"] = "tallib"
    message = _problems(data)
    assert "feature_sets[0].generator" in message and "'tallib'" in message and "talib" in message


def test_unknown_function_lists_the_known_ones() -> None:
    data = load_default_config()
    data["feature_sets"][0]["config"]["functions"] = ["SMAA"]
    assert "unknown function(s) ['SMAA']" in _problems(data)


def test_references_between_sections_are_checked() -> None:
    data = load_default_config()
    data["train"]["labels"] = ["high_10", "high_99"]
    assert "train.labels[1]: no label set produces 'high_99'" in _problems(data)
    data = load_default_config()
    data["signal_sets"][0]["config"]["columns"] = ["high_10_gb", "low_10_xx"]
    assert "signal_sets[0].config.columns: unknown column 'low_10_xx'" in _problems(data)


def test_secrets_must_be_references() -> None:
    data = load_default_config()
    data["secrets"] = {"telegram": "123456:ABCDEF"}
    message = _problems(data)
    assert "secrets" in message and "never the value itself" in message
    assert "123456:ABCDEF" not in message  # the value itself is never echoed
    data["secrets"] = {"telegram": "env:TELEGRAM_TOKEN", "binance": "keyvault://itb-kv/binance-key"}
    assert parse_config(data).secrets["telegram"] == "env:TELEGRAM_TOKEN"


def test_bad_frequency() -> None:
    data = load_default_config()
    data["freq"] = "1 fortnight"
    assert "freq" in _problems(data)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d.update(unknown_section=1), "unknown_section: unknown key"),
        (lambda d: d["feature_sets"][1]["config"].update(windows="five"), "feature_sets[1].config.windows"),
        (lambda d: d["data_sources"][0].update(path="/nonexistent/klines.parquet"), "data_sources[0].path"),
        (lambda d: d["label_sets"][0].update(generator="highlow9"), "label_sets[0].generator"),
    ],
    ids=["unknown-key", "wrong-type", "missing-data-file", "unknown-generator"],
)
def test_itb_validate_exits_2_naming_the_problem(tmp_path: Path, mutate: Any, expected: str) -> None:
    data = copy.deepcopy(load_default_config())
    mutate(data)
    path = write_config(tmp_path / "bad.json", data)
    result = itb("validate", str(path))
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr
    assert str(path) in result.stderr
    assert "Traceback" not in result.stderr


def test_itb_validate_ok_and_broken_json(tmp_path: Path) -> None:
    assert itb("validate", str(DEFAULT_CONFIG)).returncode == 0
    broken = tmp_path / "broken.jsonc"
    broken.write_text('{\n  "symbol": "BTCUSDT",\n  "freq": \n}')
    result = itb("validate", str(broken))
    assert result.returncode == 2
    assert f"{broken}:4:1: not valid JSON" in result.stderr
    missing = itb("validate", str(tmp_path / "nope.json"))
    assert missing.returncode == 2 and "config file not found" in missing.stderr
