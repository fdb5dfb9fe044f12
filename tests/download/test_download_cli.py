"""``itb download`` end to end: the acceptance comparisons, SIGKILL and resume, errors, the pipeline."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from itb import datasets
from itb.cli.main import main
from itb.config import parse_config
from itb.runs.manifest import RunManifest, list_runs
from itb.runs.runner import run_pipeline
from itb.storage import Storage
from itb.storage.sources import SourceNotFound, resolve_source

from tests.conftest import REPO, itb, write_config
from tests.download.conftest import config_data, stored
from tests.download.test_download_rest import END, START, assert_exact
from tests.fakes.binance_server import FakeBinance, ms
from tests.faults import pause_before_commit

PARTITION = "klines/spot/BTCUSDT/1m/2023-03.parquet"


def manifest(root: Path) -> RunManifest:
    return list_runs(Storage(str(root)))[-1]


def test_three_months_rest_and_archive_paths_store_identical_data(fake: FakeBinance, tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.json", config_data(str(tmp_path / "unused")))
    roots = {}
    for path, flags in (("rest", ["--no-archive"]), ("archive", [])):
        roots[path] = tmp_path / path
        args = [
            "download",
            str(config),
            "--start",
            "2023-02-01",
            "--end",
            "2023-05-01",
            "--data-root",
            str(roots[path]),
        ]
        done = itb(*args, *flags, env=fake.env())
        assert done.returncode == 0, done.stderr
        assert "spot BTCUSDT 1m" in done.stdout and "128,080" in done.stdout
    files = {p: sorted(f.relative_to(r) for f in r.glob("klines/**/*.parquet")) for p, r in roots.items()}
    assert files["rest"] == files["archive"] and len(files["rest"]) == 3
    for name in files["rest"]:
        assert (roots["rest"] / name).read_bytes() == (roots["archive"] / name).read_bytes()
    assert_exact(fake, roots["rest"], "2023-02-01", "2023-05-01")
    report = manifest(roots["archive"]).stages["download"].metrics["download"]["series"][0]
    assert report["archive_files"] == 3 and report["rows_added"] == 128_080
    assert report["gaps"] == [{"from": "2023-03-24T12:40:00Z", "to": "2023-03-24T13:59:00Z", "missing": 80}]
    assert manifest(roots["rest"]).stages["download"].metrics["download"]["series"][0]["rest_pages"] >= 129


def _start(config: Path, fake: FakeBinance, extra_env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "itb", "download", str(config), "--no-archive"],
        cwd=REPO,
        env={**os.environ, **fake.env(), **(extra_env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(condition: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the download to get going"
        time.sleep(0.02)


def _assert_valid_prefix(fake: FakeBinance, root: Path) -> int:
    """After a kill: every data file reads, temporaries are not data, rows are a prefix of the source."""
    config = parse_config(config_data(str(root)))
    try:
        files = resolve_source(config.data_sources[0], config)
    except SourceNotFound:  # killed before the first partition was in place
        files = []
    assert all(Path(f).name == "2023-03.parquet" for f in files)
    kept = stored(root) if files else pl.DataFrame()
    if kept.height:
        assert kept.equals(fake.expected("spot", "BTCUSDT", ms(START), ms(END)).head(kept.height))
    return kept.height


@pytest.mark.parametrize("moment", ["between pages", "inside a partition write"])
def test_sigkill_mid_download_then_resume(
    fake: FakeBinance, tmp_path: Path, moment: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "data"
    config = write_config(
        tmp_path / "config.json", config_data(str(root), start=START, end=END, page_limit=100)
    )
    if moment == "between pages":
        fake.add_fault("slow", times=None, delay=0.1)
        proc = _start(config, fake)
        _wait_for(lambda: len(fake.requests("/klines")) >= 8 or proc.poll() is not None)
    else:  # hold the first write between "temporary file complete" and "renamed into place"
        proc = _start(config, fake, pause_before_commit(PARTITION, 60))
        _wait_for(lambda: any((root / PARTITION).parent.glob(".*.tmp-*")) or proc.poll() is not None)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    kept = _assert_valid_prefix(fake, root)
    assert kept < 36 * 60 - 80

    fake.clear()
    for key, value in fake.env().items():
        monkeypatch.setenv(key, value)
    # the killed download's lock names a process that is gone: reported, removed on request
    assert main(["download", str(config), "--no-archive"]) == 2
    assert main(["download", str(config), "--no-archive", "--break-lock"]) == 0  # the resume, in this process
    assert_exact(fake, root)
    assert not list((root / PARTITION).parent.glob(".*.tmp-*"))  # the resumed write cleaned up
    series = manifest(root).stages["download"].metrics["download"]["series"][0]
    assert series["rows_added"] == 36 * 60 - 80 - kept


def test_cli_errors_are_clear(
    fake: FakeBinance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path / "config.json", config_data(str(tmp_path / "data"), start=START, end=END))
    with pytest.raises(SystemExit) as bad:
        main(["download", str(config), "--start", "yesterday"])
    assert bad.value.code == 2 and "not a date like 2024-01-31" in capsys.readouterr().err
    assert main(["download", str(config), "--symbols", "ETHUSDT"]) == 2
    assert "ETHUSDT are not data sources to download" in capsys.readouterr().err
    for key, value in fake.env().items():
        monkeypatch.setenv(key, value)
    fake.add_fault("418", times=None, retry_after=600)
    assert main(["download", str(config)]) == 1
    err = capsys.readouterr().err
    assert "HTTP 418" in err and "lifts at" in err and "Traceback" not in err


def test_download_then_merge_in_a_pipeline_run(fake: FakeBinance, tmp_path: Path) -> None:
    data = config_data(str(tmp_path / "data"), start=START, end=END)
    data["merge"] = {"gaps": "fill"}
    config = parse_config(data)
    old = {k: os.environ.get(k) for k in fake.env()}
    os.environ.update(fake.env())
    try:
        result = run_pipeline(config, backend="inprocess", only=["download", "merge"])
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    assert result.ok, result.manifest
    merged = pl.read_parquet(tmp_path / "data" / datasets.MERGED)
    assert merged.height == 36 * 60  # the merge stage fills the exchange's 80 missing minutes
    download = result.manifest.stages["download"]
    assert download.outputs[PARTITION].rows == 36 * 60 - 80
    assert download.metrics["download"]["series"][0]["gaps_total"] == 1
