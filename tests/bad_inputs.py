"""The bad-input table: run ``itb`` on inputs a new user gets wrong and classify what happens.

Each case is a small config or command that is wrong in one way (a config path that is a folder, a data
root that cannot be written, a source that is not Parquet, a stage name not in the plan, ...) or data
that needs repairing (duplicates, a long gap, bad prices). For each case the expected outcome is one of

* ``exit2``: exit code 2 with a one-line error (no traceback) that names the cause,
* ``exit1``: a stage failed for a reason that is not bad input (e.g. models trained on other features),
* ``warn``: the run succeeds (exit 0) and says what it repaired (a ``warning`` line in its output),
* ``ok``: the run succeeds (exit 0).

and each result is classified as ``exit2`` / ``exit1`` / ``traceback`` / ``silent0`` (exit 0 without a
warning) / ``warn`` / ``other``. The table (case, expected, got, first line of the error) is printed;
``--json`` writes it for the closing note. A case passes when what happened is what was expected.

Usage: ``python tests/bad_inputs.py [--itb .venv/bin/itb] [--json FILE] [--only NAME ...]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "packages" / "itb-core" / "src" / "itb" / "sample" / "BTCUSDT-1m-2024Q1.parquet"
#: Rows of the sample the cases run on: enough for labels (horizon 120), holdout and training.
ROWS = 20_000


def base_config(source: str) -> dict[str, Any]:
    return {
        "symbol": "BTCUSDT",
        "freq": "1m",
        "data_root": "./data",
        "data_sources": [{"symbol": "BTCUSDT", "market": "spot", "path": source}],
        "merge": {"gaps": "fill"},
        "feature_sets": [
            {"generator": "talib", "config": {"columns": ["close"], "functions": ["SMA"], "windows": [5, 60]}}
        ],
        "label_sets": [
            {
                "generator": "highlow2",
                "config": {
                    "columns": ["close", "high", "low"],
                    "function": "high",
                    "thresholds": [1.0],
                    "tolerance": 0.2,
                    "horizon": 120,
                    "names": ["high_10"],
                },
            }
        ],
        "train": {"labels": ["high_10"], "algorithms": [{"name": "gb", "algo": "gb"}], "holdout": 0.2},
        "signal_sets": [
            {
                "generator": "threshold_rule",
                "config": {
                    "columns": "high_10_gb",
                    "names": ["buy", "sell"],
                    "parameters": {"buy_signal_threshold": 0.5, "sell_signal_threshold": 0.1},
                },
            }
        ],
        "simulate": {"fee": 0.001, "span": "holdout", "buy_column": "buy", "sell_column": "sell"},
        "backend": {"name": "local"},
    }


@dataclass
class Case:
    name: str
    expected: str
    #: Builds the case in ``work`` and returns the argv lists to run in order (the last one is judged).
    build: Callable[[Path], list[list[str]]]
    #: Words the judged output must contain (the cause); case-insensitive.
    names: tuple[str, ...] = ()


@dataclass
class Outcome:
    case: str
    expected: str
    got: str
    code: int
    line: str
    seconds: float
    missing_words: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.got == self.expected and not self.missing_words


def write_config(work: Path, config: dict[str, Any], name: str = "config.json") -> Path:
    path = work / name
    path.write_text(json.dumps(config, indent=1))
    return path


def sample_frame(rows: int = ROWS) -> pl.DataFrame:
    return pl.read_parquet(SAMPLE).head(rows)


def source_with(work: Path, frame: pl.DataFrame, name: str = "source.parquet") -> str:
    path = work / name
    frame.write_parquet(path)
    return str(path)


def run_args(config: Path, work: Path, *extra: str) -> list[str]:
    return ["run", str(config), "--data-root", str(work / "data"), *extra]


def cfg_case(
    mutate: Callable[[dict[str, Any], Path], None], *extra: str
) -> Callable[[Path], list[list[str]]]:
    """A case that runs ``itb run`` on the base config changed by ``mutate``."""

    def build(work: Path) -> list[list[str]]:
        config = base_config(source_with(work, sample_frame()))
        mutate(config, work)
        return [run_args(write_config(work, config), work, *extra)]

    return build


def data_case(
    change: Callable[[pl.DataFrame], pl.DataFrame], *extra: str
) -> Callable[[Path], list[list[str]]]:
    """A case whose source data is the sample changed by ``change``."""

    def build(work: Path) -> list[list[str]]:
        config = base_config(source_with(work, change(sample_frame())))
        return [run_args(write_config(work, config), work, *extra)]

    return build


def _set(path: str, value: Any) -> Callable[[dict[str, Any], Path], None]:
    def mutate(config: dict[str, Any], work: Path) -> None:
        *parents, last = path.split(".")
        node: Any = config
        for key in parents:
            node = node[int(key)] if key.isdigit() else node[key]
        node[int(last) if last.isdigit() else last] = value

    return mutate


def _nothing(config: dict[str, Any], work: Path) -> None:
    return None


def _config_is_dir(work: Path) -> list[list[str]]:
    (work / "cfgdir").mkdir()
    return [["run", str(work / "cfgdir")]]


def _data_root_is_file(work: Path) -> list[list[str]]:
    config = write_config(work, base_config(source_with(work, sample_frame())))
    (work / "afile").write_text("x")
    return [["run", str(config), "--data-root", str(work / "afile")]]


def _data_root(root: str) -> Callable[[Path], list[list[str]]]:
    def build(work: Path) -> list[list[str]]:
        config = write_config(work, base_config(source_with(work, sample_frame())))
        return [["run", str(config), "--data-root", root]]

    return build


def _run_id_escape(work: Path) -> list[list[str]]:
    return [
        ["stage", "run", "--data-root", str(work / "data"), "--run-id", "../../escape", "--stage", "merge"]
    ]


def _not_parquet(work: Path) -> list[list[str]]:
    (work / "bad.parquet").write_text("timestamp,open\n1,2\n")
    return [run_args(write_config(work, base_config(str(work / "bad.parquet"))), work)]


def _features_changed(work: Path) -> list[list[str]]:
    config = base_config(source_with(work, sample_frame()))
    first = write_config(work, config, "first.json")
    config["feature_sets"][0]["config"]["windows"] = [5, 30]
    second = write_config(work, config, "second.json")
    return [
        run_args(first, work),
        run_args(second, work, "--only", "features"),
        run_args(second, work, "--only", "predict"),
    ]


def _month_gap(frame: pl.DataFrame) -> pl.DataFrame:
    full = pl.read_parquet(SAMPLE)
    return pl.concat([full.head(10_000), full.slice(60_000, 20_000)])


def _duplicates(frame: pl.DataFrame) -> pl.DataFrame:
    return pl.concat([frame, frame.slice(1000, 50)]).sort("timestamp")


def _nan_close(frame: pl.DataFrame) -> pl.DataFrame:
    bad = pl.int_range(pl.len()).is_in([5000, 5001, 9000])
    return frame.with_columns(pl.when(bad).then(float("nan")).otherwise(pl.col("close")).alias("close"))


def _zero_close(frame: pl.DataFrame) -> pl.DataFrame:
    bad = pl.int_range(pl.len()).is_in([7000])
    return frame.with_columns(pl.when(bad).then(0.0).otherwise(pl.col("close")).alias("close"))


def _off_raster(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 3000)
        .then(pl.col("timestamp") + 17_000)
        .otherwise(pl.col("timestamp"))
    )


CASES: list[Case] = [
    # --- config and arguments
    Case("config path is a folder", "exit2", _config_is_dir, ("cfgdir",)),
    Case("config file missing", "exit2", lambda w: [["run", str(w / "nope.jsonc")]], ("nope.jsonc",)),
    Case("unknown config key", "exit2", cfg_case(_set("colour", "red")), ("colour",)),
    Case("empty feature_sets", "exit2", cfg_case(_set("feature_sets", [])), ("feature_sets",)),
    Case(
        "feature input column nobody provides",
        "exit2",
        cfg_case(_set("feature_sets.0.config.columns", ["closee"])),
        ("closee",),
    ),
    Case(
        "ITB is_scale in lc params",
        "exit2",
        cfg_case(_set("train.algorithms", [{"name": "lc", "algo": "lc", "params": {"is_scale": True}}])),
        ("is_scale",),
    ),
    Case("holdout above 1", "exit2", cfg_case(_set("train.holdout", 1.5)), ("holdout",)),
    Case("--threads -1", "exit2", cfg_case(_nothing, "--threads", "-1"), ("threads",)),
    Case("--workers 0", "exit2", cfg_case(_nothing, "--workers", "0"), ("workers",)),
    Case("--only a stage not in the plan", "exit2", cfg_case(_nothing, "--only", "download"), ("download",)),
    Case(
        "--from a stage not in the plan",
        "exit2",
        cfg_case(_nothing, "--from", "predict_rolling"),
        ("predict_rolling",),
    ),
    Case("unknown backend", "exit2", cfg_case(_nothing, "--backend", "nosuch"), ("nosuch",)),
    Case("stage run --run-id ../../x", "exit2", _run_id_escape, ("run",)),
    # --- data roots
    Case("data root /proc/x", "exit2", _data_root("/proc/x"), ("/proc/x",)),
    Case("data root foo://x", "exit2", _data_root("foo://x"), ("foo",)),
    Case("data root is a file", "exit2", _data_root_is_file, ("afile",)),
    # --- source data
    Case(
        "source file missing",
        "exit2",
        cfg_case(_set("data_sources.0.path", "/nonexistent/x.parquet")),
        ("x.parquet",),
    ),
    Case("source not Parquet", "exit2", _not_parquet, ("bad.parquet",)),
    Case("source missing column close", "exit2", data_case(lambda f: f.drop("close")), ("close",)),
    Case("source with 0 rows", "exit2", data_case(lambda f: f.head(0)), ("source.parquet",)),
    Case("off-raster timestamp", "exit2", data_case(_off_raster), ("raster",)),
    Case("too few rows for the label horizon", "exit2", data_case(lambda f: f.head(100)), ("rows",)),
    # 400 rows: the 80-row holdout lies inside the label horizon, so its labels are all null
    Case("holdout too small, its labels all null", "warn", data_case(lambda f: f.head(400)), ("holdout",)),
    # --- repaired data: the run says so
    Case("duplicate timestamps", "warn", data_case(_duplicates), ("duplicate",)),
    Case("NaN closes", "warn", data_case(_nan_close), ("nan",)),
    Case("a close of 0", "warn", data_case(_zero_close), ("close",)),
    Case("month-long gap (filled share above 5 %)", "exit2", data_case(_month_gap), ("gap",)),
    # --- wrong results
    Case("models trained on other features", "exit1", _features_changed, ("close_sma_60",)),
    Case(
        "unset secret the pipeline does not use",
        "ok",
        cfg_case(_set("secrets", {"telegram_bot_token": "env:ITB_BAD_INPUT_UNSET_VAR"})),
    ),
]


def classify(code: int, output: str) -> str:
    if "Traceback (most recent call last)" in output:
        return "traceback"
    if code == 2:
        return "exit2"
    if code == 1:
        return "exit1"
    if code == 0:
        said = [
            line for line in output.lower().splitlines() if "warning" in line and "[lightgbm]" not in line
        ]
        return "warn" if said else "silent0"
    return "other"


def first_error_line(output: str) -> str:
    for line in output.splitlines():
        text = line.strip()
        if text.startswith(("itb: error", "Error", "error")) or "Error:" in text:
            return text[:160]
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return lines[-1][:160] if lines else ""


def run_case(case: Case, itb: str, root: Path) -> Outcome:
    work = root / case.name.replace(" ", "_").replace("/", "_")
    work.mkdir(parents=True)
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    env.pop("ITB_BAD_INPUT_UNSET_VAR", None)
    started = time.monotonic()
    code, output = 0, ""
    for argv in case.build(work):
        proc = subprocess.run([itb, *argv], cwd=work, env=env, capture_output=True, text=True, timeout=300)
        code, output = proc.returncode, proc.stdout + proc.stderr
    got = classify(code, output)
    if got == "silent0" and case.expected == "ok":
        got = "ok"
    if got == "warn" and case.expected == "ok":
        got = "ok"
    lowered = output.lower()
    missing = [w for w in case.names if w.lower() not in lowered]
    return Outcome(case.name, case.expected, got, code, first_error_line(output),
                   time.monotonic() - started, missing)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--itb", default=str(REPO / ".venv" / "bin" / "itb"))
    parser.add_argument("--json", type=Path)
    parser.add_argument("--only", nargs="+")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="itb-bad-inputs-"))
    outcomes = []
    try:
        for case in CASES:
            if args.only and case.name not in args.only:
                continue
            outcome = run_case(case, args.itb, root)
            outcomes.append(outcome)
            mark = "ok  " if outcome.passed else "FAIL"
            missing = ", ".join(outcome.missing_words)
            unnamed = f"  [does not name: {missing}]" if missing else ""
            print(
                f"{mark} {case.name:45s} expected {case.expected:6s} got {outcome.got:9s} "
                f"(exit {outcome.code}, {outcome.seconds:.1f} s) {outcome.line}{unnamed}",
                flush=True,
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.got] = counts.get(outcome.got, 0) + 1
    passed = sum(o.passed for o in outcomes)
    print(f"\n{passed} of {len(outcomes)} as expected; outcomes: "
          + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps([o.__dict__ | {"passed": o.passed} for o in outcomes], indent=1))
    return 0 if passed == len(outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
