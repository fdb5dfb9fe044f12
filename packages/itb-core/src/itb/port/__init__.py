"""``itb port``: bring a reference-project (asavinov/intelligent-trading-bot) config over to itb.

:func:`port_text` maps the config (the rules in :mod:`itb.port.rules`), renders it as JSONC with
comments saying where each part came from (:mod:`itb.port.render`), validates the result with
:func:`itb.config.loader.parse_config`, and returns the text, the report and what blocks it. Secret
values in the source never reach the output or the report (they become ``env:`` references).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from itb.config import jsonc
from itb.config.loader import parse_config
from itb.errors import ConfigError
from itb.port.render import render_jsonc
from itb.port.report import Changed, Dropped, Mapped, PortReport, Unsupported
from itb.port.rules import port_config

__all__ = ["Changed", "Dropped", "Mapped", "PortOutcome", "PortReport", "Unsupported", "port_config",
           "port_text", "render_jsonc"]  # fmt: skip


@dataclass(frozen=True)
class PortOutcome:
    """The ported config (JSONC text and data), the report, and the problems that block it: parts
    not supported (unless dropped) and what the itb validation found. Empty ``problems``: exit 0."""

    text: str
    data: dict[str, Any]
    report: PortReport
    problems: list[str] = field(default_factory=list)


def port_text(text: str, *, source: str, target: str, drop_unsupported: bool = False) -> PortOutcome:
    """Port the reference config ``text`` (JSONC) read from ``source``; ``target`` names the
    written file in validation messages. A source that is not JSON is a :class:`ConfigError`."""
    try:
        data = jsonc.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{source}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: not a config (the top level must be an object)")
    port = port_config(data)
    rendered = render_jsonc(port.data, port.origins, source)
    problems = [] if drop_unsupported else [f"{u.source}: not supported" for u in port.report.blocking]
    try:
        parse_config(port.data, target)
    except ConfigError as exc:
        problems.append(str(exc))
    return PortOutcome(rendered, port.data, port.report, problems)
