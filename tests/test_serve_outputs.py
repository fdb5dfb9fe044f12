"""The score_notification_model output: bands, band-change and frequency messages, state that
survives a restart; how a config's output_sets become outputs (validation, unknown kinds); which
symbols and data roots a config serves; the audit's batch signals for a walk-forward config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from itb import datasets
from itb.config.models import PipelineConfig, RollingConfig
from itb.errors import ConfigError, DataError
from itb.outputs import BUILTIN_OUTPUTS, OutputInfo
from itb.serve.audit import batch_table
from itb.serve.cli import symbol_configs
from itb.serve.live_log import LiveLog
from itb.serve.output_sets import check_requirements, configured_outputs
from itb.serve.score_notification import ScoreNotificationConfig, ScoreNotifier, band_of
from itb.storage import Storage
from pydantic import BaseModel

from tests.conftest import load_default_config

BANDS: dict[str, Any] = {
    "score_column_names": ["trade_score"],
    "positive_bands": [
        {"edge": 0.02, "text": "flat+"},
        {"edge": 0.05, "frequency": 3, "sign": ">>", "text": "buy zone", "bold": True},
    ],
    "negative_bands": [{"edge": -0.02, "text": "flat-"}, {"edge": -0.05, "sign": "<<", "text": "sell zone"}],
}


def rows(scores: list[float | None]) -> list[dict[str, Any]]:
    start = 1711843200000  # 2024-03-31 00:00 UTC
    return [
        {"symbol": "BTCUSDT", "timestamp": start + 60_000 * i, "close": 70_000.0 + i, "trade_score": s}
        for i, s in enumerate(scores)
    ]


def run(config: dict[str, Any], scores: list[float | None]) -> list[str]:
    sent: list[str] = []
    notifier = ScoreNotifier(ScoreNotificationConfig.model_validate(config), sent.append)
    for row in rows(scores):
        notifier.send(row)
    return sent


def test_an_edge_is_where_its_band_starts_and_below_every_edge_is_neutral() -> None:
    config = ScoreNotificationConfig.model_validate(BANDS)
    assert [band_of(s, config) for s in (0.0, 0.01, 0.02, 0.03, 0.05, 0.9)] == [0, 0, 1, 1, 2, 2]
    assert [band_of(s, config) for s in (-0.01, -0.02, -0.03, -0.05, -0.9)] == [0, 0, -1, -1, -2]
    assert [config.band(n).text for n in (-2, -1, 0, 1, 2)] == ["sell zone", "flat-", "", "flat+", "buy zone"]
    shuffled = {**BANDS, "positive_bands": BANDS["positive_bands"][::-1]}  # any order, as the reference
    assert ScoreNotificationConfig.model_validate(shuffled) == config


def test_messages_on_band_changes_and_every_frequency_candles_in_a_band() -> None:
    scores: list[float | None] = [0.01, 0.015, 0.06, 0.07, None, 0.065, 0.07, 0.071, 0.03, 0.01, -0.03, 0.03]
    sent = run(BANDS, scores)
    assert sent == [
        "2024-03-31 00:02 *>> BTCUSDT 70,002 score +0.060 ↑ buy zone*",  # up from neutral into the buy zone
        # 00:03 and 00:05 stay in it (00:04 has no score); the third candle after the message repeats it
        "2024-03-31 00:06 *>> BTCUSDT 70,006 score +0.070 buy zone*",
        "2024-03-31 00:08 BTCUSDT 70,008 score +0.030 ↓ flat+",  # down one band
        "2024-03-31 00:09 BTCUSDT 70,009 score +0.010 ↓",  # down into the neutral zone: no sign or text
        "2024-03-31 00:10 BTCUSDT 70,010 score -0.030 ↑ flat-",
        "2024-03-31 00:11 BTCUSDT 70,011 score +0.030 flat+",  # -1 to +1: a change, no arrow
    ]
    quiet_down = run({**BANDS, "notify_band_dn": False}, scores)
    assert [m[11:16] for m in quiet_down] == ["00:02", "00:06", "00:10", "00:11"]
    assert run({**BANDS, "score_notification": False}, scores) == []


def test_state_restored_after_a_restart_gives_the_same_messages() -> None:
    scores: list[float | None] = [0.01, 0.03, 0.06, 0.065, 0.06, 0.03, -0.01, -0.06]
    config = ScoreNotificationConfig.model_validate(BANDS)
    whole = run(BANDS, scores)
    sent: list[str] = []
    first = ScoreNotifier(config, sent.append)
    for row in rows(scores)[:3]:
        first.send(row)
    second = ScoreNotifier(config, sent.append)
    second.restore(first.snapshot())
    for row in rows(scores)[3:]:
        second.send(row)
    assert sent == whole and len(whole) == 5  # up, up, down, down to neutral, up to the sell zone
    older = ScoreNotifier(config, sent.append)  # a state saved before bands followed the reference
    older.restore({"side": "positive", "index": 1, "since_message": 2})
    assert older.snapshot() == {"band": None, "since_message": 0}


def config_with_outputs(output_sets: list[dict[str, Any]]) -> PipelineConfig:
    return PipelineConfig.model_validate({**load_default_config(), "output_sets": output_sets})


def test_output_sets_are_validated_and_unknown_kinds_refused() -> None:
    built = configured_outputs(
        config_with_outputs(
            [
                {"generator": "score_notification_model", "config": BANDS},
                {"generator": "trader_mt5", "config": {}},
            ]
        )
    )
    assert [key for key, _ in built.outputs] == ["0:score_notification_model"]
    assert built.skipped == ["output_sets[1]: trader_mt5 is not built in itb yet; skipped"]
    assert built.snapshots() == {"0:score_notification_model": {"band": None, "since_message": 0}}

    below_zero = {**BANDS, "positive_bands": [{"edge": -0.01}]}
    with pytest.raises(
        ConfigError, match=r"output_sets\[0\]\.config\.positive_bands: .*edges must be positive"
    ):
        configured_outputs(
            config_with_outputs([{"generator": "score_notification_model", "config": below_zero}])
        )
    twice = {**BANDS, "negative_bands": [{"edge": -0.02}, {"edge": -0.02}]}
    with pytest.raises(ConfigError, match=r"config\.negative_bands: .*two bands with the same edge"):
        configured_outputs(config_with_outputs([{"generator": "score_notification_model", "config": twice}]))
    typo = {**BANDS, "positive_band": []}
    with pytest.raises(ConfigError, match=r"output_sets\[0\]\.config\.positive_band: Extra inputs"):
        configured_outputs(config_with_outputs([{"generator": "score_notification_model", "config": typo}]))
    with pytest.raises(ConfigError, match=r"output_sets\[0\]\.generator: unknown output 'pager'"):
        configured_outputs(config_with_outputs([{"generator": "pager", "config": {}}]))


def test_symbol_configs_serve_each_symbol_from_the_root_it_was_trained_into(tmp_path: Path) -> None:
    data = {**load_default_config(), "symbols": ["BTCUSDT", "ETHUSDT"], "data_root": str(tmp_path)}
    config = PipelineConfig.model_validate(data)
    served = symbol_configs(config, None, None)
    assert [(c.symbol, c.data_root) for c in served] == [
        ("BTCUSDT", f"{tmp_path}/BTCUSDT"),
        ("ETHUSDT", f"{tmp_path}/ETHUSDT"),
    ]
    assert [c.symbol for c in symbol_configs(config, "/elsewhere", ["ETHUSDT"])] == ["ETHUSDT"]
    assert symbol_configs(config, "/elsewhere", ["ETHUSDT"])[0].data_root == "/elsewhere/ETHUSDT"
    with pytest.raises(ConfigError, match="--symbols: 'SOLUSDT' is not a symbol of the config"):
        symbol_configs(config, None, ["SOLUSDT"])
    single = PipelineConfig.model_validate({**load_default_config(), "data_root": str(tmp_path)})
    assert [(c.symbol, c.data_root) for c in symbol_configs(single, None, None)] == [
        ("BTCUSDT", str(tmp_path))
    ]


def test_audit_recomputes_signals_from_the_served_models_scores_when_rolling_is_configured(
    tmp_path: Path,
) -> None:
    storage = Storage(str(tmp_path))
    up, down = np.array([0.2, 0.01, 0.0, 0.1]), np.array([0.05, 0.2, 0.0, 0.1])
    predictions = pl.DataFrame(
        {"timestamp": [0, 60_000, 120_000, 180_000], "close": [1.0] * 4, "high_10_gb": up, "low_10_gb": down}
    )
    storage.write_parquet(datasets.PREDICTIONS, predictions)
    walk_forward = predictions.with_columns(trade_score=pl.lit(0.5), buy_signal=True, sell_signal=False)
    storage.write_parquet(datasets.SIGNALS, walk_forward)  # what the walk-forward models' scores gave

    plain = PipelineConfig.model_validate(load_default_config())
    assert batch_table(plain, storage, datasets.SIGNALS).equals(walk_forward)
    rolling = plain.model_copy(update={"rolling": RollingConfig(train_rows=1000, step_rows=100)})
    recomputed = batch_table(rolling, storage, datasets.SIGNALS)
    np.testing.assert_allclose(recomputed["trade_score"].to_numpy(), up - down, rtol=0, atol=0)
    assert recomputed["buy_signal"].to_list() == [True, False, False, False]  # threshold 0.05
    assert recomputed["sell_signal"].to_list() == [False, True, False, False]  # threshold -0.05


def test_an_unreadable_serve_state_names_its_file(tmp_path: Path) -> None:
    storage = Storage(str(tmp_path))
    log = LiveLog(storage, "BTCUSDT")
    assert log.state() is None and log.last_timestamp() is None
    storage.write_text(datasets.live_state("BTCUSDT"), '{"symbol": "BTCUSDT", "last_timestamp": "soon"}')
    with pytest.raises(DataError, match=r"live/BTCUSDT/state\.json: not a serve state") as caught:
        log.state()
    assert caught.value.exit_code == 2
    storage.write_text(datasets.live_state("BTCUSDT"), "{")
    with pytest.raises(DataError, match="not a serve state"):
        log.last_timestamp()


def test_an_output_whose_optional_module_is_missing_is_a_config_error_with_the_install_hint() -> None:
    info = OutputInfo(
        "chart", BaseModel, lambda cfg: None, requires=(("itb_no_such_module", "pip install 'itb-core[x]'"),)
    )
    with pytest.raises(ConfigError) as raised:
        check_requirements(info, "output_sets[2].generator")
    assert str(raised.value) == (
        "output_sets[2].generator: chart needs itb_no_such_module, which is not installed: "
        "pip install 'itb-core[x]'"
    )
    diagram = next(o for o in BUILTIN_OUTPUTS if o.name == "diagram_notification_model")
    assert diagram.requires == (("matplotlib", "pip install 'itb-core[diagram]'"),)
    check_requirements(diagram, "output_sets[0].generator")  # installed here: no error
