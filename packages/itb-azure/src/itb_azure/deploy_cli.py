"""``itb deploy serve CONFIG --backend aci [--status | --logs | --stop]`` (from itb-azure).

Without an action flag it creates or updates the service's container group and waits until it
runs; the settings are the config's ``backend.options.aci`` with ``ITB_AZURE_*`` on top, as for
``itb run --backend aci``.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import TYPE_CHECKING

from itb.errors import ConfigError, ItbError

from itb_azure.settings import AciSettings, load_settings

if TYPE_CHECKING:
    from itb.config.models import PipelineConfig

    from itb_azure.serve_deploy import ServeDeployer

DEFAULT_NAME = "itb-serve"

#: Plain variables given with --env must not look like credentials (those go through references).
_SECRET_NAME = re.compile(r"(?i)(key|secret|token|password|connection_string|sas)")


def configure(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``itb deploy`` (added through ``itb_add_commands``)."""
    sub = parser.add_subparsers(dest="deploy_target", required=True)
    serve = sub.add_parser(
        "serve", help="the live service (itb serve) as an always-restarted container group"
    )
    serve.add_argument("config")
    serve.add_argument("--backend", choices=["aci"], default="aci", help="where to deploy (only aci so far)")
    serve.add_argument("--name", default=DEFAULT_NAME, help=f"container group name (default {DEFAULT_NAME})")
    serve.add_argument("--data-root", help="the Blob data root (default: the config's data_root)")
    action = serve.add_mutually_exclusive_group()
    action.add_argument("--status", action="store_true", help="show state and restart count")
    action.add_argument("--logs", action="store_true", help="print the service's recent output")
    action.add_argument("--stop", action="store_true", help="delete the container group")
    serve.add_argument("--tail", type=int, default=200, help="--logs: this many lines (default 200)")
    serve.add_argument("--symbols", nargs="+", metavar="SYMBOL", help="itb serve --symbols")
    serve.add_argument("--http", metavar="HOST:PORT", help="itb serve --http (health endpoints)")
    serve.add_argument("--close-delay-s", type=float, help="itb serve --close-delay-s")
    serve.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a plain (non-secret) variable for the container; secrets go in the config as references",
    )


def _env(pairs: list[str]) -> tuple[tuple[str, str], ...]:
    out = []
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ConfigError(f"--env: {pair!r} is not NAME=VALUE")
        if _SECRET_NAME.search(name):
            raise ConfigError(
                f"--env: {name} looks like a secret; put a secret reference in the config instead"
            )
        out.append((name, value))
    return tuple(out)


def _serve_args(args: argparse.Namespace) -> tuple[str, ...]:
    out: list[str] = []
    if args.symbols:
        out += ["--symbols", *args.symbols]
    if args.http:
        out += ["--http", args.http]
    if args.close_delay_s is not None:
        out += ["--close-delay-s", f"{args.close_delay_s:g}"]
    return tuple(out)


def run(args: argparse.Namespace) -> int:
    """Run a parsed ``itb deploy serve`` command; the exit code."""
    from itb.config import load_config

    from itb_azure.serve_deploy import ServeDeployer  # the Azure SDK: only when used

    config = load_config(args.config)
    settings = load_settings(config.backend.options.get("aci"))
    from azure.core.exceptions import AzureError

    deployer = ServeDeployer(settings)
    try:
        return _act(args, config, settings, deployer)
    except AzureError as exc:  # unreachable endpoint, refused credentials, ARM errors: one line
        from itb_azure.backend import arm_message

        raise ItbError(f"itb deploy serve: {arm_message(exc)}") from None
    finally:
        deployer.close()


def _act(
    args: argparse.Namespace, config: PipelineConfig, settings: AciSettings, deployer: ServeDeployer
) -> int:
    """The action the flags ask for; the exit code."""
    from itb_azure.serve_deploy import make_deployment

    if args.status:
        for line in deployer.status(args.name).lines():
            print(line)
        return 0
    if args.logs:
        sys.stdout.write(deployer.logs(args.name, args.tail))
        return 0
    if args.stop:
        if deployer.stop(args.name):
            print(f"deleted container group {args.name} (resource group {settings.resource_group})")
        else:
            print(f"no container group {args.name} in {settings.resource_group}: nothing to stop")
        return 0
    deployment = make_deployment(
        config, settings, args.name, args.data_root, _serve_args(args), _env(args.env)
    )
    status = deployer.deploy(deployment)
    print(f"deployed {args.name}: {' '.join(deployment.command())}")
    for line in status.lines():
        print(line)
    return 0 if status.state == "Running" else 1
