"""One run at a time per data root: ``<data_root>/runs/.lock``.

Two runs on one data root would overwrite each other's outputs and stage states (one scoring the
other's features). ``itb run`` therefore holds a lock object naming its run id, host, pid and start
time. It is created atomically:

- local disks: a hard link to a fully written private file, which the kernel makes atomic and
  exclusive (like ``open(O_CREAT | O_EXCL)``, without a moment where the lock exists but is empty);
- other filesystems: fsspec ``open(mode="xb")`` (create only if absent). Object stores honour it where
  the filesystem implements a conditional create (adlfs and s3fs do); where it is not implemented the
  lock falls back to "check, then write", which two runners starting in the same second can both
  pass. That limit is documented rather than hidden.

A lock is *stale* when its holder is surely gone: a pid that no longer exists on this host, or (for
a holder on another machine, whose pid cannot be checked) a lock older than ``stale_after_s``. A
stale lock is reported, never broken silently: ``--break-lock`` removes it.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from itb.errors import ItbError
from itb.storage.store import TMP_MARK, Storage
from itb.timefmt import iso_ms

LOCK_NAME = "runs/.lock"
#: How often ``--wait`` looks at the lock again.
WAIT_POLL_S = 1.0


class LockHeld(ItbError):
    """Another run holds the data root (exit code 2: the user decides whether to wait or break it)."""

    exit_code = 2


@dataclass(frozen=True)
class LockInfo:
    run_id: str
    host: str
    pid: int
    started_at: str
    #: Seconds since the epoch, for the age check (``started_at`` is for people).
    started_epoch: float

    def to_json(self) -> bytes:
        return json.dumps(self.__dict__, indent=2).encode()

    @classmethod
    def from_json(cls, data: bytes) -> LockInfo | None:
        try:
            raw = json.loads(data)
            return cls(str(raw["run_id"]), str(raw["host"]), int(raw["pid"]), str(raw["started_at"]),
                       float(raw["started_epoch"]))  # fmt: skip
        except (ValueError, KeyError, TypeError):
            return None

    def describe(self) -> str:
        return f"run {self.run_id} (pid {self.pid} on {self.host}, since {self.started_at})"


def process_alive(host: str, pid: int) -> bool | None:
    """True/False for a process on this host; None when it runs elsewhere and cannot be checked."""
    if host != socket.gethostname():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def stale_reason(info: LockInfo, stale_after_s: float, now: float | None = None) -> str | None:
    """Why the lock's holder is gone, or None if it may still be running."""
    alive = process_alive(info.host, info.pid)
    if alive is False:
        return f"its process {info.pid} no longer exists on this host"
    age = (time.time() if now is None else now) - info.started_epoch
    if alive is None and age > stale_after_s:
        return f"it is {age / 3600:.1f} h old (older than {stale_after_s / 3600:g} h) and held on {info.host}"
    return None


def read_lock(storage: Storage) -> LockInfo | None:
    try:
        return LockInfo.from_json(storage.read_bytes(LOCK_NAME))
    except FileNotFoundError:
        return None


def _create(storage: Storage, data: bytes) -> bool:
    """Create the lock object if absent; False if it exists (atomic where the filesystem allows)."""
    path = storage.path(LOCK_NAME)
    parent = path.rsplit("/", 1)[0]
    if storage.protocol in ("file", "local"):
        # Written in full under a private name, then hard-linked into place: the link, like
        # O_CREAT|O_EXCL, fails if the lock exists, and no reader ever sees a half-written lock.
        os.makedirs(parent, exist_ok=True)
        private = f"{path}{TMP_MARK}{uuid.uuid4().hex}"
        fd = os.open(private, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.link(private, path)
        except FileExistsError:
            return False
        except OSError:  # no hard links on this filesystem: an exclusive create instead
            try:
                lock_fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                return False
            with os.fdopen(lock_fd, "wb") as handle:
                handle.write(data)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(private)
        return True
    storage.ensure_bucket()
    with storage.remote_errors("write", LOCK_NAME):
        storage.fs.makedirs(parent, exist_ok=True)
        try:
            with storage.fs.open(path, "xb") as handle:
                handle.write(data)
            return True
        except FileExistsError:
            return False
        except (ValueError, NotImplementedError):  # no conditional create here: check, then write
            if storage.fs.exists(path):
                return False
            storage.fs.pipe_file(path, data)
            return True


class RunLock:
    """The lock a run holds on its data root; release it when the run ends (a context manager)."""

    def __init__(self, storage: Storage, info: LockInfo) -> None:
        self.storage, self.info = storage, info

    @classmethod
    def acquire(
        cls,
        storage: Storage,
        run_id: str,
        *,
        wait: bool = False,
        break_lock: bool = False,
        stale_after_s: float = 24 * 3600.0,
        sleep: Callable[[float], None] = time.sleep,
        on_wait: Callable[[LockInfo], None] | None = None,
    ) -> RunLock:
        """Take the data root's lock, or raise :class:`LockHeld` naming the holder.

        ``wait`` polls until the holder releases it; ``break_lock`` removes a stale lock (never a
        live one) before taking it.
        """
        now = time.time()
        info = LockInfo(run_id, socket.gethostname(), os.getpid(),
                        iso_ms(now * 1000), now)  # fmt: skip
        told = False
        while True:
            if _create(storage, info.to_json()):
                return cls(storage, info)
            holder = read_lock(storage)
            if holder is None:  # released meanwhile, or unreadable: an unreadable lock is stale
                if storage.exists(LOCK_NAME) and break_lock:
                    storage.delete(LOCK_NAME)
                elif storage.exists(LOCK_NAME):
                    raise LockHeld(f"{storage.url(LOCK_NAME)} is unreadable; remove it with --break-lock")
                continue
            stale = stale_reason(holder, stale_after_s)
            if stale is not None:
                if break_lock:
                    storage.delete(LOCK_NAME)
                    continue
                raise LockHeld(
                    f"data root {storage.root_url} is locked by {holder.describe()}, which looks stale: "
                    f"{stale}; rerun with --break-lock to remove {LOCK_NAME}"
                )
            if not wait:
                raise LockHeld(
                    f"data root {storage.root_url} is in use by {holder.describe()}; "
                    "wait for it with --wait, or use another --data-root"
                )
            if on_wait is not None and not told:
                on_wait(holder)
                told = True
            sleep(WAIT_POLL_S)

    def release(self) -> None:
        """Remove the lock if it is still ours (a --break-lock by someone else may have taken it)."""
        with contextlib.suppress(FileNotFoundError, OSError):
            if read_lock(self.storage) == self.info:
                self.storage.delete(LOCK_NAME)

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
