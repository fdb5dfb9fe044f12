"""``make bench`` (part 2): one more day on 3 years of BTCUSDT 1m, incremental against full.

The source is 2022-01-01 .. 2025-01-01 (3 years) and then that plus 2025-01-01 (one more day), cut
from ``../shared/data`` into ``bench/work/``. With the ``reference`` config, the stages merge,
features and labels run:

- *full*: on a fresh data root over the 3 years + 1 day (nothing to append to, so every row is
  computed);
- *incremental*: on a data root that already holds the 3 years (an untimed run first), after the
  source file grew by the day: the stages append (the manifest's ``incremental`` records say so).

Both through the real command, ``itb run CONFIG --only merge --only features --only labels``. The
outputs of the two are compared (``polars.testing.assert_frame_equal``, exact, nulls included), and
the stage times the runner recorded (``wall_s``: launch to exit of each stage process) are summed.
With ``--repeat N`` the fastest of N is kept for each (the machine is shared). The result goes to
``bench/results/incremental.json``.

With ``--pipeline`` (``make bench`` passes it) it also runs the whole pipeline with
``train.retrain_every`` 7d on the 3 years, then one more day (train kept, predict and signals
appended), and checks the appended predictions and signals against a recompute with the same models.

Usage: ``python bench/incremental.py [--repeat N] [--pipeline]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
from itb import datasets
from itb.runs.manifest import list_runs
from itb.storage import Storage
from polars.testing import assert_frame_equal

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
WORK = BENCH / "work" / "incremental"
RESULTS = BENCH / "results"
SOURCE = REPO.parent / "shared" / "data" / "binance" / "spot" / "BTCUSDT-1m.parquet"
START, BASE_END, GROWN_END = "2022-01-01", "2025-01-01", "2025-01-02"
STAGES = ("merge", "features", "labels")
TABLES = (datasets.MERGED, datasets.FEATURES, datasets.LABELS)


def _ms(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp() * 1000)


def cut(name: str, end: str) -> Path:
    """The source from START to ``end`` as one Parquet file, cut once."""
    path = WORK / f"{name}.parquet"
    if not path.exists():
        if not SOURCE.exists():
            raise SystemExit(f"bench: {SOURCE} not found (it needs ../shared/data next to the repo)")
        span = pl.col("timestamp").is_between(_ms(START), _ms(end), closed="left")
        pl.scan_parquet(SOURCE).filter(span).collect().write_parquet(path)
    return path


def config(root: Path, source: Path) -> Path:
    from itb.config import jsonc

    data = jsonc.loads((BENCH / "configs" / "reference.jsonc").read_text())
    data["data_sources"][0]["path"] = str(source)
    data["data_root"] = str(root)
    path = WORK / f"{root.name}.json"
    path.write_text(json.dumps(data, indent=2))
    return path


def run(config_path: Path, root: Path) -> dict[str, Any]:
    """One run of merge, features and labels through the CLI; its manifest."""
    itb = Path(sys.executable).parent / "itb"
    only = [arg for stage in STAGES for arg in ("--only", stage)]
    command = [str(itb), "--log-format", "json", "run", str(config_path), *only, "--backend", "local"]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"bench: itb run failed ({result.returncode}):\n{result.stderr[-3000:]}")
    # the newest run by creation time (run ids only resolve seconds)
    manifest: dict[str, Any] = list_runs(Storage(str(root)))[-1].model_dump(mode="json")
    manifest["_command_wall_s"] = round(wall, 3)
    return manifest


def summary(manifest: dict[str, Any]) -> dict[str, Any]:
    stages = {
        name: {
            "wall_s": manifest["stages"][name]["wall_s"],
            "duration_s": manifest["stages"][name]["duration_s"],
            "incremental": manifest["stages"][name].get("incremental"),
        }
        for name in STAGES
    }
    return {
        "stages_wall_s": round(sum(s["wall_s"] for s in stages.values()), 3),
        "stages_duration_s": round(sum(s["duration_s"] for s in stages.values()), 3),
        "command_wall_s": manifest["_command_wall_s"],
        "run_id": manifest["run_id"],
        "stages": stages,
    }


def full_once(grown: Path) -> dict[str, Any]:
    root = WORK / "data-full"
    shutil.rmtree(root, ignore_errors=True)
    return summary(run(config(root, grown), root))


def incremental_once(base: Path, grown: Path) -> dict[str, Any]:
    root = WORK / "data-incremental"
    shutil.rmtree(root, ignore_errors=True)
    source = WORK / "growing.parquet"
    shutil.copyfile(base, source)
    path = config(root, source)
    run(path, root)  # the stored 3 years (not timed)
    shutil.copyfile(grown, source.with_suffix(".tmp"))
    os.replace(source.with_suffix(".tmp"), source)  # the download added a day
    return summary(run(path, root))


def pipeline_day(base: Path, grown: Path) -> dict[str, Any]:
    """The whole pipeline with ``train.retrain_every`` 7d: a first run on the 3 years (untimed work,
    but its figures are the full run's), then one more day: train is kept, predict and signals
    append, simulate recomputes. Predictions and signals are then recomputed from scratch with the
    same models (``--force --only predict --only signals``) and compared exactly."""
    from itb.config import jsonc

    root = WORK / "data-pipeline"
    shutil.rmtree(root, ignore_errors=True)
    source = WORK / "growing-pipeline.parquet"
    shutil.copyfile(base, source)
    data = jsonc.loads((BENCH / "configs" / "reference.jsonc").read_text())
    data["data_sources"][0]["path"] = str(source)
    data["data_root"] = str(root)
    data["train"]["retrain_every"] = "7d"
    path = WORK / "data-pipeline.json"
    path.write_text(json.dumps(data, indent=2))
    itb = str(Path(sys.executable).parent / "itb")

    def whole(*extra: str) -> dict[str, Any]:
        command = [itb, "--log-format", "json", "run", str(path), "--backend", "local", *extra]
        started = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
        wall = time.perf_counter() - started
        if result.returncode != 0:
            raise SystemExit(f"bench: itb run failed ({result.returncode}):\n{result.stderr[-3000:]}")
        manifest = list_runs(Storage(str(root)))[-1].model_dump(mode="json")
        stages = {
            name: {
                "status": record["status"],
                "wall_s": record.get("wall_s") or 0.0,
                "mode": (record.get("incremental") or {}).get("mode"),
            }
            for name, record in manifest["stages"].items()
        }
        return {
            "command_wall_s": round(wall, 3),
            "stages_wall_s": round(sum(s["wall_s"] for s in stages.values()), 3),
            "stages": stages,
        }

    first = whole()
    shutil.copyfile(grown, source.with_suffix(".tmp"))
    os.replace(source.with_suffix(".tmp"), source)
    day = whole()
    appended = {t: pl.read_parquet(root / t) for t in (datasets.PREDICTIONS, datasets.SIGNALS)}
    whole("--force", "--only", "predict", "--only", "signals")
    for table, frame in appended.items():
        assert_frame_equal(frame, pl.read_parquet(root / table), check_exact=True)
    return {"first_run_3y": first, "one_more_day": day, "predict_signals_equal_full": True}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--pipeline", action="store_true", help="also one more day on the whole pipeline (trains once)"
    )
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    base, grown = cut("base-3y", BASE_END), cut("grown-3y-1d", GROWN_END)
    full: dict[str, Any] | None = None
    incremental: dict[str, Any] | None = None
    load_before = os.getloadavg()[0]
    for _ in range(args.repeat):  # interleaved, so both see the same machine load
        one = full_once(grown)
        full = one if full is None or one["stages_wall_s"] < full["stages_wall_s"] else full
        one = incremental_once(base, grown)
        good = incremental is None or one["stages_wall_s"] < incremental["stages_wall_s"]
        incremental = one if good else incremental
    assert full is not None and incremental is not None
    for table in TABLES:
        assert_frame_equal(
            pl.read_parquet(WORK / "data-incremental" / table),
            pl.read_parquet(WORK / "data-full" / table),
            check_exact=True,
        )
    share = incremental["stages_wall_s"] / full["stages_wall_s"]
    result = {
        "what": "merge+features+labels, reference config, 3 years + 1 day of BTCUSDT 1m",
        "rows": pl.scan_parquet(WORK / "data-full" / datasets.MERGED).select(pl.len()).collect().item(),
        "full": full,
        "incremental": incremental,
        "incremental_share_of_full_stages_wall": round(share, 3),
        "incremental_share_of_full_command_wall": round(
            incremental["command_wall_s"] / full["command_wall_s"], 3
        ),
        "outputs_equal": True,
        "repeat": args.repeat,
        "load_average_before": round(load_before, 2),
    }
    if args.pipeline:
        result["pipeline"] = pipeline_day(base, grown)
        day, first = result["pipeline"]["one_more_day"], result["pipeline"]["first_run_3y"]
        print(
            f"bench incremental: whole pipeline, one more day with retrain_every 7d: "
            f"{day['command_wall_s']:.2f}s against {first['command_wall_s']:.2f}s for the first run",
            file=sys.stderr,
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "incremental.json").write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"bench incremental: full {full['stages_wall_s']:.2f}s, incremental "
        f"{incremental['stages_wall_s']:.2f}s ({share:.0%} of full; stage wall sums), outputs equal",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
