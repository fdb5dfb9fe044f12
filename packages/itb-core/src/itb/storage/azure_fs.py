"""adlfs with bounded retries: the Azure SDK's default policy retries a refused connection or a
failed request for about a minute per call (backoff 15 s, x3), so an unreachable or misconfigured
data root hangs a run for minutes before it fails. ``ITB_STORAGE_RETRY_TOTAL`` and
``ITB_STORAGE_CONNECTION_TIMEOUT_S`` bound that (tests, interactive runs); unset, the SDK's defaults
stay (they ride out transient failures in production).

Tables (``.parquet``) are uploaded as block blobs and grown by one committed block per append
(:func:`write_blocks`, :func:`append_block`), so an incremental run sends its new rows, not the table.

Imported only when an Azure URL is opened (it imports adlfs and the Azure SDK).
"""

from __future__ import annotations

import asyncio
import base64
import os
import uuid
from typing import Any

from adlfs import AzureBlobFileSystem  # type: ignore[import-untyped]  # adlfs ships no types
from azure.core import MatchConditions
from azure.storage.blob import BlobBlock
from azure.storage.blob.aio import BlobServiceClient
from fsspec.asyn import sync

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


# --- tables as block blobs: written in blocks, grown by committing one more -----------------------
#: Block size of a table's upload (at most 4000 MiB per block; 50,000 blocks per blob).
BLOCK_BYTES = 16 * 1024 * 1024
#: Blocks staged at once.
BLOCK_CONCURRENCY = 4


def _block_id() -> str:
    """A new block id: every id of one blob must have the same length."""
    return base64.b64encode(uuid.uuid4().hex.encode()).decode()


async def _write_blocks(fs: Any, path: str, data: bytes | memoryview) -> None:
    container, blob, _ = fs.split_path(path)
    view = memoryview(data)
    ids = [_block_id() for _ in range(max(1, -(-len(view) // BLOCK_BYTES)))]
    gate = asyncio.Semaphore(BLOCK_CONCURRENCY)
    async with fs.service_client.get_blob_client(container=container, blob=blob) as client:

        async def stage(index: int) -> None:
            async with gate:
                chunk = view[index * BLOCK_BYTES : (index + 1) * BLOCK_BYTES]
                await client.stage_block(ids[index], bytes(chunk), length=len(chunk))

        await asyncio.gather(*(stage(i) for i in range(len(ids))))
        # the commit makes the new content visible at once, as a whole (readers: old or new)
        await client.commit_block_list(
            [BlobBlock(block_id=i) for i in ids], metadata={"is_directory": "false"}
        )


class SizeMismatch(Exception):
    """The blob is not the size the append expects (another writer changed it)."""

    def __init__(self, found: int) -> None:
        super().__init__(found)
        self.found = found


async def _append_block(fs: Any, path: str, size: int, data: bytes | memoryview) -> bool:
    container, blob, _ = fs.split_path(path)
    async with fs.service_client.get_blob_client(container=container, blob=blob) as client:
        props = await client.get_blob_properties()
        if props.size != size:
            raise SizeMismatch(int(props.size))
        committed, _ = await client.get_block_list("committed")
        if not committed or sum(int(b.size) for b in committed) != size:
            return False  # not written in blocks (another tool's upload): the caller writes it whole
        block_id = _block_id()
        await client.stage_block(block_id, bytes(data), length=len(data))
        await client.commit_block_list(
            [BlobBlock(block_id=b.id) for b in committed] + [BlobBlock(block_id=block_id)],
            metadata=props.metadata,
            content_settings=props.content_settings,
            etag=props.etag,  # nobody wrote it since we looked: else 412, nothing committed
            match_condition=MatchConditions.IfNotModified,
        )
        return True


def write_blocks(fs: Any, path: str, data: bytes | memoryview) -> None:
    """Upload ``data`` to the blob ``path`` in staged blocks and commit them in one request (atomic
    for readers), so that :func:`append_block` can grow it later without uploading it again."""
    sync(fs.loop, _write_blocks, fs, path, data)
    fs.invalidate_cache(fs._parent(path))


def append_block(fs: Any, path: str, size: int, data: bytes | memoryview) -> bool:
    """Grow the blob ``path``, which must be ``size`` bytes (else :class:`SizeMismatch`), by ``data``:
    one staged block and a commit of its block list plus that block, conditional on the blob not
    having changed since it was read (atomic for readers: the old content or the new). False, with
    nothing written, when the blob was not written in blocks."""
    try:
        return bool(sync(fs.loop, _append_block, fs, path, size, data))
    finally:
        fs.invalidate_cache(fs._parent(path))
