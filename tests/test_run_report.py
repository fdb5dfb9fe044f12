"""What a run tells its user: stage warnings in the manifest and the summary, honest model figures."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
from itb.backends.base import StageRunSpec
from itb.backends.inprocess import InProcessBackend
from itb.cli.report import model_line, print_summary
from itb.config import parse_config
from itb.models.metrics import best_f1_threshold, classification_metrics
from itb.runs.execute import result_name
from itb.runs.manifest import RunWarning
from itb.runs.runner import run_pipeline
from itb.storage import Storage
from rich.console import Console

GAP_WARNING = {
    "kind": "gap_filled",
    "count": 80,
    "message": "80 missing candles filled",
    "first_rows": [3, 4],
}


class WarningBackend(InProcessBackend):
    """The in-process backend, with the labels stage reporting a warning (as any stage may) and
    one malformed warning (which must not break the run)."""

    def launch(self, spec: StageRunSpec) -> Any:
        handle = super().launch(spec)  # runs the stage to its end
        if spec.stage == "labels":
            storage = Storage(spec.data_root)
            name = result_name(spec.run_id, spec.stage, spec.step)
            result = storage.read_json(name)
            result["metrics"]["warnings"] = [GAP_WARNING, {"kind": "no message"}]
            storage.write_json(name, result)
        return handle


def test_stage_warnings_reach_the_manifest_and_the_summary_in_yellow(
    small_config_data: dict[str, Any], tmp_path: Path
) -> None:
    small_config_data["merge"]["end"] = "2024-02-03T00:00:00Z"  # two days: a small holdout
    result = run_pipeline(
        parse_config(small_config_data), backend=WarningBackend(), data_root=str(tmp_path / "w")
    )
    assert result.ok
    stored = Storage(str(tmp_path / "w")).read_json(f"runs/{result.run_id}/manifest.json")
    warnings = [RunWarning.model_validate(w) for w in stored["warnings"]]
    by_kind = {w.kind: w for w in warnings}
    assert by_kind["gap_filled"] == RunWarning(stage="labels", **GAP_WARNING)
    assert by_kind["malformed_warning"].stage == "labels"
    small = by_kind["small_holdout"]  # from the predict stage: 20% of 2 days is 576 rows
    assert small.stage == "predict" and small.count == 576 and "< 1000" in small.message
    out = io.StringIO()
    print_summary(
        result.manifest, Console(file=out, force_terminal=True, color_system="standard", width=200), 1.0
    )
    lines = [line for line in out.getvalue().splitlines() if "gap_filled" in line]
    assert len(lines) == 1 and "\x1b[33m" in lines[0]  # yellow
    assert "warning labels: gap_filled x80: 80 missing candles filled (first rows: 3, 4)" in lines[0]


def test_best_f1_threshold_matches_brute_force() -> None:
    rng = np.random.default_rng(7)
    y = rng.random(2000) < 0.1
    score = np.round(np.where(y, rng.random(2000) * 0.4 + 0.1, rng.random(2000) * 0.35), 3)  # ties
    best, threshold = best_f1_threshold(y, score)
    brute = []
    for t in np.unique(score):
        predicted = score >= t
        tp = int((predicted & y).sum())
        brute.append((2 * tp / (predicted.sum() + y.sum()), t))
    expected = max(brute, key=lambda p: (p[0], -p[1]))
    assert best is not None and threshold is not None
    assert abs(best - expected[0]) < 1e-12 and threshold == expected[1]
    assert best_f1_threshold(np.zeros(5, dtype=bool), np.ones(5)) == (None, None)


def test_a_model_that_never_predicts_positive_shows_no_precision_and_its_best_threshold() -> None:
    y = np.array([False, True, False, True, False, False])
    score = np.array([0.1, 0.4, 0.2, 0.3, 0.05, 0.1])  # all below 0.5
    metrics = classification_metrics(y, score)
    assert metrics["precision"] is None and metrics["best_f1"] == 1.0 and metrics["best_f1_threshold"] == 0.3
    line = model_line("high_10_gb", metrics)
    assert "precision n/a (no positive predictions at 0.5)" in line and "None" not in line
    assert "best F1 1.0 at threshold 0.3" in line
