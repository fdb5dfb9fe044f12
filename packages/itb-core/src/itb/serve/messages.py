"""Where the outputs' human-readable messages go: a :class:`MessageSink`.

The outputs (score bands, diagrams, paper trades) only *say* something; a sink decides where it is
read: :class:`ConsoleSink` prints it (replay, or no Telegram secrets configured; a picture is
written under the data root and the line says where), and :class:`itb.serve.telegram.TelegramSink`
queues it in a persisted outbox and delivers it to a chat.

Each message carries a ``key`` that names what it is about (output, symbol, candle): a sink that
persists messages uses it to deliver a message once even when a restarted service produces it
again for a candle it had already processed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Protocol

from itb.storage.store import Storage

#: Where :class:`ConsoleSink` writes pictures, under the data root.
DIAGRAMS = "live/diagrams"


class MessageSink(Protocol):
    """Receives the outputs' messages in the order they are made."""

    def post(self, text: str, key: str) -> None:
        """Queue ``text``; ``key`` identifies it (the same key twice is the same message)."""

    def post_photo(self, png: bytes, caption: str, key: str) -> None:
        """Queue a PNG picture with its caption; ``key`` as for :meth:`post`."""

    def close(self) -> None:
        """Deliver what can be delivered and release connections."""


#: Makes the sink that takes a symbol's messages when no Telegram is configured; it gets the symbol's
#: data root, where pictures are written.
ConsoleFactory = Callable[[Storage], MessageSink]


def photo_name(key: str) -> str:
    """A file name for the picture of ``key``: ``diagram:BTCUSDT:1711`` gives ``diagram-BTCUSDT-1711.png``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", key).strip("-") + ".png"


def keep_photo(photos: Storage, png: bytes, key: str) -> str:
    """Write the picture of ``key`` under ``<data root>/live/diagrams/`` (atomically); its URL."""
    name = f"{DIAGRAMS}/{photo_name(key)}"
    photos.write_bytes(name, png)
    return photos.url(name)


class ConsoleSink:
    """Prints each message on its own line (stdout, flushed); pictures go to ``<photos>/live/diagrams/``."""

    def __init__(self, photos: Storage | None = None) -> None:
        self.photos = photos

    def post(self, text: str, key: str) -> None:
        print(text, flush=True)

    def post_photo(self, png: bytes, caption: str, key: str) -> None:
        if self.photos is None:
            print(f"{caption} (a {len(png)}-byte PNG, not kept: no data root to write it to)", flush=True)
            return
        print(f"{caption} (diagram written to {keep_photo(self.photos, png, key)})", flush=True)

    def close(self) -> None:
        """Nothing to release."""


class ListSink:
    """Keeps the messages (texts and keys) in memory: for tests and for a caller that shows them later.

    A picture is kept as its caption in :attr:`texts` and its bytes in :attr:`photos`."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.keys: list[str] = []
        self.photos: list[bytes] = []

    def post(self, text: str, key: str) -> None:
        self.texts.append(text)
        self.keys.append(key)

    def post_photo(self, png: bytes, caption: str, key: str) -> None:
        self.post(caption, key)
        self.photos.append(png)

    def close(self) -> None:
        """Nothing to release."""
