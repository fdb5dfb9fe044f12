"""The ``itb trade`` arguments (imports nothing heavy: every ``itb`` command builds its parser)."""

from __future__ import annotations

import argparse

ACTIONS = ("status", "stop", "resume")


def add_trade_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=ACTIONS, help="show the state, stop trading, or resume it")
    parser.add_argument("config", metavar="CONFIG", help="the config the service trades with")
    parser.add_argument("--data-root", help="override the config's data_root (path or fsspec URL)")
    parser.add_argument("--symbols", nargs="+", metavar="SYMBOL", help="only these of the config's symbols")
    parser.add_argument("--json", action="store_true", help="one JSON object per symbol")
    parser.add_argument("--reason", default="", help="stop: why (shown by status)")
