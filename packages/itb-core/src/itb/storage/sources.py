"""Find and read kline data for a configured source: a file, a folder, a URL or a bundled sample."""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Mapping
from datetime import datetime
from importlib import resources
from typing import TYPE_CHECKING, Any

import polars as pl

from itb.errors import DataError, ItbError
from itb.storage.store import fingerprint_bytes
from itb.storage.url import filesystem, join

if TYPE_CHECKING:
    from itb.config.models import DataSource, PipelineConfig

SAMPLE_PREFIX = "sample:"
KLINE_COLUMNS = ["timestamp", "open", "high", "low", "close", "volume", "close_time", "quote_av",
                 "trades", "tb_base_av", "tb_quote_av"]  # fmt: skip


class SourceNotFound(ItbError):
    exit_code = 2


def samples() -> list[str]:
    folder = resources.files("itb") / "sample"
    return sorted(p.name.removesuffix(".parquet") for p in folder.iterdir() if p.name.endswith(".parquet"))


def default_location(source: DataSource, config: PipelineConfig) -> str:
    """Where ``itb download`` stores a source: monthly Parquet files under the data root."""
    return join(config.data_root, "klines", source.market, source.symbol, config.freq)


def resolve_source(source: DataSource, config: PipelineConfig) -> list[str]:
    """The Parquet files (URLs or paths) of a source, in time order; raises SourceNotFound."""
    location = source.path or default_location(source, config)
    if location.startswith(SAMPLE_PREFIX):
        name = location[len(SAMPLE_PREFIX) :]
        if name not in samples():
            raise SourceNotFound(f"no bundled sample {name!r} (bundled: {', '.join(samples())})")
        return [str(resources.files("itb") / "sample" / f"{name}.parquet")]
    fs, path = filesystem(location)
    if not fs.exists(path):
        hint = "" if source.path else " (run `itb download` first, or set data_sources[].path)"
        raise SourceNotFound(f"data not found: {location}{hint}")
    if fs.isdir(path):
        files = sorted(p for p in fs.find(path) if p.endswith(".parquet") and ".tmp-" not in p)
        if not files:
            raise SourceNotFound(f"no Parquet files in {location}")
        return [fs.unstrip_protocol(p) if "://" in location else p for p in files]
    return [location]


#: Fingerprints of source files read by this process, by (url, size, mtime_ns, inode): the stage key
#: (:meth:`MergeStage.external_fingerprints`) and the read itself hash each file once between them.
_FINGERPRINTS: dict[tuple[str, int, int, int], str] = {}


def _local_stat(url: str) -> os.stat_result | None:
    """``os.stat`` of a source that is a local file; None for remote URLs."""
    if "://" in url and not url.startswith("file://"):
        return None
    try:
        return os.stat(url.removeprefix("file://"))
    except OSError:
        return None


def _cache_key(url: str, stat: os.stat_result) -> tuple[str, int, int, int]:
    return (url, stat.st_size, stat.st_mtime_ns, stat.st_ino)


def _fetch(url: str, stat: os.stat_result | None) -> tuple[bytes, str]:
    """A source file's bytes and fingerprint; remembered for a local file whose ``stat`` (taken
    before the read) still describes what was read."""
    fs, path = filesystem(url)
    try:
        data = fs.cat_file(path)
    except OSError as exc:  # gone or unreadable since the source was resolved
        raise DataError(f"{url}: cannot read the source file: {exc}") from None
    fingerprint = fingerprint_bytes(data)
    if stat is not None and len(data) == stat.st_size:
        _FINGERPRINTS[_cache_key(url, stat)] = fingerprint
    return data, fingerprint


#: Keys of fsspec ``info`` that identify an object's content, in order of preference: content hashes
#: (Azure Blob ``content_md5``, S3/GCS ``ETag``/``md5Hash``), then version stamps.
_CONTENT_KEYS = ("content_md5", "md5Hash", "ETag", "etag", "md5", "version_id", "generation")
#: Keys of a modification time, used with the size when no content key exists.
_TIME_KEYS = ("mtime", "last_modified", "LastModified", "updated", "created")


def metadata_fingerprint(info: Mapping[str, Any]) -> str | None:
    """A fingerprint of a remote object from its listing metadata (fsspec ``info``), or None when the
    metadata holds neither a content hash nor a modification time."""
    settings = info.get("content_settings")
    fields: dict[str, str] = {}
    if isinstance(settings, Mapping) and settings.get("content_md5"):  # Azure Blob: the bytes' MD5
        fields["content_md5"] = _text(settings["content_md5"])
    else:
        for key in _CONTENT_KEYS:
            if info.get(key):
                fields[key] = _text(info[key])
                break
    if not fields:
        stamp = next((info[key] for key in _TIME_KEYS if info.get(key)), None)
        if stamp is None or info.get("size") is None:
            return None
        fields = {"size": str(info["size"]), "time": _text(stamp)}
    payload = json.dumps(fields, sort_keys=True).encode()
    return "meta:" + hashlib.sha256(payload).hexdigest()


def _text(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex()
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def source_fingerprint(url: str) -> str:
    """What a stage key records of a source file.

    A local file: SHA-256 of its bytes (cached in this process while its ``stat`` is unchanged). A
    remote object: its storage metadata (content MD5, ETag, or size and modification time, see
    :func:`metadata_fingerprint`), so that deciding whether merge is up to date never downloads the
    data; only an object store that reports none of those is downloaded and hashed.
    """
    stat = _local_stat(url)
    if stat is not None and (known := _FINGERPRINTS.get(_cache_key(url, stat))) is not None:
        return known
    if stat is None:
        fs, path = filesystem(url)
        try:
            info = fs.info(path)
        except OSError as exc:
            raise DataError(f"{url}: cannot read the source file's metadata: {exc}") from None
        fingerprint = metadata_fingerprint(info)
        if fingerprint is not None:
            return fingerprint
    return _fetch(url, stat)[1]


def _parse(url: str, source: str | io.BytesIO) -> pl.DataFrame:
    try:
        return pl.read_parquet(source)
    except Exception as exc:  # polars raises several error types for corrupt files
        raise DataError(f"{url}: not a readable Parquet file: {exc}") from None


def _read_file(url: str) -> tuple[pl.DataFrame, str]:
    stat = _local_stat(url)
    known = _FINGERPRINTS.get(_cache_key(url, stat)) if stat is not None else None
    if stat is not None and known is not None:  # hashed already: let polars map the file itself
        frame = _parse(url, url.removeprefix("file://"))
        after = _local_stat(url)
        if after is not None and _cache_key(url, after) == _cache_key(url, stat):
            return frame, known
        stat = after  # replaced while we read it: read and hash again
    data, fingerprint = _fetch(url, stat)
    return _parse(url, io.BytesIO(data)), fingerprint


def read_source(source: DataSource, config: PipelineConfig) -> tuple[pl.DataFrame, str]:
    """Read a source's klines (sorted by time) and a fingerprint of its bytes."""
    frames = []
    digest = []
    for url in resolve_source(source, config):
        frame, fingerprint = _read_file(url)
        digest.append(fingerprint)
        missing = [c for c in ("timestamp", "open", "high", "low", "close") if c not in frame.columns]
        if missing:
            raise DataError(f"{url}: missing kline column(s) {missing}; has {frame.columns}")
        if frame.height == 0:
            raise DataError(f"{url}: has no rows")
        frames.append(frame)
    df = pl.concat(frames, how="diagonal_relaxed") if len(frames) > 1 else frames[0]
    if df.height > 1 and not df["timestamp"].is_sorted():
        df = df.sort("timestamp")
    return df, fingerprint_bytes("".join(digest).encode())
