"""Telegram delivery that never drops a message: a persisted outbox and a retrying sender.

:class:`Outbox` keeps every message in the data root (``live/outbox/<seq>.json``, atomic writes) from
the moment it is made until Telegram confirms it; confirmed ids go to ``live/outbox/sent.json`` (the
last :data:`KEEP_SENT`), so a message made again for a candle a restarted service processes a second
time (same ``key``, same id) is not sent twice. A picture (``sendPhoto``) is kept as its PNG beside its
entry (``live/outbox/<seq>.png``, written before the entry that names it), so a restart sends it too; it
is removed with the entry once Telegram confirmed it. A message Telegram rejects as malformed (400) is
moved to ``live/outbox/failed/`` with the reason, not dropped and not retried forever.

:class:`TelegramSink` posts to the outbox and wakes a sender thread (its own asyncio loop with
python-telegram-bot's ``Bot``, so the caller never waits for the network). The sender sends the outbox
in order, one message at a time: on 429 it waits ``retry_after``, on 5xx / timeouts / dropped
connections it backs off exponentially up to :attr:`RetryPolicy.max_backoff`, and keeps the message
until it is confirmed. :meth:`TelegramSink.close` waits up to ``flush_timeout`` for the outbox to drain;
what is left is sent on the next start.

The API's base URL is ``$ITB_TELEGRAM_API_URL`` (default the real API), the token and chat id come from
the config's ``secrets`` (``telegram_bot_token``, ``telegram_chat_id``: references only). The token
never reaches a log line or exception text: python-telegram-bot puts it in URLs and in ``InvalidToken``
messages, so every error is rephrased through :func:`itb.secret_refs.redact`, the ``httpx`` /
``telegram`` loggers are kept at WARNING, and the sink's secret scope stays open while it runs so the
process's log redaction knows the value.

Delivery is exactly once except in one window: a crash after Telegram confirmed a message and before
``sent.json`` was written sends that message again on restart (Telegram has no idempotency key).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import threading
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from pydantic import BaseModel, ConfigDict
from telegram import Bot
from telegram.error import BadRequest, RetryAfter
from telegram.warnings import PTBDeprecationWarning

from itb.config.models import PipelineConfig
from itb.secret_refs import Resolver, SecretScope, install_redaction, open_scope, redact
from itb.serve.messages import ConsoleFactory, ConsoleSink, MessageSink
from itb.storage.store import Storage

API_URL_ENV = "ITB_TELEGRAM_API_URL"
DEFAULT_API_URL = "https://api.telegram.org"
TOKEN_SECRET = "telegram_bot_token"
CHAT_SECRET = "telegram_chat_id"
OUTBOX = "live/outbox"
SENT = f"{OUTBOX}/sent.json"
FAILED = f"{OUTBOX}/failed"
#: Ids of confirmed messages remembered (a re-made message older than these would be sent again).
KEEP_SENT = 10_000
#: Loggers of the HTTP stack that print request URLs (with the token) below WARNING.
URL_LOGGERS = ("httpx", "httpcore", "telegram")

log = logging.getLogger(__name__)


class OutboxEntry(BaseModel):
    """One message waiting for Telegram's confirmation (the file ``live/outbox/<seq>.json``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seq: int
    id: str
    key: str
    text: str
    created_ms: int
    #: A picture's storage name (``live/outbox/<seq>.png``); ``text`` is then its caption.
    photo: str | None = None


def message_id(key: str, text: str) -> str:
    """The id of a message: the same key and text make the same id (a re-made message is a repeat)."""
    return hashlib.sha256(f"{key}\n{text}".encode()).hexdigest()[:20]


class Outbox:
    """The persisted queue of one data root; safe to use from the producer and the sender thread."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._lock = threading.Lock()
        self._sent: list[str] = list(storage.read_json(SENT)) if storage.exists(SENT) else []
        self._sent_set = set(self._sent)
        self._entries: dict[int, OutboxEntry] = {}
        for name in storage.list(OUTBOX):
            base = name.rsplit("/", 1)[-1]
            if name.count("/") == OUTBOX.count("/") + 1 and base.removesuffix(".json").isdigit():
                entry = OutboxEntry.model_validate(storage.read_json(name))
                if entry.id in self._sent_set:  # confirmed, then the process stopped before removing it
                    storage.delete(name)
                    if entry.photo is not None and storage.exists(entry.photo):
                        storage.delete(entry.photo)
                else:
                    self._entries[entry.seq] = entry
        self._next = max(self._entries, default=0) + 1

    @staticmethod
    def _name(seq: int) -> str:
        return f"{OUTBOX}/{seq:012d}.json"

    def add(self, key: str, text: str, png: bytes | None = None) -> OutboxEntry | None:
        """Persist a message (with ``png``: a picture captioned ``text``) before anything tries to send
        it; None when it is already pending or sent."""
        mid = message_id(key, text)
        with self._lock:
            if mid in self._sent_set or any(e.id == mid for e in self._entries.values()):
                return None
            photo = None
            if png is not None:  # the picture first: an entry never names a file that is not there
                photo = f"{OUTBOX}/{self._next:012d}.png"
                self.storage.write_bytes(photo, png)
            entry = OutboxEntry(
                seq=self._next, id=mid, key=key, text=text, created_ms=int(time.time() * 1000),
                photo=photo,
            )  # fmt: skip
            self.storage.write_json(self._name(entry.seq), entry.model_dump(mode="json"))
            self._entries[entry.seq] = entry
            self._next += 1
            return entry

    def pending(self) -> list[OutboxEntry]:
        """Messages not confirmed yet, oldest first."""
        with self._lock:
            return [self._entries[s] for s in sorted(self._entries)]

    @property
    def depth(self) -> int:
        with self._lock:
            return len(self._entries)

    def confirm(self, entry: OutboxEntry) -> None:
        """Telegram confirmed ``entry``: remember its id, then remove its file."""
        with self._lock:
            self._sent.append(entry.id)
            self._sent = self._sent[-KEEP_SENT:]
            self._sent_set = set(self._sent)
            self.storage.write_json(SENT, self._sent)
            self.storage.delete(self._name(entry.seq))
            if entry.photo is not None and self.storage.exists(entry.photo):
                self.storage.delete(entry.photo)
            self._entries.pop(entry.seq, None)

    def reject(self, entry: OutboxEntry, reason: str) -> None:
        """Telegram refused ``entry`` for good (400): keep it under ``failed/`` with the reason."""
        with self._lock:
            self.storage.write_json(
                f"{FAILED}/{entry.seq:012d}.json", {**entry.model_dump(), "reason": reason}
            )
            self.storage.delete(self._name(entry.seq))
            self._entries.pop(entry.seq, None)


@dataclass(frozen=True)
class RetryPolicy:
    """Waits between attempts to send one message (seconds)."""

    first_backoff: float = 0.5
    max_backoff: float = 30.0
    #: A ``retry_after`` longer than this is capped (Telegram asks for at most a few minutes).
    max_retry_after: float = 600.0

    def backoff(self, failures: int) -> float:
        """The wait after ``failures`` consecutive 5xx / network failures (1, 2, ...): doubling, bounded."""
        return min(self.max_backoff, self.first_backoff * 2.0 ** (failures - 1))


def retry_after_seconds(value: int | float | timedelta) -> float:
    """python-telegram-bot's ``RetryAfter.retry_after`` (an int, or a timedelta in newer modes) in seconds."""
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def api_url() -> str:
    """The Bot API's root URL: ``$ITB_TELEGRAM_API_URL`` or the real API."""
    return (os.environ.get(API_URL_ENV) or DEFAULT_API_URL).rstrip("/")


class TelegramSink:
    """A :class:`~itb.serve.messages.MessageSink` that delivers to one Telegram chat through the outbox."""

    def __init__(
        self,
        storage: Storage,
        token: str,
        chat_id: str,
        *,
        base_url: str | None = None,
        policy: RetryPolicy | None = None,
        flush_timeout: float = 10.0,
        scope: SecretScope | None = None,
    ) -> None:
        self.outbox = Outbox(storage)
        self.chat_id = chat_id
        self.policy = policy or RetryPolicy()
        self.flush_timeout = flush_timeout
        self.delivered = 0
        self.failures = 0
        self._token = token
        self._base_url = (base_url or api_url()).rstrip("/")
        self._scope = scope
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._idle = threading.Event()
        for name in URL_LOGGERS:
            logger = logging.getLogger(name)
            if logger.getEffectiveLevel() < logging.WARNING:
                logger.setLevel(logging.WARNING)
        install_redaction()
        self._thread = threading.Thread(target=self._run, name="itb-telegram", daemon=True)
        self._thread.start()
        self._wake.set()  # messages left by an earlier run go first

    def masked(self, text: str) -> str:
        """``text`` without the token (and any other secret value an open scope knows)."""
        return redact(redact(text, [self._token]))

    def post(self, text: str, key: str) -> None:
        if self.outbox.add(key, text) is not None:
            self._idle.clear()
        self._wake.set()

    def post_photo(self, png: bytes, caption: str, key: str) -> None:
        if self.outbox.add(key, caption, png) is not None:
            self._idle.clear()
        self._wake.set()

    def flush(self, timeout: float) -> bool:
        """Wait until the outbox is empty (True) or ``timeout`` seconds passed (False)."""
        deadline = time.monotonic() + timeout
        while self.outbox.depth and time.monotonic() < deadline:
            self._wake.set()
            self._idle.wait(min(0.05, max(0.0, deadline - time.monotonic())))
        return self.outbox.depth == 0

    def close(self) -> None:
        """Deliver for up to ``flush_timeout`` seconds, then stop; what is left stays in the outbox."""
        self.flush(self.flush_timeout)
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=5)
        left = self.outbox.depth
        if left:
            log.warning("telegram: %d message(s) still in the outbox; they are sent on the next start", left)
        if self._scope is not None:
            self._scope.__exit__(None, None, None)
            self._scope = None

    # --- the sender thread ----------------------------------------------------------------------
    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        bot = Bot(self._token, base_url=f"{self._base_url}/bot")
        try:
            while not self._stop.is_set():
                pending = self.outbox.pending()
                if not pending:
                    self._idle.set()
                    self._wake.wait(0.5)
                    self._wake.clear()
                    continue
                wait = self._attempt(loop, bot, pending[0])
                if wait:
                    self._stop.wait(wait)
        finally:
            try:
                loop.run_until_complete(bot.shutdown())
            except Exception as exc:  # closing the HTTP pool: nothing to deliver any more
                log.debug("telegram: shutdown: %s", self.masked(str(exc)))
            loop.close()

    def _attempt(self, loop: asyncio.AbstractEventLoop, bot: Bot, entry: OutboxEntry) -> float:
        """Send ``entry`` once; the seconds to wait before the next attempt (0 after a success)."""
        try:
            if entry.photo is None:
                loop.run_until_complete(bot.send_message(chat_id=self.chat_id, text=entry.text))
            else:
                png = self.outbox.storage.read_bytes(entry.photo)
                loop.run_until_complete(
                    bot.send_photo(chat_id=self.chat_id, photo=png, caption=entry.text or None)
                )
        except RetryAfter as exc:
            with warnings.catch_warnings():  # PTB 22 warns that the int becomes a timedelta: both work
                warnings.simplefilter("ignore", PTBDeprecationWarning)
                asked = exc.retry_after
            wait = min(retry_after_seconds(asked), self.policy.max_retry_after)
            log.warning("telegram: rate limited (429), retrying message %d in %.0f s", entry.seq, wait)
            return wait
        except BadRequest as exc:
            reason = self.masked(f"{type(exc).__name__}: {exc}")
            log.error("telegram: message %d rejected (%s); kept in %s", entry.seq, reason, FAILED)
            self.outbox.reject(entry, reason)
            return 0.0
        except Exception as exc:  # 5xx, timeouts, dropped connections, a bad token: keep and back off
            self.failures += 1
            wait = self.policy.backoff(self.failures)
            log.warning(
                "telegram: sending message %d failed (%s); retrying in %.1f s",
                entry.seq, self.masked(f"{type(exc).__name__}: {exc}"), wait,
            )  # fmt: skip
            return wait
        self.failures = 0
        self.outbox.confirm(entry)
        self.delivered += 1
        return 0.0


def message_sink(
    config: PipelineConfig,
    storage: Storage,
    available: Mapping[str, Resolver] | None = None,
    console: ConsoleFactory | None = None,
) -> MessageSink:
    """Telegram when the config names both ``telegram_bot_token`` and ``telegram_chat_id`` in its
    ``secrets``, else the sink ``console`` makes (default :class:`ConsoleSink`). The secrets are
    resolved now (a missing variable is a :class:`~itb.errors.ConfigError` naming the reference) in
    a scope that lives as long as the sink."""
    if TOKEN_SECRET not in config.secrets or CHAT_SECRET not in config.secrets:
        return console(storage) if console is not None else ConsoleSink(storage)
    scope, values = open_scope({k: config.secrets[k] for k in (TOKEN_SECRET, CHAT_SECRET)}, available)
    return TelegramSink(storage, values[TOKEN_SECRET], values[CHAT_SECRET], scope=scope)
