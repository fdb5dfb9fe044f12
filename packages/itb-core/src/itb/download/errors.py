"""Download errors: each carries a message for the user, never a bare traceback."""

from __future__ import annotations

from itb.errors import ItbError


class DownloadError(ItbError):
    """Fetching failed after the allowed retries; data stored before the failure is kept."""

    exit_code = 1


class IpBanned(DownloadError):
    """Binance answered HTTP 418: this IP is banned until ``until`` (ISO time, UTC).

    Retrying during a ban extends it, so the download stops at once instead of backing off.
    """

    def __init__(self, message: str, until: str | None) -> None:
        super().__init__(message)
        self.until = until
