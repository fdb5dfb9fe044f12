"""The bulk path: Binance's public kline archives, one zip per month (or day), each with a checksum.

Layout (as on the real server): ``<data_url>/data/spot/monthly/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01.zip``
next to ``....zip.CHECKSUM`` (``<sha256>  <file name>``); futures under ``/data/futures/um/...``;
daily files under ``daily/`` named ``...-2024-01-05.zip``. A month is one request instead of ~44 REST
pages at 1m, which is the point (freqtrade does the same). Every zip is verified against its checksum
before use; spot archives from 2025 on hold microsecond times, normalised to milliseconds here.
A missing archive (HTTP 404, e.g. a month not yet published) is not an error: the caller falls back to
the REST API for that period, which gives the same rows.
"""

from __future__ import annotations

import hashlib
import io
import logging
import zipfile
from collections.abc import Callable
from typing import Literal

import polars as pl
import requests

from itb.download.endpoints import Series
from itb.download.errors import DownloadError
from itb.download.partitions import COLUMNS, SCHEMA, normalise
from itb.download.retry import RetryPolicy, Stats, Transient, status_error, with_retries

log = logging.getLogger("itb.download")

Period = Literal["monthly", "daily"]
_MARKET_PATH = {"spot": "spot", "futures-um": "futures/um"}


class ChecksumMismatch(DownloadError):
    """The zip's SHA-256 differs from its ``.CHECKSUM`` file (after a second try)."""


def archive_path(series: Series, period: Period, stamp: str) -> str:
    """``/data/spot/monthly/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01.zip`` (``stamp`` 2024-01 or 2024-01-05)."""
    sym, iv = series.api_symbol, series.interval
    return f"/data/{_MARKET_PATH[series.market]}/{period}/klines/{sym}/{iv}/{sym}-{iv}-{stamp}.zip"


def parse_archive_csv(data: bytes) -> pl.DataFrame:
    """Kline rows of an archive CSV; a header line (newer futures files have one) is skipped."""
    lines = data.splitlines()
    if lines and not lines[0][:1].isdigit():
        lines = lines[1:]
    body = b"\n".join(line for line in lines if line.strip())
    if not body:
        return normalise(pl.DataFrame(schema=SCHEMA))
    # Read every field as text and convert exactly as the REST path does, so both give equal bits.
    names = [*COLUMNS, "ignore"]
    raw = pl.read_csv(io.BytesIO(body), has_header=False, new_columns=names, infer_schema=False)
    return normalise(raw.select(COLUMNS))


class ArchiveFetcher:
    """Fetches and verifies archive zips from ``data_url`` (plain HTTP GETs with the shared retries)."""

    def __init__(
        self,
        data_url: str,
        policy: RetryPolicy,
        sleep: Callable[[float], None],
        stats: Stats,
        timeout_s: float,
    ) -> None:
        self.data_url, self.policy, self.sleep, self.stats = data_url, policy, sleep, stats
        self.timeout_s = timeout_s
        self.session = requests.Session()

    def close(self) -> None:
        self.session.close()

    def _get(self, url: str) -> bytes | None:
        """The body of ``url``; None on 404. Other failures follow the shared retry rules."""

        def attempt() -> bytes | None:
            try:
                response = self.session.get(url, timeout=self.timeout_s)
                body = response.content
            except requests.RequestException as exc:
                raise Transient(f"{url}: {type(exc).__name__}: {exc}") from None
            if response.status_code == 404:
                return None
            if response.status_code != 200:
                raise status_error(response.status_code, response.headers, "", url)
            expected = response.headers.get("Content-Length")
            if expected is not None and expected.isdigit() and int(expected) != len(body):
                raise Transient(f"{url}: got {len(body)} of {expected} bytes")
            return body

        return with_retries(attempt, what=url, policy=self.policy, sleep=self.sleep, stats=self.stats)

    def fetch(self, series: Series, period: Period, stamp: str) -> pl.DataFrame | None:
        """The verified rows of one archive file, or None when the archive does not exist."""
        url = self.data_url + archive_path(series, period, stamp)
        for attempt in range(2):  # a mismatch may be a torn download: fetch both files once more
            checksum = self._get(url + ".CHECKSUM")
            if checksum is None:
                return None
            data = self._get(url)
            if data is None:
                return None
            expected = checksum.decode("ascii", "replace").split()[0].lower() if checksum.strip() else ""
            actual = hashlib.sha256(data).hexdigest()
            if actual == expected:
                return self._rows(url, data)
            log.warning("%s: checksum mismatch (sha256 %s, CHECKSUM says %s)", url, actual, expected or "-")
            if attempt == 0:
                self.stats.retries += 1
        raise ChecksumMismatch(f"{url}: SHA-256 does not match its .CHECKSUM file (tried twice)")

    @staticmethod
    def _rows(url: str, data: bytes) -> pl.DataFrame:
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                members = [n for n in archive.namelist() if n.endswith(".csv")]
                if len(members) != 1:
                    raise DownloadError(f"{url}: expected one CSV in the zip, found {members}")
                text = archive.read(members[0])
        except zipfile.BadZipFile as exc:
            raise DownloadError(f"{url}: not a valid zip file ({exc})") from None
        try:
            return parse_archive_csv(text)
        except (ValueError, pl.exceptions.PolarsError) as exc:
            raise DownloadError(f"{url}: unreadable kline CSV ({exc})") from None
