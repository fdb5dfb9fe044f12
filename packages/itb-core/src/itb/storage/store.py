"""Atomic, fingerprinted reads and writes of datasets under one data root.

A dataset name is a relative path (``features.parquet``, ``models/high_20_gb.txt``). Writes go to a
temporary name in the same folder and are then moved into place (``os.replace`` on local disks, the
filesystem's move elsewhere; object stores whose single upload is already atomic write directly), so
a reader sees the old file or the new one, never half of one. A writer that fails (a full disk, a
permission or network error) removes its own temporary and raises :class:`StorageError` naming the
dataset and the cause; the previous file stays as it was. A killed writer leaves at most a ``.tmp-*``
file: temporaries are only ever removed by their own writer, or by a runner that holds the data
root's lock (so no other writer can be working): :meth:`Storage.remove_stale_temporaries`.

The fingerprint of an output is the SHA-256 of its bytes: equal data gives equal fingerprints on every
backend, and Parquet is written without timestamps so reruns are byte-identical.

On a local root a table may also grow in place (:meth:`Storage.append_bytes`: an incremental run's
new row groups and footer go after the file's end, no byte of the previous version is touched). While
that runs, a marker ``<name>.itb-append`` holds the previous size: readers through :class:`Storage`
read only those bytes (the previous version, whole), and a killed append is rolled back (the file cut
back to that size) by the next writer of the name or by the runner that holds the lock. On Azure Blob
a table is a block blob that grows by one committed block (:mod:`itb.storage.azure_fs`). An appended
output's fingerprint names its version rather than its bytes: the SHA-256 of the previous
fingerprint, the previous size and the appended bytes (hashing 150 MB to append a day would cost more
than the append). It changes whenever the table does, which is all that stage keys need; equal tables
reached by different histories may differ in fingerprint, which costs at most a recompute.
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import hashlib
import io
import json
import os
import sys
import uuid
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from itb.errors import ItbError
from itb.storage.parquet_append import parquet_bytes
from itb.storage.url import AZURE_PROTOCOLS, filesystem, join, redact

#: Protocols whose single-object upload is atomic (readers see the old or the new object).
ATOMIC_UPLOAD_PROTOCOLS = {"abfs", "az", "abfss", "gs", "gcs", "s3", "s3a", "memory"}
#: Protocols whose first path segment is a container/bucket that must exist before writing.
BUCKET_PROTOCOLS = {"abfs", "az", "abfss", "gs", "gcs", "s3", "s3a"}
TMP_MARK = ".tmp-"
#: Suffix of an in-place append's marker (see the module doc and :meth:`Storage.append_bytes`).
APPEND_MARK = ".itb-append"
LOCAL_PROTOCOLS = ("file", "local")
#: Base exceptions of remote storage client libraries (module, class): a network, permission or
#: service failure, not a bug in itb. Looked up in ``sys.modules`` only, never imported here: a
#: library that is not loaded cannot have raised.
REMOTE_LIBRARY_ERRORS = (
    ("azure.core.exceptions", "AzureError"),
    ("aiohttp", "ClientError"),
    ("botocore.exceptions", "BotoCoreError"),
    ("botocore.exceptions", "ClientError"),
    ("google.api_core.exceptions", "GoogleAPIError"),
    ("google.auth.exceptions", "GoogleAuthError"),
)


def fsync_enabled() -> bool:
    """Flush local writes to the disk before the rename unless ``ITB_FSYNC=0``.

    The rename alone makes a write atomic for readers and for a killed writer; the flush is for a
    machine crash, after which a renamed but unflushed file could hold zeros of the right size.
    It costs a few milliseconds per file; scratch runs may turn it off.
    """
    return os.environ.get("ITB_FSYNC", "1") != "0"


@dataclass(frozen=True)
class WriteResult:
    name: str
    fingerprint: str
    size: int
    rows: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"fingerprint": self.fingerprint, "size": self.size, "rows": self.rows}


class StorageError(ItbError):
    """A read or write failed for a reason outside the data (disk full, permissions, network): exit 1."""

    exit_code = 1


def storage_error(action: str, name: str, url: str, exc: BaseException) -> StorageError:
    """One line naming the dataset and the cause: ``cannot write x.parquet (/root/x.parquet): No
    space left on device [ENOSPC]``; for a remote library's error its type and the first line of its
    message (``cannot read merged.parquet (abfs://c/merged.parquet): ClientAuthenticationError:
    Server failed to authenticate the request.``). Credentials in the URL or message are masked."""
    if isinstance(exc, OSError) and exc.strerror:
        code = errno.errorcode.get(exc.errno or 0)
        cause = exc.strerror + (f" [{code}]" if code else "")
    else:
        lines = str(exc).strip().splitlines()
        cause = type(exc).__name__ + (f": {lines[0].strip()}" if lines else "")
    return StorageError(redact(f"cannot {action} {name} ({url}): {cause}"))


def remote_error_types() -> tuple[type[BaseException], ...]:
    """``OSError`` and the base errors of the remote storage libraries loaded in this process."""
    found: builtins.list[type[BaseException]] = [OSError]
    for module_name, class_name in REMOTE_LIBRARY_ERRORS:
        error = getattr(sys.modules.get(module_name), class_name, None)
        if isinstance(error, type) and issubclass(error, BaseException):
            found.append(error)
    return tuple(found)


def remote_cause(exc: BaseException) -> BaseException | None:
    """The storage failure behind ``exc``: itself if it is one (:func:`remote_error_types`), else
    the first in its chain of causes (adlfs re-raises an upload's ``ServiceRequestError`` as a
    ``RuntimeError``); None for anything else, such as a bug."""
    kinds = remote_error_types()
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kinds):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _committed_size(path: str) -> int | None:
    """The size in the append marker of the local file ``path``, or None when no append is open."""
    try:
        with open(path + APPEND_MARK) as marker:
            return int(marker.read())
    except FileNotFoundError:
        return None


def _appended(
    name: str, size: int, data: bytes | memoryview, fingerprint: str, rows: int | None
) -> WriteResult:
    """The result of appending ``data`` to a ``size``-byte version whose fingerprint is ``fingerprint``:
    its fingerprint names the new version (see the module doc)."""
    digest = hashlib.sha256(f"itb-append\0{fingerprint}\0{size}\0".encode())
    digest.update(data)
    return WriteResult(name, f"sha256:{digest.hexdigest()}", size + len(data), rows)


def fingerprint_bytes(data: bytes | memoryview) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Storage:
    """Datasets under ``root`` (any fsspec URL)."""

    def __init__(self, root: str, **storage_options: Any) -> None:
        self.root_url = root
        self.fs, self.root = filesystem(root, **storage_options)
        protocol = self.fs.protocol
        self.protocol = protocol if isinstance(protocol, str) else protocol[0]
        self._bucket_ready = False

    def __repr__(self) -> str:
        return f"Storage({self.root_url!r})"

    def path(self, name: str) -> str:
        return join(self.root, name)

    def url(self, name: str) -> str:
        return self.fs.unstrip_protocol(self.path(name))  # type: ignore[no-any-return]

    @contextlib.contextmanager
    def remote_errors(self, action: str, name: str) -> Iterator[None]:
        """Turn a remote filesystem's failure inside the block (network, permissions, the service)
        into one :class:`StorageError` naming ``name``. Wrap only fsspec calls: itb's own errors and
        bugs pass through, and so do ``FileNotFoundError``/``FileExistsError`` (answers, not
        failures). Local roots are left alone: their callers decide what an ``OSError`` means."""
        if self.protocol in LOCAL_PROTOCOLS:
            yield
            return
        try:
            yield
        except (FileNotFoundError, FileExistsError):
            raise
        except Exception as exc:
            cause = remote_cause(exc)
            if cause is None:
                raise
            raise storage_error(action, name, self.url(name), cause) from None

    def exists(self, name: str) -> bool:
        with self.remote_errors("check", name):
            return bool(self.fs.exists(self.path(name)))

    def size(self, name: str) -> int | None:
        if self.protocol in LOCAL_PROTOCOLS:
            committed = _committed_size(self.path(name))
            if committed is not None:  # an append in progress or killed: the previous version
                return committed
        try:
            with self.remote_errors("check", name):
                return int(self.fs.size(self.path(name)))
        except FileNotFoundError:
            return None

    def list(self, prefix: str) -> builtins.list[str]:
        base = self.path(prefix)
        with self.remote_errors("list", prefix):
            if not self.fs.exists(base):
                return []
            found = self.fs.find(base)
        root = self.root.rstrip("/") + "/"
        return sorted(
            p[len(root) :] if p.startswith(root) else p
            for p in found
            if TMP_MARK not in p and not p.endswith(APPEND_MARK)
        )

    # --- reading -------------------------------------------------------------------------------
    def read_bytes(self, name: str) -> bytes:
        if self.protocol in LOCAL_PROTOCOLS:
            committed = _committed_size(self.path(name))
            if committed is not None:
                return self.read_range(name, 0, committed)
        with self.remote_errors("read", name):
            return bytes(self.fs.cat_file(self.path(name)))

    def read_range(self, name: str, start: int, end: int) -> bytes:
        """Bytes ``start .. end`` of ``name`` (negative ``start``: counted from the end)."""
        if self.protocol in LOCAL_PROTOCOLS:
            with open(self.path(name), "rb") as handle:
                if start < 0:
                    start = max(0, handle.seek(0, os.SEEK_END) + start)
                handle.seek(start)
                return handle.read(end - start)
        with self.remote_errors("read", name):
            return bytes(self.fs.cat_file(self.path(name), start=start, end=end))

    def scan_path(self, name: str) -> str | None:
        """A local path polars may scan for ``name`` (reading only the row groups it needs), or None:
        not a local root, or an append to it is open (then only :meth:`read_bytes` gives its
        previous version)."""
        if self.protocol not in LOCAL_PROTOCOLS or _committed_size(self.path(name)) is not None:
            return None
        return self.path(name)

    def read_parquet(self, name: str, columns: builtins.list[str] | None = None) -> pl.DataFrame:
        path = self.scan_path(name)
        if path is not None:  # polars maps the file itself: no copy into Python bytes
            return pl.read_parquet(path, columns=columns)
        return pl.read_parquet(io.BytesIO(self.read_bytes(name)), columns=columns)

    def read_json(self, name: str) -> Any:
        return json.loads(self.read_bytes(name))

    def fingerprint(self, name: str) -> str:
        return fingerprint_bytes(self.read_bytes(name))

    # --- writing -------------------------------------------------------------------------------
    def ensure_bucket(self) -> None:
        """Object stores have no folders, but the container (bucket) itself must exist; adlfs's
        ``makedirs`` does not create it, so a fresh data root would fail on its first write."""
        if self._bucket_ready or self.protocol not in BUCKET_PROTOCOLS:
            return
        bucket = self.root.strip("/").split("/", 1)[0]
        with self.remote_errors("create", bucket), warnings.catch_warnings():
            # adlfs warns (and answers yes) when it cannot ask: the next call reports the cause
            warnings.filterwarnings("ignore", "Failed to fetch container properties")
            if not self.fs.exists(bucket):
                self.fs.mkdir(bucket)
        self._bucket_ready = True

    def write_bytes(self, name: str, data: bytes | memoryview, rows: int | None = None) -> WriteResult:
        """Write ``name`` atomically; a failure raises :class:`StorageError` and leaves no temporary."""
        return self._write(name, [data], rows)

    def write_spliced(
        self,
        name: str,
        stored: bytes | memoryview,
        cut: int,
        tail: bytes | memoryview,
        rows: int | None = None,
    ) -> WriteResult:
        """Write ``name`` atomically as its first ``cut`` bytes (``stored`` holds its current bytes)
        followed by ``tail``: on a local root the kept bytes are written from ``stored`` as they are,
        never joined into a new buffer (a 100 MB table costs one write, not a copy and a write)."""
        return self._write(name, [memoryview(stored)[:cut], tail], rows)

    @property
    def appends_in_place(self) -> bool:
        """Whether :meth:`append_bytes` works here: local roots and Azure Blob (block blobs)."""
        return self.protocol in LOCAL_PROTOCOLS or self.protocol in AZURE_PROTOCOLS

    def append_bytes(
        self, name: str, size: int, data: bytes | memoryview, fingerprint: str, rows: int | None = None
    ) -> WriteResult | None:
        """Append ``data`` after the end of ``name`` (local roots), which must be ``size`` bytes long
        and have the fingerprint ``fingerprint``; the result's fingerprint names the new version (see
        the module doc).

        Crash-safe without a copy: first a marker holding ``size`` is written (atomically), then the
        bytes are appended and flushed, then the marker is removed, which commits the append. Until
        then readers through :class:`Storage` see the first ``size`` bytes, and a failure or kill
        leaves them to be restored: by this call on a failure, else by the next writer of ``name``
        (:meth:`roll_back_append`) or the next run (:meth:`remove_stale_temporaries`). A failure
        raises :class:`StorageError` naming the dataset.

        On Azure Blob the table is a block blob (:meth:`write_bytes` uploads ``.parquet`` in blocks):
        ``data`` is staged as one more block and the block list committed, conditional on the blob
        being unchanged; the commit is atomic, so no marker is needed. None, with nothing written,
        for a blob that was not uploaded in blocks: the caller writes the table whole.
        """
        if self.protocol in AZURE_PROTOCOLS:
            return self._append_block(name, size, data, fingerprint, rows)
        final = self.path(name)
        marker = final + APPEND_MARK
        marked = False
        try:
            self.roll_back_append(name)
            with open(final, "r+b") as handle:
                found = handle.seek(0, os.SEEK_END)
                if found != size:
                    raise StorageError(
                        f"cannot append to {name} ({final}): it is {found} bytes, the last run wrote "
                        f"{size} (changed by another writer?)"
                    )
                self._write(name + APPEND_MARK, [str(size).encode()], None)  # atomic, like any write
                marked = True
                handle.write(data)
                handle.flush()
                if fsync_enabled():
                    os.fsync(handle.fileno())
            os.unlink(marker)  # the commit
            marked = False
        except OSError as exc:
            if marked:
                self.roll_back_append(name)
            raise storage_error("append to", name, final, exc) from None
        except BaseException:
            if marked:
                self.roll_back_append(name)
            raise
        return _appended(name, size, data, fingerprint, rows)

    def _append_block(
        self, name: str, size: int, data: bytes | memoryview, fingerprint: str, rows: int | None
    ) -> WriteResult | None:
        from itb.storage.azure_fs import SizeMismatch, append_block

        try:
            with self.remote_errors("append to", name):
                if not append_block(self.fs, self.path(name), size, data):
                    return None
        except SizeMismatch as exc:
            raise StorageError(
                f"cannot append to {name} ({self.url(name)}): it is {exc.found} bytes, the last run "
                f"wrote {size} (changed by another writer?)"
            ) from None
        return _appended(name, size, data, fingerprint, rows)

    def roll_back_append(self, name: str) -> bool:
        """Restore ``name`` to its size before an unfinished in-place append (cut off what it wrote,
        remove its marker); True when there was one. Only for a writer of ``name``."""
        final = self.path(name)
        committed = _committed_size(final) if self.protocol in LOCAL_PROTOCOLS else None
        if committed is None:
            return False
        with contextlib.suppress(FileNotFoundError), open(final, "r+b") as handle:
            if handle.seek(0, os.SEEK_END) > committed:
                handle.truncate(committed)
                if fsync_enabled():
                    os.fsync(handle.fileno())
        os.unlink(final + APPEND_MARK)
        return True

    def _write(self, name: str, parts: Sequence[bytes | memoryview], rows: int | None) -> WriteResult:
        """Write the concatenation of ``parts`` to ``name`` atomically (temporary, fsync, rename; an
        atomic upload on object stores). A failure raises :class:`StorageError` and leaves no
        temporary."""
        final = self.path(name)
        parent, base = final.rsplit("/", 1)
        tmp: str | None = None
        digest = hashlib.sha256()
        for part in parts:
            digest.update(part)
        size = sum(len(part) for part in parts)
        try:
            if self.protocol in LOCAL_PROTOCOLS:
                os.makedirs(parent, exist_ok=True)
                # a killed append's marker must not outlive the file it describes
                self.roll_back_append(name)
                tmp = self._fresh_temporary(parent, base)
                with open(tmp, "wb") as handle:
                    for part in parts:
                        handle.write(part)
                    if fsync_enabled():
                        handle.flush()
                        os.fsync(handle.fileno())
                os.replace(tmp, final)
                return WriteResult(name, f"sha256:{digest.hexdigest()}", size, rows)
            data = b"".join(parts)
            self.ensure_bucket()
            self.fs.makedirs(parent, exist_ok=True)
            if self.protocol in AZURE_PROTOCOLS and name.endswith(".parquet"):
                from itb.storage.azure_fs import write_blocks

                write_blocks(self.fs, final, data)  # a block blob: appends add blocks (append_bytes)
            elif self.protocol in ATOMIC_UPLOAD_PROTOCOLS:
                self.fs.pipe_file(final, data)
            else:
                tmp = self._fresh_temporary(parent, base)
                self.fs.pipe_file(tmp, data)
                self.fs.mv(tmp, final)
            return WriteResult(name, f"sha256:{digest.hexdigest()}", size, rows)
        except Exception as exc:
            if tmp is not None:
                self._remove_quietly(tmp)
            cause = remote_cause(exc)
            if cause is None:
                raise
            where = final if self.protocol in LOCAL_PROTOCOLS else self.url(name)
            raise storage_error("write", name, where, cause) from None
        except BaseException:  # interrupted mid-write: still leave no temporary behind
            if tmp is not None:
                self._remove_quietly(tmp)
            raise

    def _remove_quietly(self, path: str) -> None:
        with contextlib.suppress(*remote_error_types()):
            if self.protocol in LOCAL_PROTOCOLS:
                os.unlink(path)
            else:
                self.fs.rm_file(path)

    def remove_temporaries(self, name: str) -> None:
        """Delete what a killed writer of ``name`` left behind. Only for the holder of the data
        root's lock (the runner, after its own stage run of ``name`` failed)."""
        final = self.path(name)
        self.roll_back_append(name)
        self._clean_stale_tmp(final.rsplit("/", 1)[0], final.rsplit("/", 1)[1])

    def remove_stale_temporaries(self) -> int:
        """Delete every temporary under the root and roll back every unfinished in-place append;
        returns how many of both. Only for the holder of the data root's lock, before its run starts:
        then no writer can be working, so all are left-overs."""
        with self.remote_errors("list", ""):
            if not self.fs.exists(self.root):
                return 0
            found = self.fs.find(self.root)
        stale = [p for p in found if TMP_MARK in p.rsplit("/", 1)[-1]]
        for path in stale:
            self._remove_quietly(path)
        root = self.root.rstrip("/") + "/"
        appends = [p[len(root) : -len(APPEND_MARK)] for p in found if p.endswith(APPEND_MARK)]
        rolled = sum(self.roll_back_append(name) for name in appends if self.appends_in_place)
        return len(stale) + rolled

    def _fresh_temporary(self, parent: str, base: str) -> str:
        """A new temporary name for ``parent/base``. Other writers' temporaries are left alone: one
        may be another process writing the same file right now."""
        return f"{parent}/.{base}{TMP_MARK}{uuid.uuid4().hex}"

    def _clean_stale_tmp(self, parent: str, base: str) -> None:
        """Remove temporaries of this file left by killed writers (never another file's)."""
        prefix = f".{base}{TMP_MARK}"
        if self.protocol in LOCAL_PROTOCOLS:
            try:
                with os.scandir(parent) as entries:
                    stale = [e.path for e in entries if e.name.startswith(prefix)]
            except FileNotFoundError:
                return
            for path in stale:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
            return
        try:
            with self.remote_errors("clean up", base):
                for path in self.fs.ls(parent, detail=False):
                    if path.rsplit("/", 1)[-1].startswith(prefix):
                        self.fs.rm_file(path)
        except FileNotFoundError:
            pass

    def write_parquet(self, name: str, df: pl.DataFrame) -> WriteResult:
        # One encoding for whole tables and appended row groups (parquet_bytes), so they can join.
        return self.write_bytes(name, parquet_bytes(df), rows=df.height)

    def write_json(self, name: str, value: Any) -> WriteResult:
        text = json.dumps(value, indent=2, sort_keys=False, default=str) + "\n"
        return self.write_bytes(name, text.encode("utf-8"))

    def write_text(self, name: str, text: str) -> WriteResult:
        return self.write_bytes(name, text.encode("utf-8"))

    def delete(self, name: str) -> None:
        if self.exists(name):
            with self.remote_errors("delete", name):
                self.fs.rm(self.path(name), recursive=True)
