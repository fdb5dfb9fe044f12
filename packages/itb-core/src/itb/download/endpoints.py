"""Where to fetch from and what: base URLs (config, overridable by the environment), intervals, series.

Base URLs are a scheme and host; the paths are added by python-binance (``/api/v3/klines``,
``/fapi/v1/klines``) and by :mod:`itb.download.archive` (``/data/spot/monthly/klines/...``). Keeping
only the host configurable lets a test point everything at a local fake server with three variables.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from itb.config.models import DownloadConfig, PipelineConfig, parse_freq
from itb.errors import ConfigError

Market = Literal["spot", "futures-um"]

ENV_API_URL = "ITB_BINANCE_API_URL"
ENV_FAPI_URL = "ITB_BINANCE_FAPI_URL"
ENV_DATA_URL = "ITB_BINANCE_DATA_URL"

_BASE_URL = re.compile(r"^https?://[^/?#\s]+/?$")

#: Binance kline intervals of fixed length, by length in seconds (``1M`` has no fixed length).
BINANCE_INTERVALS = {
    1: "1s", 60: "1m", 180: "3m", 300: "5m", 900: "15m", 1800: "30m", 3600: "1h", 7200: "2h",
    14400: "4h", 21600: "6h", 28800: "8h", 43200: "12h", 86400: "1d", 259200: "3d", 604800: "1w",
}  # fmt: skip

#: The largest ``limit`` each market's klines endpoint accepts.
MAX_PAGE = {"spot": 1000, "futures-um": 1500}
#: Request weight per minute Binance allows by default.
DEFAULT_WEIGHT_LIMIT = {"spot": 6000, "futures-um": 2400}


@dataclass(frozen=True)
class Endpoints:
    """Scheme-and-host base URLs of the three Binance services used."""

    api_url: str
    fapi_url: str
    data_url: str


def _base_url(value: str, origin: str) -> str:
    if not _BASE_URL.match(value):
        raise ConfigError(f"{origin}: {value!r} must be a scheme and host such as 'https://api.binance.com'")
    return value.rstrip("/")


def resolve_endpoints(settings: DownloadConfig, environ: dict[str, str] | None = None) -> Endpoints:
    """The base URLs: the environment wins over the config, so CI or a mirror needs no config edit."""
    env = os.environ if environ is None else environ
    urls = []
    for var, value, key in (
        (ENV_API_URL, settings.api_url, "download.api_url"),
        (ENV_FAPI_URL, settings.fapi_url, "download.fapi_url"),
        (ENV_DATA_URL, settings.data_url, "download.data_url"),
    ):
        override = env.get(var)
        urls.append(_base_url(override, var) if override else _base_url(value, key))
    return Endpoints(*urls)


def binance_interval(freq: str) -> tuple[str, int]:
    """``(binance_name, length_ms)`` of a config interval (``1m``, ``1min``, ``1h`` ...)."""
    seconds = int(parse_freq(freq).total_seconds())
    name = BINANCE_INTERVALS.get(seconds)
    if name is None:
        known = ", ".join(BINANCE_INTERVALS.values())
        raise ConfigError(f"interval {freq!r} is not a Binance kline interval (use one of {known})")
    return name, seconds * 1000


@dataclass(frozen=True)
class Series:
    """One thing to download: a symbol's klines of one interval on one market.

    ``folder`` is the interval as written in the config: it names the storage folder, so the merge
    stage finds the data at :func:`itb.storage.sources.default_location` (``.../<config freq>/``).
    """

    market: Market
    symbol: str
    folder: str
    interval: str
    interval_ms: int

    @property
    def api_symbol(self) -> str:
        return self.symbol.upper()

    @property
    def prefix(self) -> str:
        return f"klines/{self.market}/{self.symbol}/{self.folder}"

    @property
    def label(self) -> str:
        return f"{self.market} {self.symbol} {self.interval}"


def plan_series(config: PipelineConfig) -> list[Series]:
    """Every (market, symbol, interval) of the data sources without a ``path``, deduplicated."""
    folders = config.download.intervals or [config.freq]
    seen: dict[tuple[str, str, str], Series] = {}
    for source in config.data_sources:
        if source.path is not None:
            continue
        for folder in folders:
            name, length = binance_interval(folder)
            key = (source.market, source.symbol, folder)
            seen.setdefault(key, Series(source.market, source.symbol, folder, name, length))
    return list(seen.values())


def to_ms(value: datetime) -> int:
    """Epoch milliseconds of a datetime; a naive one is taken as UTC (as everywhere in itb)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1000)


def with_overrides(
    config: PipelineConfig,
    symbols: list[str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    archive: bool | None = None,
) -> PipelineConfig:
    """The config narrowed to ``symbols`` and with the download range/archive set (``itb download``)."""
    settings = config.download
    update: dict[str, object] = {}
    if start is not None:
        update["start"] = start
    if end is not None:
        update["end"] = end
    if archive is not None:
        update["archive"] = archive
    settings = settings.model_copy(update=update)
    first, last = settings.start, settings.end
    if first is not None and last is not None and to_ms(first) >= to_ms(last):
        raise ConfigError(f"download start {settings.start} is not before end {settings.end}")
    sources = [s for s in config.data_sources if s.path is None]
    if symbols:
        wanted = {s.upper() for s in symbols}
        unknown = wanted - {s.symbol.upper() for s in sources}
        if unknown:
            known = ", ".join(sorted({s.symbol for s in sources})) or "none"
            raise ConfigError(
                f"symbol(s) {', '.join(sorted(unknown))} are not data sources to download in this config "
                f"(downloadable: {known}); add them to data_sources without a 'path'"
            )
        sources = [s for s in sources if s.symbol.upper() in wanted]
    if not sources:
        raise ConfigError("nothing to download: every data source of this config sets 'path'")
    return config.model_copy(update={"data_sources": sources, "download": settings})
