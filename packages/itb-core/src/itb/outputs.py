"""Output kinds: where a live service sends each new candle's signals (a file, a webhook, a broker).

Plugins add kinds through the ``itb_outputs`` hook, each with a pydantic model for its config
section and a factory that builds the :class:`Output` from it. itb's own are in
:data:`BUILTIN_OUTPUTS`; an output that also has ``snapshot() -> dict`` and ``restore(dict)`` gets
its state persisted by ``itb serve`` with the last processed candle.

A kind whose :attr:`OutputInfo.with_context` is set is built with an :class:`OutputContext` too:
the symbol, the data root (for state of its own, like the paper trader's account), the config's
``simulate`` section, and the service's :class:`~itb.serve.messages.MessageSink` (Telegram or the
console) that every output of a symbol shares.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel

from itb.config.models import PipelineConfig, SimulateConfig
from itb.plugins.manager import fill, plugin_manager
from itb.plugins.registry import Registry
from itb.serve.diagram_notification import DiagramConfig, DiagramNotifier
from itb.serve.messages import MessageSink
from itb.serve.paper import PaperTrader, PaperTraderConfig
from itb.serve.score_notification import ScoreNotificationConfig, ScoreNotifier
from itb.storage.store import Storage
from itb.trade.config import TraderBinanceConfig
from itb.trade.factory import TradingMode, build_trader
from itb.trade.trader import BinanceTrader

if TYPE_CHECKING:
    import pluggy


class Output(Protocol):
    """Receives one candle's row (timestamp, prices, features, scores, signals) as it is decided."""

    def send(self, row: Mapping[str, Any]) -> None:
        """Deliver the row; raising marks this delivery as failed (the service decides on retries)."""

    def close(self) -> None:
        """Release connections and files when the service stops."""


@dataclass(frozen=True)
class OutputContext:
    """What the service hands an output besides its config section."""

    symbol: str
    #: The symbol's data root (where ``itb run`` trained it).
    storage: Storage
    #: The config's ``simulate`` section (fee, slippage, direction defaults).
    simulate: SimulateConfig
    #: Where messages go (Telegram through the outbox, or the console); closed by the service.
    sink: MessageSink
    #: The candle length (ms): what a scheduled output counts its periods in.
    freq_ms: int
    #: The whole single-symbol config (secrets references, freq, endpoints), for outputs that trade.
    config: PipelineConfig | None = None
    #: ``itb serve --live`` and whether this is a replay (a trader places real orders only live).
    trading: TradingMode = field(default_factory=TradingMode)


@dataclass(frozen=True)
class OutputInfo:
    name: str
    #: The model of this output's config section (unknown keys should be errors: ``extra="forbid"``).
    config_model: type[BaseModel]
    #: Builds the output from its validated config (and an :class:`OutputContext` if ``with_context``).
    factory: Callable[..., Output]
    description: str = ""
    #: Call ``factory(config, context)`` instead of ``factory(config)``.
    with_context: bool = False
    #: Optional modules this output needs, each with the install hint that provides it
    #: (``("matplotlib", "pip install 'itb-core[diagram]'")``): checked when the output is built,
    #: so a config that uses it fails with exit 2 instead of an ImportError mid-tick.
    requires: tuple[tuple[str, str], ...] = ()


def _score_notifier(config: ScoreNotificationConfig, context: OutputContext) -> ScoreNotifier:
    return ScoreNotifier(config, sink=context.sink)


def _diagram_notifier(config: DiagramConfig, context: OutputContext) -> DiagramNotifier:
    return DiagramNotifier(config, context.symbol, context.freq_ms, context.sink, context.storage)


def _paper_trader(config: PaperTraderConfig, context: OutputContext) -> PaperTrader:
    return PaperTrader(config, context.symbol, context.storage, context.simulate, context.sink)


def _binance_trader(config: TraderBinanceConfig, context: OutputContext) -> BinanceTrader:
    if context.config is None:
        raise ValueError("trader_binance needs the pipeline config in its OutputContext")
    return build_trader(config, context.config, context.storage, context.sink, context.trading)


#: Output kinds itb-core provides itself.
BUILTIN_OUTPUTS: tuple[OutputInfo, ...] = (
    OutputInfo(
        "score_notification_model",
        ScoreNotificationConfig,
        _score_notifier,
        "a message when the score changes band and every `frequency` candles in one "
        "(Telegram when its secrets are configured, else the console)",
        with_context=True,
    ),
    OutputInfo(
        "diagram_notification_model",
        DiagramConfig,
        _diagram_notifier,
        "a PNG of the recent close, score and thresholds when a candle closes a `notification_freq` "
        "period (Telegram sendPhoto when its secrets are configured, else a file under the data root)",
        with_context=True,
        requires=(("matplotlib", "pip install 'itb-core[diagram]'"),),
    ),
    OutputInfo(
        "trader_simulation",
        PaperTraderConfig,
        _paper_trader,
        "paper trading: fills at the next candle's open with the configured fee and slippage, "
        "state in <data_root>/paper/<SYMBOL>/, a message per fill",
        with_context=True,
    ),
    OutputInfo(
        "trader_binance",
        TraderBinanceConfig,
        _binance_trader,
        "limit orders on Binance spot: dry run unless `live: true` and `itb serve --live`; caps, "
        "stop-loss, order timeouts, reconciliation; state and kill switch in <data_root>/trade/<SYMBOL>/",
        with_context=True,
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
