"""What a person (rich) or a machine (JSON lines) sees while a run goes and when it ends."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

from itb.runs.runner import StageEvent

SYMBOLS = {
    "running": "[cyan]…[/]",
    "succeeded": "[green]✓[/]",
    "skipped": "[dim]=[/]",
    "failed": "[red]✗[/]",
    "not_run": "[yellow]-[/]",
}


def output_rows(record: dict[str, Any]) -> int | None:
    rows = [o.get("rows") for o in record.get("outputs", {}).values() if o.get("rows") is not None]
    return max(rows) if rows else None


class HumanReporter:
    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True, highlight=False)

    def __call__(self, event: StageEvent) -> None:
        r = event.record
        name = event.stage if event.symbol is None else f"{event.symbol} {event.stage}"
        if event.status == "running":
            self.console.print(f" {SYMBOLS['running']} {name:<9} running ({r.get('reason', '')})")
            return
        rows = output_rows(r)
        detail = f"{r.get('duration_s', 0):7.2f}s" + (f"  {rows:>10,} rows" if rows is not None else "")
        if event.status == "skipped":
            detail = "up to date"
        self.console.print(f" {SYMBOLS.get(event.status, '?')} {name:<9} {event.status:<9} {detail}")
        if event.status in ("failed",):
            self.console.print(f"   [red]{r.get('error', '')}[/]")
            if r.get("log_tail"):
                self.console.print("   [dim]log tail:[/]")
                for line in str(r["log_tail"]).splitlines():
                    self.console.print(f"   [dim]│[/] {line}", markup=False, highlight=False)


class JsonReporter:
    def __call__(self, event: StageEvent) -> None:
        keep = {k: v for k, v in event.record.items() if k not in ("log_tail",)}
        if event.symbol is not None:
            keep["symbol"] = event.symbol
        print(
            json.dumps({"event": "stage", "stage": event.stage, "status": event.status, **keep}, default=str),
            file=sys.stderr,
            flush=True,
        )


def sections(manifest: dict[str, Any]) -> list[tuple[str | None, dict[str, Any]]]:
    """``(symbol, section)`` per symbol of a multi-symbol run, or ``[(None, manifest)]``: each
    section has ``status`` and ``stages``."""
    if "symbols" in manifest:
        return list(manifest["symbols"].items())
    return [(None, manifest)]


def summary_tables(manifest: dict[str, Any]) -> list[Table]:
    """One table per symbol (one for a single-symbol run)."""
    return [summary_table(manifest, symbol) for symbol, _ in sections(manifest)]


def summary_table(manifest: dict[str, Any], symbol: str | None = None) -> Table:
    section = manifest if symbol is None else manifest["symbols"][symbol]
    title = f"run {manifest['run_id']}" + (f" {symbol}" if symbol else "") + f" — {section['status']}"
    table = Table(title=title, title_justify="left")
    for column in ("stage", "status", "seconds", "rows", "note"):
        table.add_column(column, justify="right" if column in ("seconds", "rows") else "left")
    for name, record in section["stages"].items():
        rows = output_rows(record)
        note = record.get("error") or ""
        table.add_row(
            name,
            record["status"],
            f"{record.get('duration_s', 0):.2f}",
            f"{rows:,}" if rows is not None else "",
            note[:80],
        )
    return table


def print_summary(manifest: dict[str, Any], console: Console, elapsed: float) -> None:
    for symbol, section in sections(manifest):
        console.print(summary_table(manifest, symbol))
        stages = section["stages"]
        holdout = stages.get("predict", {}).get("metrics", {}).get("holdout", {})
        for model, m in holdout.items():
            console.print(
                f" model {model}: holdout AUC {m.get('auc')}, precision {m.get('precision')}, "
                f"recall {m.get('recall')} ({m.get('rows'):,} rows)"
            )
        sim = stages.get("simulate", {}).get("metrics")
        if sim:
            console.print(
                f" backtest: {sim.get('trades')} trades, profit {sim.get('profit_pct'):.2f}%, "
                f"win rate {sim.get('win_rate')}, max drawdown {sim.get('max_drawdown_pct'):.2f}% "
                f"(buy and hold {sim.get('buy_and_hold_pct', 0):.2f}%)"
            )
    console.print(
        f" manifest: {manifest['data_root']}/runs/{manifest['run_id']}/manifest.json ({elapsed:.2f}s)"
    )
