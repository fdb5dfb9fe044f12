"""``itb trade status|stop|resume CONFIG [--data-root URL] [--symbols ...] [--json]``: the kill switch
and what the trader believes, read from (and written to) the data root, so it works whether or not
the service runs, and survives its restarts. ``stop`` takes effect at the service's next candle (open
orders are cancelled then; ``/stop`` over HTTP cancels them at once)."""

from __future__ import annotations

import argparse
import json
import time

from itb.config import load_config
from itb.errors import ConfigError
from itb.serve.cli import symbol_configs
from itb.storage.store import Storage
from itb.trade.journal import Control, load_control, load_state, save_control
from itb.trade.status import status_lines, trade_status


def trade_command(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    if not any(s.generator == "trader_binance" for s in config.output_sets):
        raise ConfigError(f"{args.config}: output_sets has no trader_binance")
    for symbol_config in symbol_configs(config, args.data_root, args.symbols):
        storage = Storage(symbol_config.data_root)
        symbol = symbol_config.symbol
        if args.action in ("stop", "resume"):
            now = int(time.time() * 1000)
            if args.action == "stop":
                reason = args.reason or "stopped from the command line"
                control = Control(state="stopped", reason=reason, by="cli", at_ms=now)
            else:
                control = Control(state="running", by="cli", at_ms=now)
            save_control(storage, symbol, control)
        state = load_state(storage, symbol, live=True) or load_state(storage, symbol, live=False)
        status = trade_status(symbol, state, load_control(storage, symbol))
        print(json.dumps(status) if args.json else "\n".join(status_lines(status)))
    return 0
