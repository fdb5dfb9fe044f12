"""itb-core as a user gets it: a wheel installed into a fresh virtualenv outside the checkout."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from itb.plugins.manager import unknown_backend_message
from itb.sample import default_config, default_config_path

REPO = Path(__file__).resolve().parents[1]
UV = Path(sys.executable).with_name("uv")


def test_bundled_default_config_is_the_repository_one() -> None:
    assert Path(default_config_path()).read_bytes() == (REPO / "configs" / "btcusdt-1m.jsonc").read_bytes()
    config = default_config()
    assert config.data_root == "./data"
    assert config.data_sources[0].path == "sample:BTCUSDT-1m-2024Q1"
    assert default_config("memory://x").data_root == "memory://x"


def test_a_missing_backend_names_its_distribution_and_the_alternative() -> None:
    assert unknown_backend_message("local", ["inprocess"]) == (
        "unknown backend 'local' (installed: inprocess): install itb-local (pip install itb-local) "
        "or use --backend inprocess"
    )
    assert "pip install itb-azure" in unknown_backend_message("aci", ["inprocess", "local"])
    assert unknown_backend_message("nope", ["local"]) == "unknown backend 'nope' (installed: local)"


def _run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=600, env=env, check=False
    )


def test_readme_example_and_cli_work_from_the_wheel_outside_the_checkout(tmp_path: Path) -> None:
    """About 7 s: everything comes from uv's cache (``--offline``: tests talk to no index)."""
    built = _run(
        UV, "build", "--wheel", "--out-dir", tmp_path / "dist", REPO / "packages" / "itb-core", cwd=REPO
    )
    assert built.returncode == 0, built.stderr
    [wheel] = (tmp_path / "dist").glob("itb_core-*.whl")
    venv = tmp_path / "venv"
    assert _run(UV, "venv", "--offline", "--python", sys.executable, venv, cwd=tmp_path).returncode == 0
    python = venv / "bin" / "python"
    installed = _run(UV, "pip", "install", "--offline", "--python", python, wheel, cwd=tmp_path)
    assert installed.returncode == 0, installed.stderr
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    [example] = re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(), re.DOTALL)[:1]
    script = work / "example.py"
    script.write_text(example + "\nassert result.ok and slopes.columns == ['close_LINEARREG_SLOPE_15']\n")
    ran = _run(python, script, cwd=work, env=env)
    assert ran.returncode == 0, ran.stderr
    located = _run(python, "-c", "import itb; print(itb.__file__)", cwd=work, env=env)
    assert str(venv) in located.stdout and str(REPO) not in located.stdout  # not the checkout's itb
    config = _run(
        python, "-c", "import itb.sample; print(itb.sample.default_config_path())", cwd=work, env=env
    )
    cli = _run(
        venv / "bin" / "itb",
        "run",
        config.stdout.strip(),
        "--backend",
        "local",
        "--dry-run",
        cwd=work,
        env=env,
    )
    assert cli.returncode == 2
    assert "install itb-local (pip install itb-local) or use --backend inprocess" in cli.stderr
