"""``itb serve CONFIG`` (live), ``itb serve CONFIG --replay FROM TO`` and ``itb serve audit CONFIG
[--day D]``: argument handling and what they print. The work is in :mod:`itb.serve.live`,
:mod:`itb.serve.replay` and :mod:`itb.serve.audit`."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from itb.config import load_config
from itb.config.models import PipelineConfig
from itb.errors import ConfigError
from itb.runs.runner import resolve_data_root
from itb.serve.audit import TOLERANCE, AuditReport, audit_symbol
from itb.serve.health import parse_http
from itb.serve.live import LiveSettings, run_live
from itb.serve.log_format import LogMessages, setup_serve_logging
from itb.serve.messages import ConsoleFactory
from itb.serve.output_sets import ConfiguredOutputs, configured_outputs
from itb.serve.replay import ReplayReport, replay_symbol
from itb.serve.ticks import RowSink
from itb.storage.store import Storage
from itb.timefmt import utc_day, utc_minute
from itb.trade.factory import TradingMode

#: Differences printed per symbol (all are counted).
SHOWN_DIFFERENCES = 20


def _day_ms(text: str, option: str) -> int:
    try:
        value = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise ConfigError(f"{option}: {text!r} is not a UTC day like 2024-03-30") from None
    return int(value.timestamp() * 1000)


def symbol_configs(
    config: PipelineConfig, data_root: str | None, only: list[str] | None
) -> list[PipelineConfig]:
    """The single-symbol configs to serve (``--symbols`` picks some), each with the data root
    ``itb run`` trained it into (``<data_root>/<SYMBOL>`` for a config with ``symbols``)."""
    root = resolve_data_root(config, data_root)
    config = config.model_copy(update={"data_root": root})
    symbols = config.symbols or [config.symbol]
    unknown = [s for s in only or [] if s not in symbols]
    if unknown:
        raise ConfigError(f"--symbols: {unknown[0]!r} is not a symbol of the config ({', '.join(symbols)})")
    chosen = [s for s in symbols if not only or s in only]
    return [config.for_symbol(s) if config.symbols else config for s in chosen]


class ConsoleSignals:
    """Prints a line when a signal column starts firing (the replay's console output): a signal
    that stays on for many candles is one line, not one per candle."""

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self._firing: set[str] = set()

    def send(self, row: Mapping[str, Any]) -> None:
        fired = {k for k, v in row.items() if v is True and k != "backfilled"}
        started = sorted(fired - self._firing)
        self._firing = fired
        if not started:
            return
        when = utc_minute(row["timestamp"])
        scores = "  ".join(f"{k} {v:+.4f}" for k, v in row.items() if k.endswith("score") and v is not None)
        print(f"{when}  {self.symbol}  close {row['close']:,.2f}  {scores}  {' '.join(started)}", flush=True)


def _replay_summary(report: ReplayReport, root: str) -> str:
    if not report.processed:
        done = report.already_logged
        return f"{report.symbol}: nothing to replay ({done} candles already logged under {root})"
    p50, p99, rate = report.percentile(50), report.percentile(99), report.candles_per_second
    return (
        f"{report.symbol}: {report.processed} candles replayed ({report.already_logged} already logged), "
        f"compute p50 {p50:.2f} ms, p99 {p99:.2f} ms, {rate:,.0f} candles/s; signals {report.signal_counts}; "
        f"live log {root}/live/{report.symbol}/"
    )


def _console(args: argparse.Namespace) -> ConsoleFactory | None:
    """Where the outputs' messages go without Telegram: JSON ``message`` events with
    ``--log-format json`` (every stdout line stays JSON), else printed lines."""
    return (lambda photos: LogMessages(photos)) if args.log_format == "json" else None


def _serve(path: str, args: argparse.Namespace) -> int:
    if args.replay is None:
        return _live(path, args)
    start, end = _day_ms(args.replay[0], "--replay FROM"), _day_ms(args.replay[1], "--replay TO")
    if end <= start:
        raise ConfigError(f"--replay: TO ({args.replay[1]}) must be after FROM ({args.replay[0]})")
    for config in symbol_configs(load_config(path), args.data_root, args.symbols):
        sinks = [] if args.quiet or args.log_format == "json" else [ConsoleSignals(config.symbol)]
        outputs = configured_outputs(
            config, _console(args), trading=TradingMode(live_flag=args.live, replay=True)
        )
        for note in outputs.skipped:
            print(f"itb serve: {note}", file=sys.stderr)
        try:
            report = replay_symbol(config, Storage(config.data_root), start, end, sinks, outputs)
        finally:
            outputs.close()
        if args.log_format == "json":
            fields = {"symbol": report.symbol, "processed": report.processed,
                      "already_logged": report.already_logged, "compute_ms_p50": report.percentile(50),
                      "compute_ms_p99": report.percentile(99), "signals": report.signal_counts}  # fmt: skip
            print(json.dumps({"event": "replay", **fields}))
        else:
            print(_replay_summary(report, config.data_root))
    return 0


def _live(path: str, args: argparse.Namespace) -> int:
    settings = LiveSettings.from_env(args.close_delay_s)
    http = None if args.http is None else parse_http(args.http)
    configs = symbol_configs(load_config(path), args.data_root, args.symbols)

    def sinks(symbol: str) -> list[RowSink]:
        return [] if args.quiet or args.log_format == "json" else [ConsoleSignals(symbol)]

    def outputs(config: PipelineConfig) -> ConfiguredOutputs:
        built = configured_outputs(config, _console(args), trading=TradingMode(live_flag=args.live))
        for note in built.skipped:
            print(f"itb serve: {note}", file=sys.stderr)
        return built

    return run_live(configs, settings, sinks, outputs, http)


def _audit_lines(report: AuditReport) -> list[str]:
    span = report.days[0] if len(report.days) == 1 else f"{report.days[0]} .. {report.days[-1]}"
    lines = [
        f"{report.symbol} {span}: {report.rows} logged rows, {report.covered} in the batch outputs, "
        f"{report.columns} columns: {len(report.differences)} differences, max relative "
        f"{report.max_relative:.3g} (tolerance {TOLERANCE:g})"
    ]
    for d in report.differences[:SHOWN_DIFFERENCES]:
        when = utc_minute(d.timestamp)
        lines.append(
            f"  {when} {d.table} {d.column}: live {d.live!r} batch {d.batch!r} (relative {d.relative:.3g})"
        )
    if len(report.differences) > SHOWN_DIFFERENCES:
        lines.append(f"  ... {len(report.differences) - SHOWN_DIFFERENCES} more")
    if report.other_model_rows:
        lines.append(
            f"  {report.other_model_rows} rows were scored by other models than the data root holds now "
            "(retrained since): their scores and signals differ from the new batch outputs"
        )
    if report.covered == 0:
        lines.append(
            "  no logged row is in the batch outputs: nothing was checked (run `itb run` over the range)"
        )
    return lines


def _audit(path: str, args: argparse.Namespace) -> int:
    if args.day is not None:
        utc_day(_day_ms(args.day, "--day"))
    failed = False
    for config in symbol_configs(load_config(path), args.data_root, args.symbols):
        report = audit_symbol(config, Storage(config.data_root), args.day)
        failed = failed or report.failed
        if args.log_format == "json":
            print(json.dumps({"event": "audit", "symbol": report.symbol, "rows": report.rows,
                              "covered": report.covered, "differences": len(report.differences),
                              "max_relative": report.max_relative, "failed": report.failed}))  # fmt: skip
        else:
            print("\n".join(_audit_lines(report)))
    return 1 if failed else 0


def serve_command(args: argparse.Namespace) -> int:
    """``itb serve CONFIG ...`` or ``itb serve audit CONFIG ...``; returns the exit code."""
    words: list[str] = args.words
    setup_serve_logging("json" if args.log_format == "json" else "text")
    if words[0] == "audit":
        if len(words) != 2:
            raise ConfigError("usage: itb serve audit CONFIG [--day YYYY-MM-DD] [--data-root URL]")
        return _audit(words[1], args)
    if len(words) != 1:
        raise ConfigError(
            "usage: itb serve CONFIG [--replay FROM TO] [--data-root URL] (or: itb serve audit CONFIG)"
        )
    return _serve(words[0], args)
