"""Secret references (``env:NAME``, ``keyvault://VAULT/NAME``): resolve them inside a stage, and keep
their values out of every log line.

Configs and manifests hold references only (the config model rejects anything else). A stage
resolves them when it starts (:func:`activate`, called by ``execute_stage``); the values live in
this process's memory, are handed to stage code by :func:`get`, and every log handler gets a
:class:`RedactingFilter`, so a value that ends up in a message (an exception text, a URL) prints
as ``***``.

``env:`` is built in. Other schemes come from plugins through the ``itb_secret_resolvers`` hook
(itb-azure provides ``keyvault``), so itb-core never imports a cloud SDK. The caller passes them in
(``execute_stage`` asks the plugin manager): this module does not look for plugins itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping

from itb.errors import ConfigError

Resolver = Callable[[str], str]
REDACTED = "***"

_values: dict[str, str] = {}
_filter: RedactingFilter | None = None


def _env(ref: str) -> str:
    import os

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
    """``text`` with every secret value replaced by ``***`` (longest first, so overlaps go too)."""
    for value in sorted(_values.values() if values is None else values, key=len, reverse=True):
        if value and len(value) >= 3:  # tiny values would shred ordinary text and are not secrets
            text = text.replace(value, REDACTED)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites a record's final message (and exception text) with secret values masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not _values:
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


def activate(references: Mapping[str, str], provided: Mapping[str, Resolver] | None = None) -> list[str]:
    """Resolve the config's ``secrets`` (name -> reference) for this process and start redacting;
    ``provided`` are the plugins' resolvers by scheme (``env`` is built in).

    Returns the names resolved (never the values). Redaction is installed before resolving, so even
    an error message that quotes a value is masked.
    """
    install_redaction()
    table = resolvers(provided)
    for name, ref in references.items():
        _values[name] = resolve(ref, table)
    return sorted(references)


def get(name: str) -> str:
    """The value of secret ``name`` (after :func:`activate`), for stage code."""
    try:
        return _values[name]
    except KeyError:
        raise ConfigError(f"secret {name!r} is not defined in the config's 'secrets'") from None


def clear() -> None:
    """Forget resolved values (tests)."""
    _values.clear()
