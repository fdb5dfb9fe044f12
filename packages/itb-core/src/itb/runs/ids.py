"""Run ids: sortable, unique, and safe as a folder name under ``<data_root>/runs/``."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime

from itb.errors import ConfigError

#: What :func:`new_run_id` makes: ``20261123T224512Z-1a2b3c``. Nothing else names a run (a run id is
#: a path segment: ``../x`` would write outside the data root).
RUN_ID_PATTERN = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{6}$")


def new_run_id() -> str:
    """Sortable and unique: ``20261123T224512Z-1a2b3c``."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def check_run_id(run_id: str) -> str:
    """``run_id`` if it has the form the runner makes, else :class:`ConfigError` (exit code 2)."""
    if not RUN_ID_PATTERN.match(run_id):
        raise ConfigError(f"{run_id!r} is not a run id (they look like 20261123T224512Z-1a2b3c)")
    return run_id


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def run_prefix(run_id: str) -> str:
    return f"runs/{run_id}"
