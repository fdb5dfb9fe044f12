"""`itb port` on the reference project's three published configs (tests/data/itb, MIT, see
LICENSE-ITB): what it writes, what it reports, its exit codes, and that secrets never leak."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from itb.cli.main import main
from itb.config import jsonc, parse_config
from itb.config.models import PipelineConfig
from itb.port import port_config, port_text
from itb.serve.output_sets import configured_outputs
from itb.serve.score_notification import ScoreNotifier, band_of

from tests.itb_reference import ITB_CODE, SAMPLE_1H, SAMPLE_1M, SAMPLE_MT5


def reference(path: Path) -> dict[str, Any]:
    return jsonc.loads(path.read_text())  # type: ignore[no-any-return]


def run_port(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["port", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_1h_sample_ports_to_a_valid_config_with_a_grouped_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "itb.jsonc"
    code, _, err = run_port([str(SAMPLE_1H), "-o", str(out)], capsys)
    assert code == 0, err
    config = parse_config(jsonc.loads(out.read_text()))
    assert [a.algo for a in config.train.algorithms] == ["svc"]
    assert config.train.algorithms[0].length == 26280 and config.train.algorithms[0].scaled
    assert config.train.algorithms[0].params == {"C": 1.0}
    assert config.simulate.buy_column == "buy_signal_column" and config.simulate.fee == 0.0
    assert config.simulate.span == "all" and config.simulate.grid is not None
    assert config.simulate.grid.top == 10 and len(config.simulate.grid.buy_thresholds) == 10
    assert config.rolling is not None and config.rolling.train_rows == 26280
    assert config.rolling.step_rows == 10080
    for group in ("mapped as is", "mapped with a change of meaning", "dropped"):
        assert group in err
    assert "itb recommends simulate.fee 0.001 and simulate.span 'holdout'" in err
    assert "label_horizon: itb derives it from the label sets' horizons (24)" in err
    # The JSONC says where each part came from.
    text = out.read_text()
    assert "// from: simulate_model" in text and "// from: data_sources, venue" in text


def test_sources_become_downloadable_without_a_path() -> None:
    port = port_config(reference(SAMPLE_1H))
    assert port.data["data_sources"] == [{"symbol": "BTCUSDT", "market": "spot", "column_prefix": ""}]


def test_train_length_and_output_sets_carry_over() -> None:
    source = reference(SAMPLE_1M)
    port = port_config(source)
    assert port.data["train"]["length"] == 525600
    assert port.data["output_sets"] == [
        {"generator": s["generator"], "config": s["config"]} for s in source["output_sets"]
    ]
    assert [c.source for c in port.report.changed_meaning if c.source == "train_length"] == ["train_length"]


def test_secret_values_never_reach_output_report_or_logs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    values = {
        "api_key": "AKIA-binance-key-7731",
        "api_secret": "s3cret-binance-9942",
        "telegram_bot_token": "123456:telegram-token-x",
        "telegram_chat_id": "-100987654321",
        "mt5_password": "mt5-pass-5512",
        "mt5_account_id": "acct-66120",
    }
    data = reference(SAMPLE_MT5)
    data.update(values)
    source = tmp_path / "mine.json"
    source.write_text(json.dumps(data))
    out = tmp_path / "itb.jsonc"
    caplog.set_level("DEBUG")
    code, stdout, err = run_port([str(source), "-o", str(out), "--drop-unsupported"], capsys)
    assert code == 0, err
    written = out.read_text()
    for value in values.values():
        for where in (written, stdout, err, caplog.text):
            assert value not in where
    assert parse_config(jsonc.loads(written)).secrets == {
        "binance_api_key": "env:BINANCE_API_KEY",
        "binance_api_secret": "env:BINANCE_API_SECRET",
        "telegram_bot_token": "env:TELEGRAM_BOT_TOKEN",
        "telegram_chat_id": "env:TELEGRAM_CHAT_ID",
    }


def test_mt5_sample_exits_2_naming_the_mt5_parts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "itb.jsonc"
    code, _, err = run_port([str(SAMPLE_MT5), "-o", str(out)], capsys)
    assert code == 2
    blocked = err.split("does not run yet:")[1]
    for key in ("venue", "mt5_account_id", "mt5_password", "mt5_server", "data_sources[1]"):
        assert f"  {key}: not supported" in blocked
    assert "--drop-unsupported" in blocked
    code, _, err = run_port([str(SAMPLE_MT5), "-o", str(out), "--drop-unsupported"], capsys)
    assert code == 0, err
    config = parse_config(jsonc.loads(out.read_text()))
    assert [s.symbol for s in config.data_sources] == ["BTCUSD", "EURUSD", "GBPUSD"]  # the ticks are gone
    assert "set data_sources[0].path to a Parquet export of its bars" in err


@pytest.fixture
def reference_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The folder holding the reference's ``common/my_feature_example.py``; the test puts it on
    sys.path."""
    yield ITB_CODE
    for name in [m for m in sys.modules if m == "common" or m.startswith("common.")]:
        sys.modules.pop(name, None)


def test_1min_sample_blocks_until_its_user_function_is_importable(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    reference_package: Path,
) -> None:
    out = tmp_path / "itb.jsonc"
    code, _, err = run_port([str(SAMPLE_1M), "-o", str(out)], capsys)
    assert code == 2
    assert "feature_sets[3].generator: cannot import module 'common.my_feature_example'" in err
    monkeypatch.syspath_prepend(str(reference_package))
    code, _, err = run_port([str(SAMPLE_1M), "-o", str(out)], capsys)
    assert code == 0, err
    user_set = parse_config(jsonc.loads(out.read_text())).feature_sets[3]
    assert user_set.config["outputs"] == ["close_add"]


def test_unsupported_algorithms_and_generators_are_named() -> None:
    data = reference(SAMPLE_1H)
    data["algorithms"].append({"name": "nn", "algo": "nn", "params": {}, "train": {}})
    data["feature_sets"].append({"generator": "tsfresh", "config": {"columns": "close", "windows": 5}})
    report = port_config(data).report
    instead = {u.source: u.instead for u in report.unsupported}
    assert "use 'gb' (LightGBM) or 'lc'" in instead["algorithms[1]"]
    assert "itbstats" in instead["feature_sets[3].generator"]


def test_zero_coefficient_becomes_one_with_a_line_in_the_report() -> None:
    data = reference(SAMPLE_1H)
    data["signal_sets"][0]["config"]["coefficient"] = 0
    port = port_config(data)
    assert port.data["signal_sets"][0]["config"]["coefficient"] == 1.0
    assert any(c.source == "signal_sets[0].config.coefficient" for c in port.report.changed_meaning)


def test_unknown_keys_are_dropped_and_bad_json_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = port_config({**reference(SAMPLE_1H), "my_key": 1}).report
    assert any(d.source == "my_key" for d in report.dropped)
    broken = tmp_path / "broken.jsonc"
    broken.write_text('{"symbol": ')
    code, _, err = run_port([str(broken)], capsys)
    assert code == 2 and "broken.jsonc:1:" in err and "Traceback" not in err
    code, _, err = run_port([str(SAMPLE_1H), "-o", str(tmp_path / "missing" / "out.jsonc")], capsys)
    assert code == 2 and "out.jsonc: cannot write" in err


def test_port_text_is_the_cli_without_files() -> None:
    outcome = port_text(SAMPLE_1H.read_text(), source="a.jsonc", target="b.jsonc")
    assert outcome.problems == []
    assert jsonc.loads(outcome.text) == outcome.data


def test_rolling_predict_maps_its_window_start_and_size() -> None:
    data = reference(SAMPLE_1H)
    data["rolling_predict"]["prediction_start"] = "2024-02-01 00:00:00"
    rolling = parse_config(port_config(data).data).rolling
    assert rolling is not None and (rolling.train_rows, rolling.step_rows) == (26280, 10080)
    assert rolling.start is not None and rolling.start.isoformat().startswith("2024-02-01T00:00")
    # No window at all (train_length 0, no params.length): the reference's expanding window.
    data["algorithms"][0]["params"]["length"] = 0
    port = port_config(data)
    assert "rolling" not in port.data
    assert [(u.source, u.blocking) for u in port.report.unsupported] == [("rolling_predict", False)]


def test_sources_with_the_same_prefix_get_their_own() -> None:
    port = port_config(reference(SAMPLE_MT5))
    prefixes = [s["column_prefix"] for s in port.data["data_sources"]]
    assert prefixes == ["", "eurusd_", "gbpusd_"]
    assert port.origins["data_sources"] == ["data_sources", "venue"]
    assert port.origins["data_root"] == ["data_folder"]


def test_hyper_parameters_left_to_the_library_are_reported() -> None:
    data = reference(SAMPLE_1H)
    data["algorithms"] = [
        {"name": "gb", "algo": "gb", "params": {}, "train": {"objective": "binary"}},
        {"name": "lc", "algo": "lc", "params": {}, "train": {"C": 1.0, "max_iter": 100}},
    ]
    changed = {c.source: c.what for c in port_config(data).report.changed_meaning}
    assert (
        "'max_depth': 1" in changed["algorithms[0].train"]
        and "objective" not in changed["algorithms[0].train"]
    )
    assert "algorithms[1].train" not in changed  # itb's other lc defaults are scikit-learn's


@pytest.mark.parametrize(("sample", "unit"), [(SAMPLE_1M, 0.005), (SAMPLE_1H, 0.02)], ids=["1min", "1h"])
def test_the_samples_outputs_come_over_and_build_for_itb_serve(
    sample: Path,
    unit: float,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    reference_package: Path,
) -> None:
    """The samples list their score bands from the highest edge down, as the reference's users do;
    `itb serve` takes them as they are (with the reference's band meaning)."""
    monkeypatch.syspath_prepend(str(reference_package))
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:abc")
    monkeypatch.setenv("TELEGRAM_CHAT_ID", "42")
    out = tmp_path / "itb.jsonc"
    code, _, err = run_port([str(sample), "-o", str(out)], capsys)
    assert code == 0, err
    data = {**jsonc.loads(out.read_text()), "data_root": str(tmp_path / "data")}
    built = configured_outputs(PipelineConfig.model_validate(data))
    try:
        assert [key for key, _ in built.outputs] == [
            "0:score_notification_model", "1:diagram_notification_model", "2:trader_simulation"
        ]  # fmt: skip
        assert built.skipped == []
        scores = built.outputs[0][1]
        assert isinstance(scores, ScoreNotifier)
        # edges 1, 2, 3 units from 0 (1min) or 1, 2, 4 (1h), listed from the outside in
        probes = [u * unit for u in (4.5, 2.5, 1.5, 0.5, -0.5, -1.5, -2.5, -4.5)]
        assert [band_of(s, scores.config) for s in probes] == [3, 2, 1, 0, 0, -1, -2, -3]
        assert scores.config.band(3).text == "BUY ZONE" and scores.config.band(-3).text == "SELL ZONE"
    finally:
        built.close()
