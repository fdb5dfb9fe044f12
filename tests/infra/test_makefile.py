"""`make pipeline` installs what the pipeline needs and no more; `make test` still gets everything."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: Not installed by `make pipeline` for local/inprocess (site-packages names).
DEV_ONLY = ("pytest", "ruff", "mypy", "nox", "talib", "azure", "adlfs", "sklearn", "pandas")
NODE_TOOLS = {"npm", "npx", "node", "nodejs", "corepack"}


def make_env() -> dict[str, str]:
    """The environment without what an outer make passes down (``make test`` runs these tests):
    MAKEFLAGS/MAKELEVEL would make the inner make print "Entering/Leaving directory" lines."""
    return {
        k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES")
    }


def dry_run(*args: str, cwd: Path = ROOT) -> list[str]:
    """The commands `make -n -B` would run (-B: as on a fresh clone, whatever is installed here)."""
    out = subprocess.run(
        ["make", "-n", "-B", *args], cwd=cwd, env=make_env(), capture_output=True, text=True, check=True
    ).stdout
    return out.splitlines()


def syncs(lines: list[str]) -> list[str]:
    return [line for line in lines if " sync " in line]


@pytest.mark.parametrize("backend", ["local", "inprocess"])
def test_pipeline_syncs_the_runtime_only_and_runs_no_npm(backend: str) -> None:
    lines = dry_run("pipeline", f"BACKEND={backend}")
    assert not any("npm" in line for line in lines)
    [sync] = syncs(lines)
    assert "--no-dev" in sync and "--package itb-local" in sync and "--inexact" in sync
    assert "--all-packages" not in sync
    assert lines[-1].split()[:2] == [".venv/bin/itb", "run"]


def test_aci_adds_the_azure_packages_and_azurite_only_for_the_emulator() -> None:
    real = dry_run("pipeline", "BACKEND=aci")
    [sync] = syncs(real)
    assert "--no-dev" in sync and "--package itb-azure" in sync
    assert not any("npm" in line for line in real)
    emulated = dry_run("pipeline", "BACKEND=aci", "EMULATOR=1")
    assert any(line.startswith("npm ci") for line in emulated)


@pytest.mark.parametrize("target", ["test", "setup", "lint", "typecheck", "bench"])
def test_dev_targets_sync_everything_and_azurite(target: str) -> None:
    lines = dry_run(target)
    [sync] = syncs(lines)
    assert "--all-packages" in sync and "--no-dev" not in sync and "--inexact" not in sync
    assert any(line.startswith("npm ci") for line in lines)


def _path_without_node(tmp_path: Path) -> str:
    """A PATH with every command of this one except npm and its friends."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        if not os.path.isdir(directory):
            continue
        for entry in os.scandir(directory):
            target = folder / entry.name
            if entry.name not in NODE_TOOLS and not target.exists() and not target.is_symlink():
                target.symlink_to(entry.path)
    assert shutil.which("npm", path=str(folder)) is None
    return str(folder)


@pytest.mark.slow
def test_pipeline_on_a_fresh_copy_without_npm_installs_no_dev_tools(tmp_path: Path) -> None:
    """A real `make pipeline` (about 15 s with a warm uv cache): exit 0, no node_modules, no dev tools;
    afterwards `make test` would still sync the dev group and run npm (separate stamps)."""
    copy = tmp_path / "clone"
    files = (
        subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    env = {k: v for k, v in make_env().items() if not k.startswith(("UV_", "VIRTUAL_ENV", "PYTHON"))}
    env["PATH"] = _path_without_node(tmp_path)
    python = os.path.realpath(sys.executable)  # the interpreter behind .venv, not a pyenv shim
    run = subprocess.run(
        ["make", "pipeline", f"PYTHON={python}", "ARGS=--only merge"],
        cwd=copy, env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "succeeded" in run.stdout
    assert not (copy / "node_modules").exists()
    [site] = (copy / ".venv" / "lib").glob("python3*/site-packages")
    installed = {p.name.lower() for p in site.iterdir()}
    assert not [name for name in installed if name.startswith(DEV_ONLY)]
    assert {"polars", "lightgbm", "itb_local"} <= {n.split("-")[0] for n in installed} | installed
    assert (copy / ".venv" / ".synced-runtime").exists() and not (copy / ".venv" / ".synced-dev").exists()
    after = subprocess.run(
        ["make", "-n", "test"], cwd=copy, env=env, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert any("--all-packages" in line for line in after) and any(
        line.startswith("npm ci") for line in after
    )
