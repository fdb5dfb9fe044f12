"""Output kinds: where a live service sends each new candle's signals (a file, a webhook, a broker).

Plugins add kinds through the ``itb_outputs`` hook, each with a pydantic model for its config
section and a factory that builds the :class:`Output` from it. itb's own are in
:data:`BUILTIN_OUTPUTS`; an output that also has ``snapshot() -> dict`` and ``restore(dict)`` gets
its state persisted by ``itb serve`` with the last processed candle.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel

from itb.plugins.manager import fill, plugin_manager
from itb.plugins.registry import Registry
from itb.serve.score_notification import ScoreNotificationConfig, ScoreNotifier

if TYPE_CHECKING:
    import pluggy


class Output(Protocol):
    """Receives one candle's row (timestamp, prices, features, scores, signals) as it is decided."""

    def send(self, row: Mapping[str, Any]) -> None:
        """Deliver the row; raising marks this delivery as failed (the service decides on retries)."""

    def close(self) -> None:
        """Release connections and files when the service stops."""


@dataclass(frozen=True)
class OutputInfo:
    name: str
    #: The model of this output's config section (unknown keys should be errors: ``extra="forbid"``).
    config_model: type[BaseModel]
    #: Builds the output from its validated config.
    factory: Callable[[Any], Output]
    description: str = ""


#: Output kinds itb-core provides itself.
BUILTIN_OUTPUTS: tuple[OutputInfo, ...] = (
    OutputInfo(
        "score_notification_model",
        ScoreNotificationConfig,
        ScoreNotifier,
        "a message when the score changes band and every `frequency` candles in one (console)",
    ),
)


class OutputRegistry(Registry[str, OutputInfo]):
    """What ``itb_outputs`` hooks extend."""

    def __init__(self) -> None:
        super().__init__("output")
        with self.provided_by("itb"):
            for info in BUILTIN_OUTPUTS:
                self.add(info)

    def add(self, info: OutputInfo) -> OutputInfo:
        return self.put(info.name, info)


def collect_outputs(pm: pluggy.PluginManager) -> OutputRegistry:
    registry = OutputRegistry()
    fill("itb_outputs", registry, pm)
    return registry


@cache
def output_registry() -> OutputRegistry:
    """The output kinds of this process's plugins, collected once."""
    return collect_outputs(plugin_manager())
