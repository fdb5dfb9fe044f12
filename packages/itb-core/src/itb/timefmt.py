"""Epoch milliseconds (UTC) as the text itb prints and stores: the formats in one place.

Reports, manifests, file names and messages all show candle times; keeping the conversions here
means one format per purpose (ISO instant, day, minute, month) instead of a copy in every module.
"""

from __future__ import annotations

from datetime import UTC, datetime


def _utc(ms: float) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def iso_ms(ms: float) -> str:
    """``2024-03-30T12:40:00Z``: an instant in manifests, reports and error messages."""
    return _utc(ms).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_day(ms: float) -> str:
    """``2024-03-30``: a UTC day (the live log's file names, daily summaries, chart axes)."""
    return _utc(ms).strftime("%Y-%m-%d")


def utc_minute(ms: float) -> str:
    """``2024-03-30 12:40``: a candle in messages shown to people."""
    return _utc(ms).strftime("%Y-%m-%d %H:%M")


def utc_month(ms: float) -> str:
    """``2024-03``: a monthly partition of stored klines."""
    return _utc(ms).strftime("%Y-%m")
