"""Find and read kline data for a configured source: a file, a folder, a URL or a bundled sample."""

from __future__ import annotations

import io
from importlib import resources
from typing import TYPE_CHECKING

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


def read_source(source: DataSource, config: PipelineConfig) -> tuple[pl.DataFrame, str]:
    """Read a source's klines (sorted by time) and a fingerprint of its bytes."""
    frames = []
    digest = []
    for url in resolve_source(source, config):
        fs, path = filesystem(url)
        data = fs.cat_file(path)
        digest.append(fingerprint_bytes(data))
        try:
            frame = pl.read_parquet(io.BytesIO(data))
        except Exception as exc:  # polars raises several error types for corrupt files
            raise DataError(f"{url}: not a readable Parquet file: {exc}") from None
        missing = [c for c in ("timestamp", "open", "high", "low", "close") if c not in frame.columns]
        if missing:
            raise DataError(f"{url}: missing kline column(s) {missing}; has {frame.columns}")
        frames.append(frame)
    df = pl.concat(frames, how="diagonal_relaxed") if len(frames) > 1 else frames[0]
    return df.sort("timestamp"), fingerprint_bytes("".join(digest).encode())
