"""What a person (rich) or a machine (JSON lines) sees while a run goes and when it ends."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from itb.runs.manifest import RunManifest, RunStatus, StageRecord, StageStatus
from itb.runs.runner import StageEvent

SYMBOLS = {
    StageStatus.RUNNING: "[cyan]…[/]",
    StageStatus.SUCCEEDED: "[green]✓[/]",
    StageStatus.SKIPPED: "[dim]=[/]",
    StageStatus.FAILED: "[red]✗[/]",
    StageStatus.NOT_RUN: "[yellow]-[/]",
    StageStatus.INTERRUPTED: "[red]![/]",
}


class HumanReporter:
    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True, highlight=False)

    def __call__(self, event: StageEvent) -> None:
        r = event.record
        name = event.stage if event.symbol is None else f"{event.symbol} {event.stage}"
        if event.status == StageStatus.RUNNING:
            self.console.print(
                f" {SYMBOLS[StageStatus.RUNNING]} {name:<9} running ({escape(r.reason or '')})"
            )
            return
        rows = r.rows
        detail = f"{r.duration_s or 0:7.2f}s" + (f"  {rows:>10,} rows" if rows is not None else "")
        if event.status == StageStatus.SKIPPED:
            detail = "up to date"
        self.console.print(f" {SYMBOLS.get(event.status, '?')} {name:<9} {event.status.value:<9} {detail}")
        if event.status in (StageStatus.FAILED, StageStatus.INTERRUPTED):
            self.console.print(f"   [red]{escape(r.error or '')}[/]")
            if r.log_tail:
                self.console.print("   [dim]log tail:[/]")
                for line in r.log_tail.splitlines():
                    # the frame is markup, the stage's own line is not (it may hold brackets)
                    self.console.print(f"   [dim]│[/] {escape(line)}", highlight=False)


class JsonReporter:
    def __call__(self, event: StageEvent) -> None:
        keep = event.record.model_dump(mode="json", exclude={"log_tail"}, exclude_defaults=True)
        keep.pop("status", None)
        if event.symbol is not None:
            keep["symbol"] = event.symbol
        print(
            json.dumps({"event": "stage", "stage": event.stage, "status": event.status.value, **keep}),
            file=sys.stderr,
            flush=True,
        )


def summary_tables(manifest: RunManifest, status: RunStatus | None = None) -> list[Table]:
    """One table per symbol (one for a single-symbol run); ``status`` overrides the stored one
    (``abandoned`` for a run whose runner is gone)."""
    return [summary_table(manifest, symbol, status) for symbol, _ in manifest.sections()]


def summary_table(manifest: RunManifest, symbol: str | None = None, status: RunStatus | None = None) -> Table:
    section = manifest if symbol is None or manifest.symbols is None else manifest.symbols[symbol]
    shown = status if status is not None and symbol is None else section.status
    title = f"run {manifest.run_id}" + (f" {symbol}" if symbol else "") + f" — {shown.value}"
    table = Table(title=title, title_justify="left")
    for column in ("stage", "status", "seconds", "rows", "note"):
        table.add_column(column, justify="right" if column in ("seconds", "rows") else "left")
    for name, record in section.stages.items():
        rows = record.rows
        table.add_row(
            name,
            record.status.value,
            f"{record.duration_s or 0:.2f}",
            f"{rows:,}" if rows is not None else "",
            escape((record.error or "")[:80]),
        )
    return table


def model_line(model: str, m: dict[str, Any]) -> str:
    """A model's holdout figures in words; a model that never predicted positive at the 0.5
    threshold has no precision, and its best-F1 threshold says where it does predict."""
    if "auc" not in m:  # a regressor
        return f" model {model}: holdout MAE {m.get('mae')}, R² {m.get('r2')} ({m.get('rows') or 0:,} rows)"
    threshold = m.get("threshold", 0.5)
    precision = m.get("precision")
    shown = f"{precision}" if precision is not None else f"n/a (no positive predictions at {threshold:g})"
    line = (
        f" model {model}: holdout AUC {m.get('auc')}, precision {shown}, recall {m.get('recall')} "
        f"({m.get('rows') or 0:,} rows)"
    )
    best = m.get("best_f1_threshold")
    if best is not None:
        line += f"; best F1 {m.get('best_f1')} at threshold {best:g}"
    return line


def warning_lines(manifest: RunManifest) -> list[str]:
    """The run's warnings, one line each, in rich markup (yellow)."""
    lines = []
    for w in manifest.warnings:
        where = w.stage if w.symbol is None else f"{w.symbol} {w.stage}"
        rows = f" (first rows: {', '.join(str(r) for r in w.first_rows[:5])})" if w.first_rows else ""
        lines.append(f" [yellow]warning {escape(where)}: {escape(w.kind)} x{w.count:,}: {escape(w.message)}"
                     f"{escape(rows)}[/]")  # fmt: skip
    return lines


def _stage_metrics(record: StageRecord | None) -> dict[str, Any]:
    return record.metrics if record is not None else {}


def print_summary(manifest: RunManifest, console: Console, elapsed: float) -> None:
    for symbol, section in manifest.sections():
        console.print(summary_table(manifest, symbol))
        stages = section.stages
        holdout = _stage_metrics(stages.get("predict")).get("holdout", {})
        for model, m in holdout.items():
            console.print(escape(model_line(model, m)))
        sim = _stage_metrics(stages.get("simulate"))
        if sim:
            console.print(
                f" backtest: {sim.get('trades')} trades, profit {sim.get('profit_pct'):.2f}%, "
                f"win rate {sim.get('win_rate')}, max drawdown {sim.get('max_drawdown_pct'):.2f}% "
                f"(buy and hold {sim.get('buy_and_hold_pct', 0):.2f}%)"
            )
        if section.promotion is not None:  # itb run --candidate: what the gate decided, and why
            console.print(escape(section.promotion.summary()), highlight=False)
    for line in warning_lines(manifest):
        console.print(line, highlight=False)
    console.print(
        f" manifest: {escape(manifest.data_root)}/runs/{manifest.run_id}/manifest.json ({elapsed:.2f}s)"
    )
