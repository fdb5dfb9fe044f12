"""The nightly retrain's promotion gate (``itb run --candidate``, ``itb promote``).

One module-scoped `itb run` on three weeks of the bundled sample (ending 2024-03-31) trains the live
models with a crippled 3 boosting rounds. Candidates are trained honestly on the same data: a worse
one that can make no split at all (``min_data_in_leaf`` above the row count: constant scores, AUC
0.5) and a better one with 10 rounds (low_10's holdout AUC 0.517 -> 0.603, the same backtest). The
worse one is kept out and the manifest says why with its figures; the better one is promoted while
a replay service runs, which scores with it from the next candle on. A switch killed half-way leaves a
journal that keeps the service on the old models until the roll-back restores them.
"""

from __future__ import annotations

import copy
import shutil
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml
from itb import datasets
from itb.config import load_config
from itb.config.loader import parse_config
from itb.config.models import PipelineConfig, PromotionSettings
from itb.errors import ConfigError
from itb.models.modelset import ModelSet
from itb.promotion.command import promote_command
from itb.promotion.gate import promote_candidate
from itb.promotion.records import BacktestFigures, ModelFigures, PromotionDecision, SetFigures
from itb.promotion.rule import failed_conditions
from itb.promotion.slot import candidate_runs, model_set_files, model_set_names, slot_storage
from itb.promotion.switch import JOURNAL, roll_back, switch_models, switch_pending
from itb.runs.lock import RunLock
from itb.runs.manifest import read_manifest
from itb.runs.runner import run_pipeline, select_stages
from itb.serve.engine import serve_spec
from itb.serve.live_log import LiveLog
from itb.serve.model_watch import ModelWatch
from itb.serve.models import ServeRefused
from itb.serve.replay import replay_symbol
from itb.serve.telegram import API_URL_ENV
from itb.storage import Storage, WriteResult

from tests.conftest import DEFAULT_CONFIG, REPO, itb, load_default_config, write_config
from tests.fakes.telegram_server import FakeTelegram

FAST = {"ITB_FSYNC": "0"}
LIVE_PARAMS = {"num_boost_round": 3}
BETTER_PARAMS = {"num_boost_round": 10}
WORSE_PARAMS = {"num_boost_round": 10, "min_data_in_leaf": 10_000_000}
TG_TOKEN = "123456789:AAH-fake-token-of-the-promotion-test"


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def config_data(root: Path, params: dict[str, Any]) -> dict[str, Any]:
    data = copy.deepcopy(load_default_config())
    data["data_root"] = str(root)
    data["merge"] = {"gaps": "fill", "start": "2024-03-09T00:00:00Z", "end": "2024-04-01T00:00:00Z"}
    data["train"]["algorithms"][0]["params"] = params
    data["simulate"]["report"] = False
    return data


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root whose live models `itb run` trained with 3 boosting rounds."""
    folder = tmp_path_factory.mktemp("promotion")
    path = write_config(folder / "config.json", config_data(folder / "data", LIVE_PARAMS))
    assert run_pipeline(load_config(path), backend="inprocess").ok
    return folder / "data"


def candidate_config(live: Path, tmp_path: Path, params: dict[str, Any]) -> Path:
    """A private copy of the live data root and a config that trains ``params``."""
    root = tmp_path / "data"
    shutil.copytree(live, root)
    return write_config(tmp_path / "config.json", config_data(root, params))


def train_candidate(path: Path) -> tuple[PipelineConfig, Storage, str]:
    """`itb run --candidate --only candidate` in this process: the slot, no promotion yet."""
    loaded = load_config(path)
    config = loaded.model_copy(update={"promotion": loaded.promotion.model_copy(update={"candidate": True})})
    result = run_pipeline(config, backend="inprocess", only=["candidate"])
    assert result.ok, result.manifest.stages
    storage = Storage(config.data_root)
    assert candidate_runs(storage) == [result.run_id]
    return loaded, storage, result.run_id


def live_bytes(config: PipelineConfig, storage: Storage) -> dict[str, bytes]:
    return {name: storage.read_bytes(name) for name in model_set_files(config)}


def test_a_worse_candidate_is_kept_out_and_the_manifest_says_why(
    live: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = candidate_config(live, tmp_path, WORSE_PARAMS)
    config = load_config(path)
    storage = Storage(config.data_root)
    before = live_bytes(config, storage)
    done = itb("run", str(path), "--backend", "inprocess", "--candidate", env=FAST)
    assert done.returncode == 0, done.stderr
    (run_id,) = candidate_runs(storage)
    manifest = read_manifest(storage, run_id)
    assert "train" not in manifest.stages  # a candidate run never writes the live models itself
    assert manifest.stages["candidate"].status == "succeeded"
    decision = manifest.promotion
    assert decision is not None and decision.candidate_run == run_id
    assert not decision.promoted
    assert decision.current is not None and decision.candidate is not None
    # the worse candidate cannot split: constant scores, AUC exactly 0.5 on both labels
    assert decision.candidate.models["low_10_gb"].auc == 0.5
    assert decision.current.models["low_10_gb"].auc is not None
    assert decision.current.models["low_10_gb"].auc > 0.505
    assert any(r.startswith("low_10_gb: AUC 0.500000 is") for r in decision.reasons), decision.reasons
    assert decision.holdout is not None and decision.holdout.rows > 1000
    assert decision.rule["max_auc_drop"] == 0.005
    assert live_bytes(config, storage) == before  # kept out: the live models are untouched
    assert slot_storage(storage, run_id).exists(datasets.model_meta("low_10_gb"))
    # `itb promote` judges it again (same figures), outside a run, keeps it out again and, with
    # Telegram secrets configured, tells the chat
    secrets = {"telegram_bot_token": "env:ITB_TEST_TG_TOKEN", "telegram_chat_id": "env:ITB_TEST_TG_CHAT"}
    monkeypatch.setenv("ITB_TEST_TG_TOKEN", TG_TOKEN)
    monkeypatch.setenv("ITB_TEST_TG_CHAT", "4242")
    # older nightly runs left slots and replaced sets: past keep_slots (7) the oldest go
    older = [f"2020010{day}T030000Z-00000{day}" for day in range(1, 9)]
    for run in older:
        storage.write_bytes(f"models/candidates/{run}/models/low_10_gb.json", b"{}")
        storage.write_bytes(f"models/previous/{run}/models/low_10_gb.json", b"{}")
    with FakeTelegram(TG_TOKEN) as tg:
        monkeypatch.setenv(API_URL_ENV, tg.url)
        again = promote_command(config.model_copy(update={"secrets": secrets}), None, run_id)
        assert tg.messages("4242") == [again.summary()]
    assert again.pruned == [
        *(f"models/candidates/{run}" for run in older[:2]),
        f"models/previous/{older[0]}",
    ]
    assert candidate_runs(storage) == [*older[2:], run_id]
    assert not storage.exists(f"models/previous/{older[0]}") and storage.exists(f"models/previous/{older[1]}")
    assert not again.promoted and again.summary().startswith(f"itb: candidate {run_id} kept out: low_10_gb")
    judged_again = read_manifest(storage, run_id).promotion
    assert judged_again == again
    assert (again.current, again.candidate) == (decision.current, decision.candidate)
    assert TG_TOKEN not in (storage.read_bytes(f"runs/{run_id}/manifest.json").decode())
    assert live_bytes(config, storage) == before


class PromoteAt:
    """A sink that, after the candle ``at``, runs the promotion step as `itb promote` does (under
    the data root's run lock): a nightly retrain finishing between two ticks of a running service."""

    def __init__(self, config: PipelineConfig, storage: Storage, run_id: str, at: int) -> None:
        self.config, self.storage, self.run_id, self.at = config, storage, run_id, at
        self.decision: PromotionDecision | None = None

    def send(self, row: Mapping[str, Any]) -> None:
        if row["timestamp"] == self.at:
            with RunLock.acquire(self.storage, self.run_id):
                self.decision = promote_candidate(self.config, self.storage, self.run_id)


def test_a_better_candidate_is_promoted_and_served_from_the_next_candle(live: Path, tmp_path: Path) -> None:
    config, storage, run_id = train_candidate(candidate_config(live, tmp_path, BETTER_PARAMS))
    candidate = slot_storage(storage, run_id)
    switch = ms("2024-03-31T00:29")
    promote = PromoteAt(config, storage, run_id, switch)
    report = replay_symbol(config, storage, ms("2024-03-31T00:00"), ms("2024-03-31T01:00"), [promote])
    decision = promote.decision
    assert decision is not None and decision.promoted, decision
    assert decision.reasons == ["every rule holds"]
    assert decision.current is not None and decision.candidate is not None
    cur, cand = decision.current.models["low_10_gb"], decision.candidate.models["low_10_gb"]
    assert cur.auc is not None and cand.auc is not None and cand.auc > cur.auc + 0.05
    assert decision.candidate.backtest.profit_pct >= decision.current.backtest.profit_pct
    assert live_bytes(config, storage) == live_bytes(config, candidate)
    assert report.model_switches == 1
    log = LiveLog(storage, config.symbol).read_day("2024-03-31")
    before, after = log.filter(pl.col("timestamp") <= switch), log.filter(pl.col("timestamp") > switch)
    assert before.height == 30 and after.height == 30
    assert before["model_key"].n_unique() == after["model_key"].n_unique() == 1
    assert before["model_key"][0] != after["model_key"][0]
    # from the next candle on, the rows carry exactly the candidate's scores
    features = Storage(str(live)).read_parquet(datasets.FEATURES)
    rows = features.join(after.select("timestamp"), on="timestamp", how="semi").sort("timestamp")
    scores = ModelSet.load(candidate, model_set_names(config)).score(rows)
    for name in ("high_10_gb", "low_10_gb"):
        assert after.sort("timestamp")[name].to_numpy().tolist() == scores[name].tolist(), name


def figures(
    auc: float | None, profit: float = 0.0, drawdown: float = 1.0, ap: float | None = 0.1
) -> SetFigures:
    return SetFigures(
        models={"high_10_gb": ModelFigures(auc=auc, ap=ap, rows=2000)},
        backtest=BacktestFigures(profit_pct=profit, max_drawdown_pct=drawdown, trades=3, fee=0.001),
    )


@pytest.mark.parametrize(
    ("rule", "current", "candidate", "reasons"),
    [
        # an AUC drop exactly at the limit passes; a hair more does not
        (PromotionSettings(), figures(0.600), figures(0.595), []),
        (PromotionSettings(), figures(0.600), figures(0.5949), ["high_10_gb: AUC 0.594900 is 0.005100"]),
        # equal profit is "not worse"; less is, unless the rule does not ask
        (PromotionSettings(), figures(0.6, profit=1.5), figures(0.6, profit=1.5), []),
        (PromotionSettings(), figures(0.6, profit=1.5), figures(0.7, profit=1.49), ["backtest profit 1.49%"]),
        (PromotionSettings(require_profit_not_worse=False), figures(0.6, 1.5), figures(0.7, -3.0), []),
        # a candidate the holdout cannot judge (no positive label) is never promoted
        (PromotionSettings(), figures(0.6), figures(None), ["high_10_gb: the candidate has no holdout AUC"]),
        (PromotionSettings(), figures(None), figures(0.6), ["high_10_gb: the live model has no holdout AUC"]),
        # optional rules: checked only when set
        (PromotionSettings(), figures(0.6, ap=0.3), figures(0.6, ap=0.1), []),
        (PromotionSettings(max_ap_drop=0.01), figures(0.6, ap=0.3), figures(0.6, ap=0.1), ["high_10_gb: AP"]),
        (PromotionSettings(max_drawdown_increase_pct=2), figures(0.6, drawdown=1), figures(0.6, 0, 3), []),
        (
            PromotionSettings(max_drawdown_increase_pct=2),
            figures(0.6, drawdown=1),
            figures(0.6, drawdown=3.5),
            ["backtest max drawdown 3.5%"],
        ),
    ],
)
def test_promotion_rule_edges(
    rule: PromotionSettings, current: SetFigures, candidate: SetFigures, reasons: list[str]
) -> None:
    found = failed_conditions(rule, current, candidate)
    assert len(found) == len(reasons), found
    for got, want in zip(found, reasons, strict=True):
        assert got.startswith(want), got


def test_a_candidate_missing_a_model_is_kept_out() -> None:
    current = figures(0.6)
    current.models["low_10_gb"] = ModelFigures(auc=0.6, ap=0.1, rows=2000)
    assert failed_conditions(PromotionSettings(), current, figures(0.7)) == [
        "the candidate lacks models low_10_gb"
    ]


class Killed(BaseException):
    """The process dying mid-switch (nothing catches it, like SIGKILL)."""


class DiesAfterWrites(Storage):
    """The data root's storage in a process that is killed after ``writes`` live model files."""

    def __init__(self, root: str, files: list[str], writes: int) -> None:
        super().__init__(root)
        self.files, self.left = set(files), writes

    def write_bytes(self, name: str, data: bytes | memoryview, rows: int | None = None) -> WriteResult:
        if name in self.files:
            if self.left == 0:
                raise Killed()
            self.left -= 1
        return super().write_bytes(name, data, rows)


def test_a_killed_switch_leaves_the_old_models(live: Path, tmp_path: Path) -> None:
    config, storage, run_id = train_candidate(candidate_config(live, tmp_path, BETTER_PARAMS))
    candidate = slot_storage(storage, run_id)
    files = model_set_files(config)
    old = live_bytes(config, storage)
    new = live_bytes(config, candidate)
    assert all(old[f] != new[f] for f in files)
    watch = ModelWatch(config, storage, serve_spec(config))
    key = watch.load().key
    with pytest.raises(Killed):
        switch_models(DiesAfterWrites(config.data_root, files, writes=1), candidate, files, run_id)
    mixed = live_bytes(config, storage)
    assert mixed[files[0]] == new[files[0]] and mixed[files[1]] == old[files[1]]  # half switched
    assert switch_pending(storage)
    assert watch.poll(key) is None  # no run holds the lock, but the service keeps the old set
    with pytest.raises(ServeRefused, match="promotion was stopped half-way"):
        ModelWatch(config, storage, serve_spec(config)).load()  # a service starting now refuses
    rolled = roll_back(storage)
    assert rolled is not None and rolled.run_id == run_id
    assert not storage.exists(JOURNAL)
    assert live_bytes(config, storage) == old
    assert watch.poll(key) is None  # the same models as before: nothing to switch to
    # a promotion after the kill starts from the old set and still judges the candidate
    decision = promote_candidate(config, storage, run_id)
    assert decision.promoted and live_bytes(config, storage) == new
    # killed again; then a normal run's train writes a whole set itself: the journal is moot
    with pytest.raises(Killed):
        dies = DiesAfterWrites(config.data_root, files, writes=2)
        switch_models(dies, slot_storage(storage, run_id), files, "20261201T000000Z-0a0b0c")
    assert switch_pending(storage)
    assert run_pipeline(config, backend="inprocess", only=["train"], force=True).ok
    assert not switch_pending(storage)
    # deterministic training: this config's train stage writes exactly the candidate's files
    assert live_bytes(config, storage) == new


def test_the_nightly_workflow_downloads_runs_trains_a_candidate_then_promotes() -> None:
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "pipeline.yml").read_text())
    assert "schedule" in workflow[True]  # `on:` is YAML 1.1's True
    nightly = [
        step["run"] for step in workflow["jobs"]["run"]["steps"] if step.get("if") == "env.MODE == 'nightly'"
    ]
    order = ["download", "--only merge", "--only candidate", "--from promote"]
    assert [next(w for w in order if w in run) for run in nightly] == order
    config = load_config(DEFAULT_CONFIG)
    nightly_config = config.model_copy(update={"promotion": PromotionSettings(candidate=True)})
    assert select_stages(config, ["merge", "features", "labels"], None) == ["merge", "features", "labels"]
    assert select_stages(nightly_config, ["candidate"], None) == ["candidate"]
    assert select_stages(nightly_config, None, "promote") == ["promote", "predict", "signals", "simulate"]
    assert "train" not in select_stages(nightly_config, None, None)


def test_itb_promote_without_a_candidate_exits_2(live: Path, tmp_path: Path) -> None:
    path = candidate_config(live, tmp_path, BETTER_PARAMS)
    done = itb("promote", str(path), env=FAST)
    assert done.returncode == 2
    assert done.stderr.startswith("itb: error: no candidate under ") and "Traceback" not in done.stderr
    bad = itb("promote", str(path), "--run", "not-a-run", env=FAST)
    assert bad.returncode == 2 and "is not a run id" in bad.stderr


def test_a_bad_promotion_section_is_exit_2_with_its_key_paths() -> None:
    data = load_default_config()
    data["promotion"] = {"max_auc_drop": -0.1, "requre_profit_not_worse": True}
    with pytest.raises(ConfigError) as failed:
        parse_config(data, "nightly.jsonc")
    assert failed.value.exit_code == 2
    assert "promotion.max_auc_drop: Input should be greater than or equal to 0" in str(failed.value)
    assert "promotion.requre_profit_not_worse: unknown key" in str(failed.value)
