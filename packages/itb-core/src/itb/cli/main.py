"""``itb``: run pipelines, run single stages (the container entry point), validate configs.

Exit codes: 0 success, 1 a stage failed, 2 bad input (config, arguments, data), 130 interrupted.
Heavy modules are imported inside the commands so that ``itb stage run`` starts quickly.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence

from itb import __version__
from itb.errors import ItbError

STAGE_NAMES = ["download", "merge", "features", "labels", "train", "predict", "signals", "simulate"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="itb", description="itb: ML trading-signal pipelines.")
    parser.add_argument("--version", action="version", version=f"itb {__version__}")
    parser.add_argument(
        "--log-format", choices=["text", "json"], default=os.environ.get("ITB_LOG_FORMAT", "text")
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the pipeline of a config on a backend")
    run.add_argument("config")
    run.add_argument("--backend", help="backend name (default: the config's backend.name, 'local')")
    run.add_argument("--data-root", help="override the config's data_root (path or fsspec URL)")
    run.add_argument("--force", action="store_true", help="recompute stages even if up to date")
    run.add_argument(
        "--only",
        action="append",
        choices=STAGE_NAMES,
        metavar="STAGE",
        help="run only this stage (repeatable)",
    )
    run.add_argument(
        "--from",
        dest="start",
        choices=STAGE_NAMES,
        metavar="STAGE",
        help="run this stage and everything downstream of it",
    )
    run.add_argument("--dry-run", action="store_true", help="print the plan, run nothing")
    run.add_argument("--workers", type=int, help="stages at once (default: config, then CPU count)")
    run.add_argument("--threads", type=int, help="threads per stage (default: CPU count / workers)")

    stage = sub.add_parser("stage", help="stage-level commands (used by backends and containers)")
    stage_sub = stage.add_subparsers(dest="stage_command", required=True)
    srun = stage_sub.add_parser("run", help="run one stage of a prepared run")
    srun.add_argument("--data-root", required=True)
    srun.add_argument("--run-id", required=True)
    srun.add_argument("--stage", required=True, choices=STAGE_NAMES)
    srun.add_argument("--threads", type=int, default=int(os.environ.get("ITB_THREADS", "1")))

    validate = sub.add_parser("validate", help="check a config (structure, generators, data files)")
    validate.add_argument("config")

    sub.add_parser("plugins", help="list installed plugins and their backends")

    runs = sub.add_parser("runs", help="inspect past runs")
    runs_sub = runs.add_subparsers(dest="runs_command", required=True)
    show = runs_sub.add_parser("show", help="show a run's manifest")
    show.add_argument("run_id")
    show.add_argument("--data-root", default=None)
    show.add_argument("--config", default=None, help="take the data root from this config")
    show.add_argument("--json", action="store_true", help="print the raw manifest")
    listing = runs_sub.add_parser("list", help="list runs under a data root")
    listing.add_argument("--data-root", default=None)
    listing.add_argument("--config", default=None)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "stage":
            return _stage_run(args)
        if args.command == "run":
            return _run(args)
        if args.command == "validate":
            return _validate(args)
        if args.command == "plugins":
            return _plugins()
        if args.command == "runs":
            return _runs(args)
    except ItbError as exc:
        print(f"itb: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("itb: interrupted; running stages were stopped", file=sys.stderr)
        return 130
    return 2


def _stage_run(args: argparse.Namespace) -> int:
    threads = max(1, args.threads)
    for name in ("POLARS_MAX_THREADS", "OMP_NUM_THREADS"):
        os.environ.setdefault(name, str(threads))  # before polars/lightgbm are imported
    from itb.cli.logs import setup_logging
    from itb.runs.execute import execute_stage

    setup_logging(args.log_format)
    return execute_stage(args.data_root, args.run_id, args.stage, threads)


def _run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from itb.cli.report import HumanReporter, JsonReporter, print_summary
    from itb.config import load_config
    from itb.runs.runner import run_pipeline

    started = time.perf_counter()
    config = load_config(args.config, check_inputs=True)
    console = Console(stderr=True, highlight=False)
    reporter = JsonReporter() if args.log_format == "json" else HumanReporter(console)
    result = run_pipeline(
        config,
        backend=args.backend,
        data_root=args.data_root,
        force=args.force,
        only=args.only,
        start=args.start,
        dry_run=args.dry_run,
        workers=args.workers,
        threads=args.threads,
        config_source=args.config,
        reporter=reporter,
    )
    if args.dry_run:
        for line in result.manifest["plan"]:
            print(line)
        return 0
    if args.log_format == "json":
        print(json.dumps({"event": "run", "run_id": result.run_id, "status": result.status}))
    else:
        print_summary(result.manifest, Console(highlight=False), time.perf_counter() - started)
    return 0 if result.ok else 1


def _validate(args: argparse.Namespace) -> int:
    from itb.config import validate_config

    config = validate_config(args.config)
    print(
        f"{args.config}: valid ({len(config.feature_sets)} feature sets, {len(config.label_sets)} "
        f"label sets, {len(config.train.labels) * len(config.train.algorithms)} models)"
    )
    return 0


def _plugins() -> int:
    from rich.console import Console
    from rich.table import Table

    from itb.backends.manager import plugins

    table = Table("plugin", "distribution", "version", "backends")
    for row in plugins():
        table.add_row(row["plugin"], row["distribution"], row["version"], row["backends"])
    Console().print(table)
    return 0


def _data_root(args: argparse.Namespace) -> str:
    from itb.config import load_config
    from itb.runs.runner import resolve_data_root

    if args.data_root:
        return str(args.data_root)
    if args.config:
        config = load_config(args.config)
        return resolve_data_root(config, None)
    return resolve_data_root_default()


def resolve_data_root_default() -> str:
    return os.path.abspath("data")


def _runs(args: argparse.Namespace) -> int:
    from rich.console import Console

    from itb.errors import ConfigError
    from itb.storage import Storage

    storage = Storage(_data_root(args))
    if args.runs_command == "list":
        names = sorted({p.split("/")[1] for p in storage.list("runs") if p.endswith("manifest.json")})
        for name in names:
            manifest = storage.read_json(f"runs/{name}/manifest.json")
            print(f"{name}  {manifest['status']:<10} {manifest['backend']}")
        return 0
    try:
        manifest = storage.read_json(f"runs/{args.run_id}/manifest.json")
    except FileNotFoundError:
        raise ConfigError(f"no run {args.run_id!r} under {storage.root_url}") from None
    if args.json:
        print(json.dumps(manifest, indent=2))
        return 0
    from itb.cli.report import summary_table

    Console().print(summary_table(manifest))
    return 0
