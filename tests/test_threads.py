"""One thread policy for every backend, and one place that names the thread variables."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from itb.backends.parallelism import resolve_parallelism
from itb.config import parse_config
from itb.config.models import BackendSettings
from itb.plugins.manager import backends
from itb.runs.runner import run_pipeline
from itb.threads import POOL_VARIABLES, thread_env, threads_per_stage

REPO = Path(__file__).resolve().parents[1]


def test_thread_variables_are_named_in_one_module_only() -> None:
    pattern = re.compile("|".join([*POOL_VARIABLES, "ITB_THREADS"]))
    named = sorted(
        str(path.relative_to(REPO))
        for path in (REPO / "packages").glob("*/src/**/*.py")
        if pattern.search(path.read_text(encoding="utf-8"))
    )
    assert named == ["packages/itb-core/src/itb/threads.py"]
    assert thread_env(3) == {name: "3" for name in (*POOL_VARIABLES, "ITB_THREADS")}


def test_default_threads_share_the_cpus_between_parallel_stage_runs() -> None:
    assert threads_per_stage(2, cpu_count=2) == 1
    assert threads_per_stage(4, cpu_count=16) == 4
    assert threads_per_stage(8, cpu_count=2) == 1


def test_inprocess_defaults_to_one_thread_like_local_and_obeys_explicit_counts() -> None:
    info = backends()["inprocess"]
    settings = BackendSettings()
    assert resolve_parallelism(settings, info.default_workers, default_threads=info.default_threads) == (1, 1)
    assert resolve_parallelism(settings, info.default_workers, None, 3, info.default_threads) == (1, 3)
    local_workers, local_threads = resolve_parallelism(settings, None)
    assert local_threads == threads_per_stage(local_workers)


def test_inprocess_run_trains_with_one_thread_by_default(small_config_data: dict[str, Any]) -> None:
    result = run_pipeline(
        parse_config(small_config_data), backend="inprocess", only=["merge", "features", "labels", "train"]
    )
    assert result.ok
    assert result.manifest.threads_per_stage == 1
    logs = [name for name in result.storage.list(f"runs/{result.run_id}/logs") if "/train" in name]
    text = "".join(result.storage.read_bytes(name).decode() for name in logs)
    trained = re.findall(r"trained \S+ \(gb\) on \d+ rows in [\d.]+s \((\d+) threads\)", text)
    assert trained == ["1", "1"], text
