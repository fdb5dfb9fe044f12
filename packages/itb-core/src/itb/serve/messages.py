"""Where the outputs' human-readable messages go: a :class:`MessageSink`.

The outputs (score bands, paper trades) only *say* something; a sink decides where it is read:
:class:`ConsoleSink` prints it (replay, or no Telegram secrets configured), and
:class:`itb.serve.telegram.TelegramSink` queues it in a persisted outbox and delivers it to a chat.

Each message carries a ``key`` that names what it is about (output, symbol, candle): a sink that
persists messages uses it to deliver a message once even when a restarted service produces it
again for a candle it had already processed.
"""

from __future__ import annotations

from typing import Protocol


class MessageSink(Protocol):
    """Receives the outputs' messages in the order they are made."""

    def post(self, text: str, key: str) -> None:
        """Queue ``text``; ``key`` identifies it (the same key twice is the same message)."""

    def close(self) -> None:
        """Deliver what can be delivered and release connections."""


class ConsoleSink:
    """Prints each message on its own line (stdout, flushed)."""

    def post(self, text: str, key: str) -> None:
        print(text, flush=True)

    def close(self) -> None:
        """Nothing to release."""


class ListSink:
    """Keeps the messages (texts and keys) in memory: for tests and for a caller that shows them later."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.keys: list[str] = []

    def post(self, text: str, key: str) -> None:
        self.texts.append(text)
        self.keys.append(key)

    def close(self) -> None:
        """Nothing to release."""
