"""``make pipeline BACKEND=aci [EMULATOR=1]``: run a config's pipeline on the aci backend.

With ``--emulator`` everything is local and offline: Azurite (Blob) and the ARM/Key Vault emulator
start on 127.0.0.1, the pipeline runs through them with its data root on Azurite
(``abfs://itb/data``), and both stop afterwards, also on Ctrl-C. Without it, the real Azure is used,
with settings from the environment (``ITB_AZURE_*``, e.g. from ``.itb-azure.env`` written by
``itb azure settings --from-terraform terraform``).

Either way the run's manifest is copied to ``data/runs/<run_id>/manifest.json`` on the local disk,
so it can be compared with a local run's.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

EMULATED_ROOT = "abfs://itb/data"


def _run_itb(config: str, data_root: str, extra: list[str], env: dict[str, str]) -> int:
    command = [
        sys.executable,
        "-m",
        "itb",
        "run",
        config,
        "--backend",
        "aci",
        "--data-root",
        data_root,
        *extra,
    ]
    process = subprocess.Popen(command, env=env)
    try:
        return process.wait()
    except KeyboardInterrupt:  # the child got the same SIGINT: let it delete its container groups
        try:
            return process.wait(120)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            return process.wait()


def copy_manifest(data_root: str, before: set[str], local_root: Path) -> Path | None:
    """Copy the newest run's manifest (one not in ``before``) to ``local_root/runs/<id>/``."""
    from itb.runs.manifest import list_runs
    from itb.storage import Storage

    new = [m for m in list_runs(Storage(data_root)) if m.run_id not in before]
    if not new:
        return None
    newest = new[-1]
    target = local_root / "runs" / newest.run_id / "manifest.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(newest.model_dump_json(indent=2) + "\n")
    return target


def _existing_runs(data_root: str) -> set[str]:
    from itb.runs.manifest import list_runs
    from itb.storage import Storage

    try:
        return {m.run_id for m in list_runs(Storage(data_root))}
    except FileNotFoundError:
        return set()


def run_emulated(config: str, extra: list[str], local_root: Path) -> int:
    from itb_azure.emulator.azurite import start_azurite
    from itb_azure.emulator.server import start_emulator
    from itb_azure.storage import ensure_container

    with tempfile.TemporaryDirectory(prefix="itb-aci-demo-") as tmp:
        azurite = start_azurite(Path(tmp) / "azurite-data" if _mkdir(Path(tmp) / "azurite-data") else None)
        emulator = None
        try:
            emulator = start_emulator(Path(tmp) / "arm")
            print(
                f"itb demo: Azurite on {azurite.blob_endpoint}, ARM emulator on {emulator.url}",
                file=sys.stderr,
            )
            settings = {
                "ITB_AZURE_SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000000",
                "ITB_AZURE_RESOURCE_GROUP": "itb-emulated",
                "ITB_AZURE_IMAGE": "itb:emulated",
                "ITB_AZURE_ARM_ENDPOINT": emulator.url,
                "ITB_AZURE_CA_BUNDLE": str(emulator.cert_path),
                "ITB_AZURE_KEYVAULT_ENDPOINT": emulator.url + "/vaults/{vault}",
                "ITB_AZURE_POLL_INTERVAL_S": "0.5",
                "ITB_AZURE_POLL_MAX_INTERVAL_S": "2",
                "ITB_AZURE_STATIC_TOKEN": emulator.token,
                # Containers share this machine: one thread each, as `itb run --backend local` uses
                # by default, so the model files (which record threads) match a local run's.
                "ITB_AZURE_THREADS": os.environ.get("ITB_AZURE_THREADS", "1"),
                "AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string,
            }
            os.environ.update(settings)  # this process reads the manifest from Azurite too
            for name in ("AZURE_STORAGE_ACCOUNT_NAME", "AZURE_STORAGE_ACCOUNT_KEY"):
                os.environ.pop(name, None)
            ensure_container(EMULATED_ROOT)
            before = _existing_runs(EMULATED_ROOT)
            code = _run_itb(config, EMULATED_ROOT, extra, dict(os.environ))
            copied = copy_manifest(EMULATED_ROOT, before, local_root)
            if copied:
                print(f"itb demo: manifest copied to {copied}", file=sys.stderr)
            leftover = emulator.state.groups
            if leftover:
                print(f"itb demo: container groups left behind: {sorted(g.name for g in leftover.values())}")
                code = code or 1
            return code
        finally:
            if emulator is not None:
                emulator.stop()
            azurite.stop()


def _mkdir(path: Path) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    return True


def run_real(config: str, extra: list[str], local_root: Path) -> int:
    from itb.config import load_config
    from itb.errors import ConfigError

    data_root = os.environ.get("ITB_AZURE_DATA_ROOT") or load_config(config).data_root
    if "://" not in data_root:
        raise ConfigError(
            "the aci backend needs an abfs:// data root: set ITB_AZURE_DATA_ROOT (from `itb azure settings "
            "--from-terraform terraform --write .itb-azure.env`) or the config's data_root"
        )
    before = _existing_runs(data_root)
    code = _run_itb(config, data_root, extra, dict(os.environ))
    copied = copy_manifest(data_root, before, local_root)
    if copied:
        print(f"itb: manifest copied to {copied}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m itb_azure.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("config")
    parser.add_argument("--emulator", action="store_true", help="offline: Azurite + the ARM emulator")
    parser.add_argument("--local-root", default="data", help="where the manifest copy goes (default: data)")
    args, extra = parser.parse_known_args(argv)
    from itb.errors import ItbError

    try:
        if args.emulator:
            return run_emulated(args.config, extra, Path(args.local_root))
        return run_real(args.config, extra, Path(args.local_root))
    except ItbError as exc:
        print(f"itb: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("itb demo: interrupted; emulators stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
