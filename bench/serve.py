"""``make bench`` (serving part): how fast ``itb serve`` turns a closed candle into a logged signal.

Three measurements on the ``reference`` benchmark config, trained once on 2024 (``bench/run.py``'s
``1y`` slice of ``../shared/data``; an up-to-date data root is reused):

1. **Replay of a day** (1,440 candles of 2024-12-30, in process, :func:`itb.serve.replay.replay_symbol`):
   per-candle compute (features + scores + signals of the new candle: the live log's
   ``compute_ms``) p50/p99, and candles per second end to end (live log writes included).
2. **20 symbols in one process**, live, against the fake Binance of ``tests/fakes`` on 127.0.0.1
   (the same klines under 20 names; a 1m candle closes every 4 real seconds): ``itb serve
   --log-format json`` as a real process, its ``tick`` events give the time of one tick for all
   20 symbols (exchange calls, compute, live log writes), p50/p99 over the ticks after the first.
3. **Close to persisted** in that run: each candle's ``close_lag_ms`` (candle close to its row
   persisted, with the default 1 s close delay before the tick asks the exchange), p50/p99 over
   the live (not backfilled) candles of every symbol.

Writes ``bench/results/serve.json`` and ``bench/results/serve.md`` (the README's table) and prints
the table. Usage: ``python bench/serve.py [--ticks N]`` (about 1.5 minutes with the training).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))  # tests.fakes: the local fake exchange

from run import RESULTS, WORK, machine, prepare_config  # noqa: E402  (bench/run.py, this folder)

from tests.fakes.binance_server import FakeBinance, load_klines, ms  # noqa: E402

DAY, NEXT_DAY = "2024-12-30", "2024-12-31"
SYMBOLS = [f"SYM{i:02d}USDT" for i in range(1, 21)]
#: Exchange seconds per real second in the 20-symbol run: a 1m candle every 4 real seconds.
SPEED = 15.0
CLOSE_DELAY_S = 1.0


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p99": None}
    return {
        "p50": round(float(np.percentile(values, 50)), 3),
        "p99": round(float(np.percentile(values, 99)), 3),
    }


def trained_reference() -> tuple[Path, Path]:
    """The reference config on the 1y slice, its models trained (reused when up to date)."""
    config, root = prepare_config("reference", "1y")
    itb = Path(sys.executable).parent / "itb"
    done = subprocess.run(
        [str(itb), "run", str(config), "--backend", "local"], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"bench serve: itb run failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return config, root


def replay_day(config_path: Path, root: Path) -> dict[str, Any]:
    from itb.config import load_config
    from itb.serve.replay import replay_symbol
    from itb.storage.store import Storage

    shutil.rmtree(root / "live", ignore_errors=True)  # replay the whole day, not what is logged
    config = load_config(str(config_path))
    start, end = ms(f"{DAY}T00:00"), ms(f"{NEXT_DAY}T00:00")
    report = replay_symbol(config, Storage(config.data_root), start, end)
    return {
        "day": DAY,
        "candles": report.processed,
        "compute_ms": percentiles(report.compute_ms),
        "candles_per_s": round(report.candles_per_second or 0.0, 1),
    }


def twenty_symbols(config_path: Path, root: Path, ticks: int) -> dict[str, Any]:
    """The live run of :data:`SYMBOLS` (see the module doc); its tick and candle events."""
    from itb.config import jsonc
    from itb.config.models import PipelineConfig
    from itb.models.trained import model_files, model_name

    data = jsonc.loads(config_path.read_text())
    serve_root = WORK / "serve-20"
    shutil.rmtree(serve_root, ignore_errors=True)
    config = PipelineConfig.model_validate(data)
    files = [f for label in config.train.labels for a in config.train.algorithms
             for f in model_files(model_name(label, a.name), a)]  # fmt: skip
    for symbol in SYMBOLS:  # every symbol serves the reference models (a copy in its data root)
        for name in files:
            target = serve_root / symbol / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / name, target)
    data.update(data_root=str(serve_root), symbols=SYMBOLS)
    multi = WORK / "serve-20.json"
    multi.write_text(json.dumps(data, indent=2))

    source = REPO.parent / "shared" / "data" / "binance" / "spot" / "BTCUSDT-1m.parquet"
    klines = load_klines(source, "2024-12-29", NEXT_DAY)
    fake = FakeBinance({("spot", s): klines for s in SYMBOLS}, ms(f"{DAY}T12:00:30")).start()
    out = WORK / "serve-20.stdout"
    env = {**os.environ, **fake.env(), "ITB_SERVE_CLOCK_SPEED": str(SPEED)}
    command = [str(Path(sys.executable).parent / "itb"), "serve", str(multi), "--log-format", "json",
               "--close-delay-s", str(CLOSE_DELAY_S)]  # fmt: skip
    try:
        fake.run_clock(ms(f"{DAY}T12:00:30"), SPEED)
        with out.open("w") as stdout:
            proc = subprocess.Popen(
                command, env=env, cwd=REPO, stdout=stdout, stderr=subprocess.PIPE, text=True
            )
        deadline = time.monotonic() + 60 + ticks * 60 / SPEED * 2
        while _count_ticks(out) < ticks + 1 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
        if proc.returncode != 0:
            raise SystemExit(f"bench serve: itb serve exited {proc.returncode}:\n{err[-3000:]}")
    finally:
        fake.stop()
    events = [json.loads(line) for line in out.read_text().splitlines()]
    tick_events = [e for e in events if e.get("event") == "tick" and e["processed"]]
    steady = tick_events[1:]  # the first tick warms the windows up (and loads LightGBM)
    candles = pl.DataFrame([e for e in events if e.get("event") == "candle"])
    first = candles["timestamp"].min()
    live = candles.filter(~pl.col("backfilled") & (pl.col("timestamp") > first))
    return {
        "symbols": len(SYMBOLS),
        "clock_speed": SPEED,
        "close_delay_s": CLOSE_DELAY_S,
        "ticks": len(steady),
        "candles_per_tick": percentiles([e["processed"] for e in steady]),
        "slow_ticks": sum(1 for e in events if e.get("event") == "slow_tick"),
        "tick_s": percentiles([e["tick_s"] for e in steady]),
        "candles": live.height,
        "close_lag_ms": percentiles(live["close_lag_ms"].to_list()),
        "compute_ms": percentiles(live["compute_ms"].to_list()),
        "fetch_ms": percentiles(live["fetch_ms"].to_list()),
    }


def _count_ticks(path: Path) -> int:
    if not path.exists():
        return 0
    return sum(
        1
        for line in path.read_text().splitlines()
        if '"event": "tick"' in line and '"processed": 0' not in line
    )


def table(result: dict[str, Any]) -> str:
    r, t = result["replay"], result["twenty"]
    rows = [
        ("replay a day: compute per candle (features + scores + signals)",
         f"p50 {r['compute_ms']['p50']:.2f} ms, p99 {r['compute_ms']['p99']:.2f} ms", "p99 <= 20 ms"),
        ("replay a day: candles per second (log writes included)", f"{r['candles_per_s']:,.0f}", ""),
        (f"{t['symbols']} symbols live: one tick for all of them ({t['ticks']} ticks)",
         f"p50 {t['tick_s']['p50']:.3f} s, p99 {t['tick_s']['p99']:.3f} s", "<= 1 s"),
        (f"{t['symbols']} symbols live: candle close to row persisted ({t['candles']} candles, "
         f"{t['close_delay_s']:g} s close delay)",
         f"p50 {t['close_lag_ms']['p50']:,.0f} ms, p99 {t['close_lag_ms']['p99']:,.0f} ms", "<= 2 s"),
    ]  # fmt: skip
    lines = ["| measurement | result | goal |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--ticks", type=int, default=12, help="steady ticks of the 20-symbol run (default 12)"
    )
    parser.add_argument(
        "--parts",
        default="replay,twenty",
        help="which to run (default both; the other's last result is kept)",
    )
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    RESULTS.mkdir(parents=True, exist_ok=True)
    previous = RESULTS / "serve.json"
    result: dict[str, Any] = json.loads(previous.read_text()) if previous.exists() else {}
    load_before = os.getloadavg()[0]
    print("bench serve: training the reference config (1y) ...", file=sys.stderr, flush=True)
    config, root = trained_reference()
    if "replay" in parts:
        print(f"bench serve: replaying {DAY} ...", file=sys.stderr, flush=True)
        result["replay"] = {**replay_day(config, root), "load_average_before": round(load_before, 2)}
    if "twenty" in parts:
        print(f"bench serve: {len(SYMBOLS)} symbols live against the fake exchange ...", file=sys.stderr)
        load = os.getloadavg()[0]
        result["twenty"] = {**twenty_symbols(config, root, args.ticks), "load_average_before": round(load, 2)}
    result["machine"] = machine()
    previous.write_text(json.dumps(result, indent=2) + "\n")
    text = table(result)
    replay_load, twenty_load = (result[k]["load_average_before"] for k in ("replay", "twenty"))
    loads = f"load average {replay_load:.1f} / {twenty_load:.1f}"
    (RESULTS / "serve.md").write_text(f"Machine: {machine()} ({loads} before each part)\n\n{text}\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
