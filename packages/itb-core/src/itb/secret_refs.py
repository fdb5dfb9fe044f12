"""Secret references (``env:NAME``, ``keyvault://VAULT/NAME``): resolved only by the code that uses
them, and kept out of every log line.

Configs and manifests hold references only (the config model rejects anything else). A stage runs
inside a :class:`SecretScope` (``with activate(config.secrets): ...``, opened by ``execute_stage``):
:func:`get` resolves a reference the first time stage code asks for it and keeps the value in that
scope until the scope closes, so a pipeline whose Telegram token is unset still runs every stage
that never sends a message, and no value outlives its stage (after the scope, :func:`get` raises).

Masking: :func:`redact` replaces every value known to an open scope by ``***`` (the values resolved
so far, plus those of ``env:`` references whose variable is set, which any code in the process could
read anyway). :class:`RedactingFilter` applies it to log records; a stage process also masks its
own stdout and stderr (:mod:`itb.masked_output`).

``env:`` is built in. Other schemes come from plugins through the ``itb_secret_resolvers`` hook
(itb-azure provides ``keyvault``), so itb-core never imports a cloud SDK. The caller passes them in
(``execute_stage`` asks the plugin manager): this module does not look for plugins itself.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType

from itb.errors import ConfigError

Resolver = Callable[[str], str]
REDACTED = "***"
#: Shorter values are not masked: they would shred ordinary text (and are not secrets).
MIN_MASKED_LENGTH = 3

_filter: RedactingFilter | None = None


def _env(ref: str) -> str:
    name = ref.removeprefix("env:")
    value = os.environ.get(name)
    if value is None:
        raise ConfigError(f"secret reference {ref!r}: environment variable {name} is not set")
    return value


def resolvers(provided: Mapping[str, Resolver] | None = None) -> dict[str, Resolver]:
    """Scheme -> resolver: the built-in ``env`` plus ``provided`` (from plugins)."""
    return {"env": _env, **(provided or {})}


def scheme(ref: str) -> str:
    return ref.split("://", 1)[0] if "://" in ref else ref.split(":", 1)[0]


def resolve(ref: str, available: Mapping[str, Resolver] | None = None) -> str:
    """The value behind one reference; a clear :class:`ConfigError` (never the value) otherwise."""
    table = resolvers() if available is None else available
    resolver = table.get(scheme(ref))
    if resolver is None:
        raise ConfigError(
            f"secret reference {ref!r}: no resolver for {scheme(ref)!r} "
            f"(installed: {', '.join(sorted(table))}; keyvault needs itb-azure)"
        )
    try:
        return resolver(ref)
    except ConfigError:
        raise
    except Exception as exc:  # SDK errors: say which reference failed, not the value
        raise ConfigError(
            f"secret reference {ref!r} could not be resolved: {type(exc).__name__}: {exc}"
        ) from exc


def redact(text: str, values: Iterable[str] | None = None) -> str:
    """``text`` with every secret value replaced by ``***`` (longest first, so overlaps go too).

    ``values`` defaults to what the open scopes know (:func:`known_values`).
    """
    for value in sorted(known_values() if values is None else values, key=len, reverse=True):
        if value and len(value) >= MIN_MASKED_LENGTH:
            text = text.replace(value, REDACTED)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites a record's final message (and exception text) with secret values masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not known_values():
            return True
        message = record.getMessage()
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def install_redaction(logger: logging.Logger | None = None) -> RedactingFilter:
    """Add the redaction filter to every handler of ``logger`` (default: the root logger).

    Handler filters see records from every logger that propagates to them; logger filters do not.
    """
    global _filter
    if _filter is None:
        _filter = RedactingFilter()
    for handler in (logger or logging.getLogger()).handlers:
        if _filter not in handler.filters:
            handler.addFilter(_filter)
    return _filter


class SecretScope:
    """The secrets of one stage run: references in, values resolved on first use, gone at exit.

    A context manager; scopes nest (the innermost open one serves :func:`get`) and are shared by the
    threads of the process (a stage's thread pool reads the same secrets). Leaving the scope forgets
    every value it resolved.
    """

    def __init__(self, references: Mapping[str, str] | None = None) -> None:
        self._references: dict[str, str] = dict(references or {})
        self._values: dict[str, str] = {}
        self._table: Mapping[str, Resolver] | None = None
        self._lock = threading.Lock()

    def define(self, references: Mapping[str, str], available: Mapping[str, Resolver] | None = None) -> None:
        """Set the references (name -> ``scheme:...``) of this scope; nothing is resolved yet.

        ``available`` is the resolver table (:func:`resolvers` with the plugins' schemes); by
        default only the built-in ``env`` scheme.
        """
        with self._lock:
            self._references = dict(references)
            self._values.clear()
            self._table = available

    @property
    def names(self) -> list[str]:
        return sorted(self._references)

    def get(self, name: str) -> str:
        with self._lock:
            if name in self._values:
                return self._values[name]
            ref = self._references.get(name)
            table = self._table
        if ref is None:
            raise ConfigError(f"secret {name!r} is not defined in the config's 'secrets'")
        # Resolved outside the lock: a slow vault must not hold up the masking of output meanwhile
        # (two threads asking at once may both resolve; they get the same value).
        if table is None:
            table = resolvers()
        value = resolve(ref, table)
        with self._lock:
            self._table = table
            self._values[name] = value
        return value

    def known_values(self) -> list[str]:
        """Values resolved so far, and those of ``env:`` references whose variable is set."""
        with self._lock:
            found = list(self._values.values())
            for ref in self._references.values():
                if scheme(ref) == "env" and (value := os.environ.get(ref.removeprefix("env:"))):
                    found.append(value)
            return found

    def forget(self) -> None:
        with self._lock:
            self._values.clear()

    def __enter__(self) -> SecretScope:
        with _scopes_lock:
            _scopes.append(self)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        with _scopes_lock:
            if self in _scopes:
                _scopes.remove(self)
        self.forget()


_scopes: list[SecretScope] = []
_scopes_lock = threading.Lock()


def _current() -> SecretScope:
    with _scopes_lock:
        if not _scopes:
            raise ConfigError("secrets are available only while a stage runs (no open secret scope)")
        return _scopes[-1]


def known_values() -> list[str]:
    """Every value the open scopes could hand out so far (what :func:`redact` masks)."""
    with _scopes_lock:
        scopes = list(_scopes)
    return [value for scope in scopes for value in scope.known_values()]


def activate(references: Mapping[str, str] | None = None) -> SecretScope:
    """A scope for the config's ``secrets`` (name -> reference): ``with activate(refs): ...``.

    Nothing is resolved here: :func:`get` resolves a secret when stage code first asks for it, so a
    missing reference fails only the code that needs it.
    """
    return SecretScope(references)


def get(name: str) -> str:
    """The value of secret ``name``, resolved now if this scope has not yet done so.

    A :class:`ConfigError` (naming the reference, never a value) when it is not defined, cannot be
    resolved, or no scope is open.
    """
    return _current().get(name)


def clear() -> None:
    """Forget the values resolved in the open scopes (they resolve again on the next :func:`get`)."""
    with _scopes_lock:
        scopes = list(_scopes)
    for scope in scopes:
        scope.forget()


def open_scope(
    references: Mapping[str, str], available: Mapping[str, Resolver] | None = None
) -> tuple[SecretScope, dict[str, str]]:
    """Enter a scope for ``references`` and resolve every one of them, for code that holds the
    values for a long time (the Telegram sink, the trader's API key, the HTTP token): while the
    scope is open :func:`redact` masks them in every log line. The caller leaves the scope when it
    lets the values go. A failure leaves the scope and raises (a :class:`ConfigError` naming the
    reference, never the value)."""
    scope = SecretScope()
    scope.define(references, available)
    scope.__enter__()
    try:
        return scope, {name: scope.get(name) for name in references}
    except BaseException:
        scope.__exit__(None, None, None)
        raise
