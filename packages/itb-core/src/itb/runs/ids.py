from __future__ import annotations

import secrets
from datetime import UTC, datetime


def new_run_id() -> str:
    """Sortable and unique: ``20261123T224512Z-1a2b3c``."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def run_prefix(run_id: str) -> str:
    return f"runs/{run_id}"
