"""Bounded retries, Retry-After, IP bans and used-weight pacing, shared by the REST and archive paths.

Binance's rules (https://developers.binance.com/docs/binance-spot-api-docs/rest-api/limits): every
response carries ``X-MBX-USED-WEIGHT-1M``; passing the limit gives HTTP 429 with ``Retry-After``;
ignoring 429s gives HTTP 418, an IP ban whose ``Retry-After`` says when it lifts. So: pace before the
limit, wait exactly as told on 429, and stop at once on 418 (retrying would extend the ban). Server
errors and dropped connections are retried with capped exponential backoff and jitter, a bounded
number of times, so a dead endpoint fails with a clear message instead of hanging.
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from itb.config.models import DownloadConfig
from itb.download.errors import DownloadError, IpBanned
from itb.timefmt import iso_ms

T = TypeVar("T")
log = logging.getLogger("itb.download")

WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"
#: Pause when the next request would pass this share of the weight limit.
WEIGHT_HEADROOM = 0.9


class Transient(Exception):
    """A failure worth retrying: 5xx, a dropped connection, a truncated or empty-by-mistake answer."""


class RetryAfter(Exception):
    """HTTP 429: wait ``seconds`` (the server's Retry-After) and try again."""

    def __init__(self, seconds: float, message: str) -> None:
        super().__init__(message)
        self.seconds = seconds


@dataclass
class RetryPolicy:
    max_retries: int = 5
    backoff_s: float = 1.0
    backoff_max_s: float = 60.0
    max_wait_s: float = 300.0

    @classmethod
    def from_config(cls, settings: DownloadConfig) -> RetryPolicy:
        return cls(settings.max_retries, settings.backoff_s, settings.backoff_max_s, settings.max_wait_s)

    def delay(self, attempt: int) -> float:
        """Capped exponential backoff with jitter (half to full), so parallel clients spread out."""
        base = min(self.backoff_max_s, self.backoff_s * 2.0**attempt)
        return float(base * random.uniform(0.5, 1.0))


@dataclass
class Stats:
    """What the retry machinery did, for the run report."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    waited_s: float = 0.0
    errors: list[str] = field(default_factory=list)


def retry_after_seconds(headers: Mapping[str, str], default: float) -> float:
    value = headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else default
    except ValueError:
        return default


def status_error(status: int, headers: Mapping[str, str], detail: str, what: str) -> Exception:
    """The exception for a non-2xx answer: what to do about it is decided by its type."""
    if status == 418:
        seconds = retry_after_seconds(headers, 0.0)
        until = iso_ms(int((time.time() + seconds) * 1000)) if seconds else None
        lifts = f"it lifts at {until} (in {seconds:.0f} s)" if until else "Binance gave no end time"
        return IpBanned(
            f"{what}: Binance has banned this IP address (HTTP 418) after too many requests; {lifts}. "
            "Data stored so far is kept: run the download again after that.",
            until,
        )
    if status == 429:
        seconds = retry_after_seconds(headers, 60.0)
        return RetryAfter(seconds, f"{what}: rate limited (HTTP 429), Retry-After {seconds:g} s")
    if status >= 500 or status == 408:
        return Transient(f"{what}: HTTP {status} {detail}".strip())
    return DownloadError(f"{what}: HTTP {status} {detail}".strip())


class WeightPacer:
    """Keeps the used request weight under the limit, from the ``X-MBX-USED-WEIGHT-1M`` headers.

    Binance counts weight per IP per calendar minute; when the next request would pass the headroom,
    it waits until the next minute starts (by the local clock, plus a small margin).
    """

    def __init__(
        self,
        limit: int,
        sleep: Callable[[float], None],
        clock: Callable[[], float] = time.time,
        stats: Stats | None = None,
    ) -> None:
        self.limit, self.sleep, self.clock = limit, sleep, clock
        self.stats = stats or Stats()
        self.used = 0

    def observe(self, headers: Mapping[str, str]) -> None:
        value = headers.get(WEIGHT_HEADER)
        if value is not None:
            with contextlib.suppress(ValueError):
                self.used = int(value)

    def before(self, weight: int) -> None:
        if self.used + weight <= self.limit * WEIGHT_HEADROOM:
            return
        wait = 60.0 - (self.clock() % 60.0) + 0.5
        log.info("used weight %d of %d: pausing %.1f s for the next minute", self.used, self.limit, wait)
        self.stats.waited_s += wait
        self.sleep(wait)
        self.used = 0


def with_retries(
    call: Callable[[], T],
    *,
    what: str,
    policy: RetryPolicy,
    sleep: Callable[[float], None],
    stats: Stats,
) -> T:
    """``call()``, retried on :class:`Transient` (backoff) and :class:`RetryAfter` (as told).

    Both kinds share one budget of ``policy.max_retries`` retries; a ban or any other error is raised
    at once. The final error names what was fetched, how often it was tried and the last cause.
    """
    attempt = 0
    while True:
        stats.requests += 1
        try:
            return call()
        except RetryAfter as exc:
            if exc.seconds > policy.max_wait_s:
                raise DownloadError(
                    f"{exc}; that is longer than download.max_wait_s={policy.max_wait_s:g} s. "
                    "Data stored so far is kept: run the download again later."
                ) from None
            if attempt >= policy.max_retries:
                raise DownloadError(f"{exc}; gave up after {attempt} retries") from None
            stats.rate_limited += 1
            delay = exc.seconds
            log.warning("%s; waiting %.1f s", exc, delay)
        except Transient as exc:
            if attempt >= policy.max_retries:
                raise DownloadError(
                    f"{exc}; gave up after {attempt} retries. Data stored so far is kept: "
                    "run the download again to resume."
                ) from None
            delay = policy.delay(attempt)
            log.warning("%s; retry %d/%d in %.2f s", exc, attempt + 1, policy.max_retries, delay)
        attempt += 1
        stats.retries += 1
        stats.waited_s += delay
        sleep(delay)
