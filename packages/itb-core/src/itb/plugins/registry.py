"""A name -> item table that remembers which plugin provided each item.

Every hook that extends itb fills one of these. A second plugin providing a name that is already
taken is a :class:`~itb.errors.ConfigError` naming both plugins: with entry points, which one
would "win" depends on installation order, so silently picking one would be a hidden bug.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

from itb.errors import ConfigError

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

#: The provider recorded for items added outside a plugin hook (tests, library callers).
DIRECT = "<direct>"


class Registry(Generic[K, V]):
    """Items by key, each with the name of the plugin that added it."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._items: dict[K, V] = {}
        self._providers: dict[K, str] = {}
        self._current = DIRECT

    @contextmanager
    def provided_by(self, plugin: str) -> Iterator[None]:
        """Attribute everything added inside the block to ``plugin`` (the manager wraps each hook call)."""
        previous, self._current = self._current, plugin
        try:
            yield
        finally:
            self._current = previous

    def put(self, key: K, item: V, label: str | None = None) -> V:
        """Add ``item`` under ``key`` (``label`` names it in the duplicate error; default: the key)."""
        if key in self._items:
            raise ConfigError(
                f"{self.what} {label or repr(key)} is provided by two plugins: "
                f"{self._providers[key]!r} and {self._current!r} (uninstall one of them)"
            )
        self._items[key] = item
        self._providers[key] = self._current
        return item

    @property
    def current_plugin(self) -> str:
        """The plugin whose hook is adding items right now."""
        return self._current

    def provider(self, key: K) -> str:
        return self._providers[key]

    def lookup(self, key: K) -> V | None:
        return self._items.get(key)

    def keys(self) -> list[K]:
        return list(self._items)

    def values(self) -> list[V]:
        return list(self._items.values())

    def as_dict(self) -> dict[K, V]:
        return dict(self._items)

    def __iter__(self) -> Iterator[K]:
        return iter(list(self._items))

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)
