"""``itb azure ...``: Azure helpers. ``itb azure settings --from-terraform DIR|FILE`` turns
``terraform output -json`` into the ``aci`` backend's settings (an env file without secrets)."""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from itb.errors import ConfigError

#: terraform output name -> ITB_AZURE_* / AZURE_* variable.
TERRAFORM_OUTPUTS = {
    "resource_group_name": "ITB_AZURE_RESOURCE_GROUP",
    "location": "ITB_AZURE_LOCATION",
    "storage_account_name": "ITB_AZURE_STORAGE_ACCOUNT_NAME",
    "data_root": "ITB_AZURE_DATA_ROOT",
    "acr_login_server": "ITB_AZURE_REGISTRY_SERVER",
    "key_vault_uri": "ITB_AZURE_KEY_VAULT_URI",
    "key_vault_name": "ITB_AZURE_KEY_VAULT_NAME",
    "identity_id": "ITB_AZURE_IDENTITY_ID",
    "identity_client_id": "ITB_AZURE_IDENTITY_CLIENT_ID",
    "log_analytics_workspace_id": "ITB_AZURE_LOG_ANALYTICS_WORKSPACE_ID",
    "subscription_id": "ITB_AZURE_SUBSCRIPTION_ID",
    "image": "ITB_AZURE_IMAGE",
}
#: Outputs that are never written anywhere, even if terraform marks them non-sensitive by mistake.
#: Output-name endings that mark a credential (never written); "key_vault_name" is not one.
NEVER_WRITE = ("_key", "key", "_secret", "_password", "_connection_string", "_token")


def read_terraform_outputs(source: str) -> dict[str, Any]:
    """Outputs from a ``terraform output -json`` file, or by running terraform in a directory."""
    path = Path(source)
    if path.is_dir():
        try:
            text = subprocess.run(
                ["terraform", f"-chdir={path}", "output", "-json"], capture_output=True, text=True, check=True
            ).stdout
        except FileNotFoundError:
            raise ConfigError(
                "terraform is not installed; pass a saved `terraform output -json` file"
            ) from None
        except subprocess.CalledProcessError as exc:
            raise ConfigError(f"`terraform output -json` failed in {path}: {exc.stderr.strip()}") from None
    elif path.is_file():
        text = path.read_text()
    else:
        raise ConfigError(f"{source}: neither a terraform directory nor a `terraform output -json` file")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{source}: not terraform output JSON ({exc})") from None
    outputs: dict[str, Any] = {}
    for name, entry in raw.items():
        if isinstance(entry, dict) and "value" in entry:
            if entry.get("sensitive"):
                continue
            outputs[name] = entry["value"]
        else:
            outputs[name] = entry
    return outputs


def settings_env(outputs: dict[str, Any]) -> dict[str, str]:
    """The environment for the backend, from terraform outputs (secrets never included)."""
    env: dict[str, str] = {}
    for name, var in TERRAFORM_OUTPUTS.items():
        value = outputs.get(name)
        if value in (None, "") or name.endswith(NEVER_WRITE):
            continue
        env[var] = str(value)
    if "ITB_AZURE_SUBSCRIPTION_ID" not in env and "identity_id" in outputs:
        parts = str(outputs["identity_id"]).split("/")
        if len(parts) > 2 and parts[1].lower() == "subscriptions":
            env["ITB_AZURE_SUBSCRIPTION_ID"] = parts[2]
    if "ITB_AZURE_IMAGE" not in env and outputs.get("acr_login_server"):
        env["ITB_AZURE_IMAGE"] = f"{outputs['acr_login_server']}/itb:latest"
    if outputs.get("key_vault_uri"):
        env["ITB_AZURE_KEYVAULT_ENDPOINT"] = "https://{vault}.vault.azure.net"
    return env


def configure(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``itb azure`` (added to the ``itb`` parser through ``itb_add_commands``)."""
    sub = parser.add_subparsers(dest="azure_command", required=True)
    settings = sub.add_parser("settings", help="backend settings from `terraform output -json`")
    settings.add_argument("--from-terraform", required=True, metavar="DIR_OR_JSON")
    settings.add_argument("--write", metavar="FILE", help="write an env file (e.g. .itb-azure.env)")


def main(argv: Sequence[str]) -> int:
    """``itb azure`` on its own: parse ``argv`` and :func:`run`."""
    parser = argparse.ArgumentParser(prog="itb azure", description="Azure helpers for the aci backend.")
    configure(parser)
    return run(parser.parse_args(list(argv)))


def run(args: argparse.Namespace) -> int:
    """Run a parsed ``itb azure`` command (only ``settings`` so far)."""
    env = settings_env(read_terraform_outputs(args.from_terraform))
    text = "".join(f"{key}={shlex.quote(value)}\n" for key, value in sorted(env.items()))
    header = "# itb aci backend settings from terraform outputs (no secrets). Source with `set -a; . FILE`.\n"
    if args.write:
        Path(args.write).write_text(header + text)
        print(f"wrote {len(env)} settings to {args.write}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
