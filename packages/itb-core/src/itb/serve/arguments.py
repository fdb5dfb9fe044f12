"""The ``itb serve`` arguments, apart from the command (imports nothing heavy: every ``itb``
command builds its parser)."""

from __future__ import annotations

import argparse


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """One parser for ``itb serve CONFIG ...`` and ``itb serve audit CONFIG ...``."""
    parser.add_argument(
        "words", nargs="+", metavar="[audit] CONFIG", help="a config, or 'audit' and a config"
    )
    parser.add_argument("--data-root", help="override the config's data_root (path or fsspec URL)")
    parser.add_argument("--symbols", nargs="+", metavar="SYMBOL", help="only these of the config's symbols")
    parser.add_argument(
        "--replay",
        nargs=2,
        metavar=("FROM", "TO"),
        help="replay the stored klines of UTC days [FROM, TO) with a simulated clock",
    )
    parser.add_argument("--day", help="audit: only this UTC day (YYYY-MM-DD) of the live log")
    parser.add_argument("--quiet", action="store_true", help="replay: do not print each signal")
    parser.add_argument(
        "--close-delay-s",
        type=float,
        default=1.0,
        metavar="S",
        help="live: seconds after a candle's close before asking the exchange for it (default 1)",
    )
    parser.add_argument(
        "--live",
        action="store_true",
        help='live: let trader_binance outputs with "live": true place real orders (else a dry run)',
    )
    parser.add_argument(
        "--http",
        metavar="HOST:PORT",
        help="live: serve /healthz, /readyz and /metrics here (e.g. 127.0.0.1:8080)",
    )
    parser.add_argument(
        "--log-format",
        choices=["text", "json"],
        default=argparse.SUPPRESS,  # absent: itb's own --log-format (or $ITB_LOG_FORMAT) stands
        help="text lines on stderr (default), or one JSON object per line on stdout",
    )
