"""``make bench``: time every stage of the benchmark configs on 1 and 3 years of BTCUSDT 1m.

For each config in ``bench/configs`` and each span (``1y`` = 2024, ``3y`` = 2022-2024) it runs the real
command, ``itb run CONFIG --force --backend local``, and reads what the runner recorded per stage in
the manifest: ``wall_s`` (launch to exit of the stage process, so start-up included), ``duration_s``
(inside the process) and ``peak_rss_mb``. One JSON file per config and span goes to
``bench/results/<config>-<span>.json``; a Markdown table for the README is printed and written to
``bench/results/table.md``.

The source slices are cut once from ``../shared/data`` into ``bench/work/`` (ignored by git).

Usage: ``python bench/run.py [--configs reference,heavy] [--spans 1y,3y] [--repeat N]``
(with ``--repeat`` the fastest total of N runs is kept, the usual way to time on a shared machine).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
from itb import datasets

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
WORK = BENCH / "work"
RESULTS = BENCH / "results"
SOURCE = REPO.parent / "shared" / "data" / "binance" / "spot" / "BTCUSDT-1m.parquet"
SPANS = {"1y": ("2024-01-01", "2025-01-01"), "3y": ("2022-01-01", "2025-01-01")}
NON_TRAINING = ("merge", "features", "labels", "predict", "signals", "simulate")


def machine() -> str:
    """CPU model, core count and memory, as ``lscpu``/``nproc`` tell them."""
    model = platform.processor() or platform.machine()
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        found = re.search(r"Model name:\s*(.+)", out)
        model = found.group(1).strip() if found else model
    except (OSError, subprocess.CalledProcessError):
        pass
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    cpus = f"{os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))})"
    return f"{model}, {cpus}, {memory_gb:.0f} GB RAM, {platform.system()}"


def source_slice(span: str) -> Path:
    """The span's klines as one Parquet file, cut from the shared data once."""
    path = WORK / f"BTCUSDT-1m-{span}.parquet"
    if path.exists():
        return path
    if not SOURCE.exists():
        raise SystemExit(f"bench: {SOURCE} not found (the benchmark needs ../shared/data next to the repo)")
    start, end = (int(datetime.fromisoformat(d).replace(tzinfo=UTC).timestamp() * 1000) for d in SPANS[span])
    WORK.mkdir(parents=True, exist_ok=True)
    frame = (
        pl.scan_parquet(SOURCE).filter(pl.col("timestamp").is_between(start, end, closed="left")).collect()
    )
    tmp = path.with_suffix(".tmp")
    frame.write_parquet(tmp)
    tmp.rename(path)
    print(f"bench: wrote {path.relative_to(REPO)} ({frame.height:,} rows)", file=sys.stderr)
    return path


def prepare_config(name: str, span: str) -> tuple[Path, Path]:
    from itb.config import jsonc

    data = jsonc.loads((BENCH / "configs" / f"{name}.jsonc").read_text())
    data["data_sources"][0]["path"] = str(source_slice(span))
    root = WORK / f"data-{name}-{span}"
    data["data_root"] = str(root)
    path = WORK / f"{name}-{span}.json"
    path.write_text(json.dumps(data, indent=2))
    return path, root


_WRAPPER = """
import resource, subprocess, sys
code = subprocess.run(sys.argv[2:]).returncode
open(sys.argv[1], "w").write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(code)
"""


def run_once(config: Path, root: Path) -> tuple[float, float, dict[str, Any]]:
    """One forced run through the real CLI; (wall seconds, peak RSS of any process in MB, manifest)."""
    if root.exists():
        shutil.rmtree(root)
    itb = Path(sys.executable).parent / "itb"
    command = [str(itb), "--log-format", "json", "run", str(config), "--force", "--backend", "local"]
    rss_file = WORK / "last-run-rss.txt"
    # a fresh wrapper process per run: its RUSAGE_CHILDREN peak covers this run's processes only
    wrapper = [sys.executable, "-c", _WRAPPER, str(rss_file), *command]
    started = time.perf_counter()
    result = subprocess.run(wrapper, capture_output=True, text=True, cwd=REPO)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{config.name}: itb run failed ({result.returncode}):\n{result.stderr[-3000:]}")
    children_rss = float(rss_file.read_text()) / 1024
    runs = sorted((root / "runs").iterdir())
    manifest = json.loads((runs[-1] / "manifest.json").read_text())
    return wall, children_rss, manifest


def measure(name: str, span: str, repeat: int) -> dict[str, Any]:
    config, root = prepare_config(name, span)
    load_before = os.getloadavg()[0]  # other work on the machine inflates the times; say so
    best: tuple[float, float, dict[str, Any]] | None = None
    for _ in range(repeat):
        outcome = run_once(config, root)
        if best is None or outcome[0] < best[0]:
            best = outcome
    assert best is not None
    wall, children_rss, manifest = best
    stages = {
        stage: {
            "wall_s": record.get("wall_s"),
            "duration_s": record.get("duration_s"),
            "peak_rss_mb": record.get("peak_rss_mb"),
            **({"steps": len(record["steps"])} if record.get("steps") else {}),
        }
        for stage, record in manifest["stages"].items()
    }
    rows = manifest["stages"]["merge"]["outputs"][datasets.MERGED]["rows"]
    peak = max([children_rss, *(s["peak_rss_mb"] or 0.0 for s in stages.values())])
    return {
        "config": name,
        "span": span,
        "rows": rows,
        "machine": machine(),
        "total_wall_s": round(wall, 2),
        "peak_rss_mb": round(peak, 1),
        "non_training_wall_s": round(sum(stages[s]["wall_s"] or 0.0 for s in NON_TRAINING if s in stages), 2),
        "stages": stages,
        "versions": manifest.get("versions", {}),
        "run_id": manifest["run_id"],
        "repeat": repeat,
        "load_average_before": round(load_before, 2),
    }


def table(results: list[dict[str, Any]]) -> str:
    stages = ["merge", "features", "labels", "train", "predict", "signals", "simulate"]
    head = "| config | span | rows | " + " | ".join(stages) + " | non-training | total | peak RSS |"
    lines = [head, "|" + "---|" * (len(stages) + 6)]
    for r in results:
        cells = [f"{r['stages'].get(s, {}).get('wall_s') or 0:.2f}" for s in stages]
        lines.append(
            f"| {r['config']} | {r['span']} | {r['rows']:,} | " + " | ".join(cells)
            + f" | {r['non_training_wall_s']:.2f} | {r['total_wall_s']:.2f} | {r['peak_rss_mb']:.0f} MB |"
        )  # fmt: skip
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configs", default="reference,reference-gb,heavy")
    parser.add_argument("--spans", default="1y,3y")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    results = []
    for name in args.configs.split(","):
        for span in args.spans.split(","):
            print(f"bench: {name} {span} ...", file=sys.stderr, flush=True)
            try:
                result = measure(name, span, args.repeat)
            except RuntimeError as exc:
                print(f"bench: {exc}", file=sys.stderr)
                continue
            (RESULTS / f"{name}-{span}.json").write_text(json.dumps(result, indent=2) + "\n")
            print(
                f"bench: {name} {span}: {result['total_wall_s']:.2f}s total, non-training "
                f"{result['non_training_wall_s']:.2f}s, peak {result['peak_rss_mb']:.0f} MB",
                file=sys.stderr,
            )
            results.append(result)
    every = [json.loads(p.read_text()) for p in sorted(RESULTS.glob("*-*.json"))]
    text = table(every)
    (RESULTS / "table.md").write_text(f"Machine: {machine()}\n\n{text}\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
