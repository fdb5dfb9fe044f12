"""``itb``: run pipelines, run single stages (the container entry point), validate configs.

Exit codes: 0 success, 1 a stage failed, 2 bad input (config, arguments, data, a locked data root),
130 interrupted (Ctrl-C), 143 terminated (SIGTERM).
Heavy modules are imported inside the commands so that ``itb stage run`` starts quickly.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from itb import __version__
from itb.errors import ConfigError, ItbError
from itb.serve.arguments import add_serve_arguments
from itb.threads import budget_from_env, set_default_thread_env
from itb.trade.arguments import add_trade_arguments

STAGE_NAMES = ["download", "merge", "features", "labels", "train", "candidate", "promote", "predict",
               "predict_rolling", "signals", "simulate"]  # fmt: skip


def _parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The ``itb`` parser; plugin commands are added unless ``argv`` starts with a built-in command
    (so ``itb stage run`` does not pay for loading every plugin before it needs them)."""
    parser = argparse.ArgumentParser(prog="itb", description="itb: ML trading-signal pipelines.")
    parser.add_argument("--version", action="version", version=f"itb {__version__}")
    parser.add_argument(
        "--log-format", choices=["text", "json"], default=os.environ.get("ITB_LOG_FORMAT", "text")
    )
    parser.set_defaults(plugin_command=None)
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
    run.add_argument(
        "--candidate",
        action="store_true",
        help="train into models/candidates/<run_id>/ and promote only through the config's promotion gate",
    )
    run.add_argument("--workers", type=_positive_int, help="stages at once (default: config, then CPU count)")
    run.add_argument("--threads", type=_positive_int, help="threads per stage (default: CPU count / workers)")
    run.add_argument(
        "--wait", action="store_true", help="if another run holds the data root, wait for it to end"
    )
    _add_break_lock(run)

    stage = sub.add_parser("stage", help="stage-level commands (used by backends and containers)")
    stage_sub = stage.add_subparsers(dest="stage_command", required=True)
    srun = stage_sub.add_parser("run", help="run one stage of a prepared run")
    srun.add_argument("--data-root", required=True)
    srun.add_argument("--run-id", required=True, type=_run_id)
    srun.add_argument("--stage", required=True, choices=STAGE_NAMES)
    srun.add_argument("--threads", type=_positive_int, default=budget_from_env())
    srun.add_argument(
        "--step", default=None, help="run one step of a fanned-out stage (default: the whole stage)"
    )

    download = sub.add_parser(
        "download", help="fetch klines from Binance into the data root (incremental, resumable)"
    )
    download.add_argument("config")
    download.add_argument(
        "--symbols", nargs="+", metavar="SYMBOL", help="only these symbols of the config's data sources"
    )
    download.add_argument(
        "--start", type=_utc_time, help="first candle, UTC date or ISO time (overrides download.start)"
    )
    download.add_argument(
        "--end", type=_utc_time, help="fetch candles opening before this UTC time (overrides download.end)"
    )
    download.add_argument("--data-root", help="override the config's data_root (path or fsspec URL)")
    download.add_argument(
        "--no-archive", action="store_true", help="use only the REST API, not the monthly archives"
    )
    _add_break_lock(download)

    promote = sub.add_parser(
        "promote", help="judge a candidate (itb run --candidate) against the live models; switch if better"
    )
    promote.add_argument("config")
    promote.add_argument("--run", type=_run_id, help="the candidate's run id (default: the newest candidate)")
    promote.add_argument("--data-root", help="override the config's data_root (path or fsspec URL)")
    _add_break_lock(promote)

    add_serve_arguments(sub.add_parser("serve", help="replay klines through the live engine; audit its log"))

    add_trade_arguments(sub.add_parser("trade", help="live trading: status, stop (kill switch), resume"))
    validate = sub.add_parser("validate", help="check a config (structure, generators, data files)")
    validate.add_argument("config")

    sub.add_parser("plugins", help="list installed plugins and what each provides")

    port = sub.add_parser("port", help="convert an intelligent-trading-bot config to an itb config")
    port.add_argument("source", help="the intelligent-trading-bot config (JSON/JSONC)")
    port.add_argument("-o", "--output", help="write the itb config here (default: standard output)")
    port.add_argument(
        "--drop-unsupported", action="store_true", help="leave out what itb cannot run (MT5, ticks, nn)"
    )

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
    clean = runs_sub.add_parser(
        "clean", help="delete what a run left on its backend (e.g. aci container groups of a killed run)"
    )
    clean.add_argument("run_id", type=_run_id)
    clean.add_argument("--config", default=None, help="the run's config: its data root and backend options")
    clean.add_argument("--data-root", default=None)
    clean.add_argument("--backend", help="default: the run's backend (its manifest), then the config's")
    if not argv or argv[0] not in sub.choices:  # --help, options first, a plugin command or a typo
        _add_plugin_commands(sub)
    return parser


def _add_plugin_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Commands from plugins (``itb_add_commands``), e.g. ``itb azure`` from itb-azure."""
    from itb.cli.commands import CommandRegistry
    from itb.plugins.manager import fill

    commands = CommandRegistry(reserved=sub.choices)
    fill("itb_add_commands", commands)
    for command in commands.values():
        parser = sub.add_parser(command.name, help=command.help)
        command.configure(parser)
        parser.set_defaults(plugin_command=command)


def _add_break_lock(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--break-lock",
        action="store_true",
        help="remove a stale data root lock (a killed run's or download's: its process is gone) first",
    )


def _positive_int(text: str) -> int:
    """An argparse type: an integer >= 1 (bad input exits with 2 and says why)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {value})")
    return value


def _run_id(text: str) -> str:
    """An argparse type: a run id as the runner makes them (it is a folder name under the root)."""
    from itb.runs.ids import RUN_ID_PATTERN

    if not RUN_ID_PATTERN.match(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a run id (like 20261123T224512Z-1a2b3c)")
    return text


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = _parser(argv).parse_args(argv)
    except ItbError as exc:  # a broken plugin: it fails every command, with one line naming it
        print(f"itb: error: {exc}", file=sys.stderr)
        return exc.exit_code
    try:
        if args.plugin_command is not None:
            return int(args.plugin_command.run(args))
        if args.command == "stage":
            return _stage_run(args)
        if args.command == "run":
            return _run(args)
        if args.command == "download":
            return _download(args)
        if args.command == "validate":
            return _validate(args)
        if args.command == "plugins":
            return _plugins()
        if args.command == "port":
            return _port(args)
        if args.command == "runs":
            return _runs(args)
        if args.command == "serve":
            return _serve(args)
        if args.command == "promote":
            return _promote(args)
        if args.command == "trade":
            from itb.trade.cli import trade_command

            return trade_command(args)
    except ItbError as exc:
        print(f"itb: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("itb: interrupted; running stages were stopped", file=sys.stderr)
        return 130
    except BaseException as exc:
        from itb.runs.runner import EXIT_TERMINATED, Terminated

        if isinstance(exc, Terminated):
            print("itb: terminated (SIGTERM); running stages were stopped", file=sys.stderr)
            return EXIT_TERMINATED
        raise
    return 2


def _stage_run(args: argparse.Namespace) -> int:
    threads = max(1, args.threads)
    set_default_thread_env(threads)  # before polars/lightgbm are imported
    from itb.cli.logs import setup_logging
    from itb.cli.process import tune_malloc
    from itb.runs.execute import execute_stage

    tune_malloc()
    setup_logging(args.log_format)
    return execute_stage(args.data_root, args.run_id, args.stage, threads, step=args.step, own_process=True)


def _early_backend(args: argparse.Namespace) -> Any:
    """The run's backend, created and prepared from the raw config before it is validated.

    Validating a config imports polars, numpy and every generator (about half a second); the
    local backend's fork server imports the same. Starting the backend first lets both happen at
    once. This is a guess from the unvalidated ``backend`` section: :func:`_run` uses it only if the
    validated config asks for the same backend settings, and closes it otherwise (or on any error).
    """
    from itb.backends.parallelism import resolve_parallelism
    from itb.config import jsonc
    from itb.config.models import BackendSettings
    from itb.plugins.manager import create_backend

    if args.dry_run:
        return None
    try:
        raw = jsonc.loads(Path(args.config).read_text(encoding="utf-8"))
        settings = BackendSettings.model_validate(raw.get("backend") or {})
        name = args.backend or settings.name
        engine, info = create_backend(name, settings.options.get(name))
    except Exception:  # load_config reports any problem properly right after
        return None
    workers, threads = resolve_parallelism(
        settings, info.default_workers, args.workers, args.threads, info.default_threads
    )
    engine.prepare(threads)
    return argparse.Namespace(engine=engine, name=name, settings=settings, workers=workers, threads=threads)


def _run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    early = _early_backend(args)  # first: everything imported below overlaps its warm-up
    try:
        from itb.config.loader import load_run_config

        config = load_run_config(args.config)
        if args.candidate:
            config = config.model_copy(
                update={"promotion": config.promotion.model_copy(update={"candidate": True})}
            )
    except BaseException:
        if early is not None:
            early.engine.close()
        raise
    from rich.console import Console

    from itb.cli.report import HumanReporter, JsonReporter, print_summary
    from itb.runs.runner import run_pipeline

    backend, workers, threads = args.backend, args.workers, args.threads
    if early is not None:
        if early.name == (args.backend or config.backend.name) and early.settings == config.backend:
            backend, workers, threads = early.engine, early.workers, early.threads
        else:
            early.engine.close()
    console = Console(stderr=True, highlight=False)
    reporter = JsonReporter() if args.log_format == "json" else HumanReporter(console)
    result = run_pipeline(
        config,
        backend=backend,
        data_root=args.data_root,
        force=args.force,
        only=args.only,
        start=args.start,
        dry_run=args.dry_run,
        workers=workers,
        threads=threads,
        config_source=args.config,
        reporter=reporter,
        wait=args.wait,
        break_lock=args.break_lock,
        on_lock_wait=lambda holder: print(f"itb: waiting for {holder.describe()}", file=sys.stderr),
    )
    if args.dry_run:
        for note in result.manifest.plan_notes or []:
            print(f"itb: {note}", file=sys.stderr)
        for line in result.manifest.plan or []:
            print(line)
        return 0
    if args.log_format == "json":
        print(json.dumps({"event": "run", "run_id": result.run_id, "status": result.status.value}))
    else:
        print_summary(result.manifest, Console(highlight=False), time.perf_counter() - started)
    return result.exit_code


def _utc_time(text: str) -> datetime:
    """An argparse type: ``2024-01-31`` or an ISO time; naive means UTC. Bad input exits with 2."""
    from datetime import UTC

    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        problem = f"{text!r} is not a date like 2024-01-31 or 2024-01-31T12:00Z"
        raise argparse.ArgumentTypeError(problem) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _download(args: argparse.Namespace) -> int:
    from rich.console import Console

    from itb.cli.report import HumanReporter, JsonReporter
    from itb.config import load_config
    from itb.download.endpoints import with_overrides
    from itb.runs.runner import run_pipeline

    config = load_config(args.config)
    config = with_overrides(
        config, args.symbols, args.start, args.end, archive=False if args.no_archive else None
    )
    console = Console(stderr=True, highlight=False)
    reporter = JsonReporter() if args.log_format == "json" else HumanReporter(console)
    # In this process: the progress bars reach the terminal, and a kill stops the download at once.
    result = run_pipeline(
        config,
        backend="inprocess",
        data_root=args.data_root,
        only=["download"],
        config_source=args.config,
        reporter=reporter,
        break_lock=args.break_lock,
    )
    report: dict[str, Any] = {}
    for _, section in result.manifest.sections():  # a multi-symbol config downloads per symbol
        record = section.stages.get("download")
        found = record.metrics.get("download", {}) if record is not None else {}
        if found:
            report = {**found, "series": [*report.get("series", []), *found.get("series", [])]}
    if args.log_format == "json":
        print(json.dumps({"event": "download", "run_id": result.run_id, "status": result.status.value,
                          **report}))  # fmt: skip
    elif report:
        _print_download_report(report, result.run_id)
    return result.exit_code


def _print_download_report(report: dict[str, Any], run_id: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("series", "rows added", "range (UTC)", "gaps (missing)", "pages", "archives", "retries")
    for row in report.get("series", []):
        span = " .. ".join(t.replace("T", " ")[:16] for t in row["range"]) if row.get("range") else "-"
        table.add_row(
            f"{row['market']} {row['symbol']} {row['interval']}",
            f"{row['rows_added']:,}",
            span,
            f"{row['gaps_total']} ({row['missing_total']:,})",
            str(row["rest_pages"]),
            str(row["archive_files"]),
            str(row["retries"]),
        )
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=140)  # a log or a pipe: keep one series per line
    console.print(table)
    for row in report.get("series", []):
        if row.get("note"):
            console.print(f"{row['market']} {row['symbol']} {row['interval']}: {row['note']}")
    console.print(f"report: runs/{run_id}/manifest.json (stages.download.metrics)")


def _validate(args: argparse.Namespace) -> int:
    from itb.config import validate_config

    config = validate_config(args.config)
    print(
        f"{args.config}: valid ({len(config.feature_sets)} feature sets, {len(config.label_sets)} "
        f"label sets, {len(config.train.labels) * len(config.train.algorithms)} models)"
    )
    return 0


def _promote(args: argparse.Namespace) -> int:
    from itb.config import load_config
    from itb.promotion.command import promote_command

    decision = promote_command(load_config(args.config), args.data_root, args.run, args.break_lock)
    print(decision.summary())
    return 0


def _port(args: argparse.Namespace) -> int:
    from itb.port.cli import port_command

    return port_command(args)


def _serve(args: argparse.Namespace) -> int:
    from itb.cli.logs import setup_logging

    setup_logging(args.log_format)
    from itb.serve.cli import serve_command

    return serve_command(args)


def _plugins() -> int:
    from rich.console import Console
    from rich.table import Table

    from itb.cli.commands import CommandRegistry
    from itb.generators.registry import generator_registry
    from itb.outputs import output_registry
    from itb.plugins.manager import backend_registry, fill, plugins

    provided: dict[str, list[str]] = {}
    commands = CommandRegistry()
    fill("itb_add_commands", commands)
    backends, generators, outputs = backend_registry(), generator_registry(), output_registry()
    for name in backends:
        provided.setdefault(backends.provider(name), []).append(f"backend {name}")
    for kind, name in generators:
        provided.setdefault(generators.provider((kind, name)), []).append(f"{kind} {name}")
    for name in commands:
        provided.setdefault(commands.provider(name), []).append(f"command itb {name}")
    for name in outputs:
        provided.setdefault(outputs.provider(name), []).append(f"output {name}")
    table = Table("plugin", "distribution", "version", "provides")
    for row in plugins(provided):
        table.add_row(row["plugin"], row["distribution"], row["version"], row["provides"])
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

    from itb.runs.ids import check_run_id
    from itb.runs.lock import read_lock
    from itb.runs.manifest import list_runs, read_manifest, shown_status
    from itb.storage import Storage

    if args.runs_command == "clean":
        from itb.runs.clean import clean_run

        return clean_run(args.run_id, args.config, args.data_root, args.backend)
    storage = Storage(_data_root(args))
    lock = read_lock(storage)
    if args.runs_command == "list":
        for manifest in list_runs(storage):
            status = shown_status(manifest, lock)
            print(f"{manifest.run_id}  {status.value:<11} {manifest.backend}")
        return 0
    check_run_id(args.run_id)
    try:
        manifest = read_manifest(storage, args.run_id)
    except FileNotFoundError:
        raise ConfigError(f"no run {args.run_id!r} under {storage.root_url}") from None
    if args.json:
        print(manifest.model_dump_json(indent=2))
        return 0
    from itb.cli.report import summary_tables, warning_lines

    console = Console()
    for table in summary_tables(manifest, shown_status(manifest, lock)):
        console.print(table)
    for line in warning_lines(manifest):
        console.print(line, highlight=False)
    return 0
