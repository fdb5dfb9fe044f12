"""adlfs with bounded retries: the Azure SDK's default policy retries a refused connection or a
failed request for about a minute per call (backoff 15 s, x3), so an unreachable or misconfigured
data root hangs a run for minutes before it fails. ``ITB_STORAGE_RETRY_TOTAL`` and
``ITB_STORAGE_CONNECTION_TIMEOUT_S`` bound that (tests, interactive runs); unset, the SDK's defaults
stay (they ride out transient failures in production).

Imported only when an Azure URL is opened (it imports adlfs and the Azure SDK).
"""

from __future__ import annotations

import os
from typing import Any

from adlfs import AzureBlobFileSystem  # type: ignore[import-untyped]  # adlfs ships no types
from azure.storage.blob.aio import BlobServiceClient

from itb.errors import ConfigError

#: Environment variable -> BlobServiceClient keyword (the SDK's retry and transport settings).
CLIENT_LIMITS = {
    "ITB_STORAGE_RETRY_TOTAL": ("retry_total", int),
    "ITB_STORAGE_CONNECTION_TIMEOUT_S": ("connection_timeout", float),
    "ITB_STORAGE_READ_TIMEOUT_S": ("read_timeout", float),
}


def client_limits(env: dict[str, str] | None = None) -> dict[str, Any]:
    """The BlobServiceClient keywords set in the environment (empty: the SDK's defaults)."""
    env = dict(os.environ if env is None else env)
    limits: dict[str, Any] = {}
    for name, (keyword, kind) in CLIENT_LIMITS.items():
        raw = env.get(name, "").strip()
        if not raw:
            continue
        try:
            value = kind(raw)
        except ValueError:
            value = -1
        if value < 0:
            raise ConfigError(f"{name}: {raw!r} is not a non-negative {kind.__name__}")
        limits[keyword] = value
    if "retry_total" in limits:
        limits.setdefault("initial_backoff", 1)  # the SDK waits 15 s before its first retry
        limits.setdefault("increment_base", 1)
    return limits


class LimitedAzureBlobFileSystem(AzureBlobFileSystem):  # type: ignore[misc]
    """adlfs whose blob service client carries ``client_options`` (retries, timeouts): adlfs itself
    builds its client without them."""

    def __init__(self, *args: Any, client_options: dict[str, Any] | None = None, **kwargs: Any) -> None:
        self.client_options = dict(client_options or {})
        super().__init__(*args, **kwargs)

    def do_connect(self) -> None:
        super().do_connect()
        if self.client_options:
            built: Any = getattr(self, "service_client")  # noqa: B009 - adlfs sets it untyped
            # the same endpoint and credential, plus the limits
            self.service_client = BlobServiceClient(
                account_url=built.url, credential=built.credential, **self.client_options
            )
