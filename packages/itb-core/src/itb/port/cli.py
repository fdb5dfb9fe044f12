"""``itb port SRC [-o DST]``: the command around :func:`itb.port.port_text` (read, write, report)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from itb.errors import ConfigError
from itb.port import port_text


def port_command(args: argparse.Namespace) -> int:
    """Port a reference-project config: the itb config to ``-o`` (or stdout), the report to stderr;
    2 when something blocks it (named), else 0."""
    source = Path(args.source)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read: {exc.strerror or exc}") from None
    outcome = port_text(text, source=source.name, target=args.output or "<stdout>",
                        drop_unsupported=args.drop_unsupported)  # fmt: skip
    if args.output:
        try:
            _write_atomically(Path(args.output), outcome.text)
        except OSError as exc:
            raise ConfigError(f"{args.output}: cannot write: {exc.strerror or exc}") from None
    else:
        sys.stdout.write(outcome.text)
    print(outcome.report.format(), file=sys.stderr)
    if outcome.problems:
        print("itb port: the ported config does not run yet:", file=sys.stderr)
        for problem in outcome.problems:
            print(f"  {problem}", file=sys.stderr)
        if outcome.report.blocking and not args.drop_unsupported:
            print("  (--drop-unsupported leaves the unsupported parts out)", file=sys.stderr)
        return 2
    print(f"itb port: {args.output or 'the output'} is a valid itb config", file=sys.stderr)
    return 0


def _write_atomically(path: Path, text: str) -> None:
    """``text`` to ``path`` through a temporary file in the same folder and a rename: an interrupted
    write leaves the previous file (or none), never half a config."""
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
