"""Building ``trader_binance`` for a symbol: which venue (live, test-order or simulated) and the
credentials. Live orders need both ``"live": true`` in the trader's config and ``itb serve --live``;
a replay is always simulated (no exchange clock to trade against)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from itb.config.models import PipelineConfig
from itb.download.endpoints import resolve_endpoints
from itb.errors import ConfigError
from itb.plugins.manager import secret_resolvers
from itb.secret_refs import SecretScope, open_scope, resolvers
from itb.serve.messages import MessageSink
from itb.storage.store import Storage
from itb.trade.config import TraderBinanceConfig
from itb.trade.filters import SymbolFilters
from itb.trade.trader import BinanceTrader
from itb.trade.venue import BinanceVenue, SimulatedVenue, TestOrderVenue, Venue

KEY_SECRET = "binance_api_key"
SECRET_SECRET = "binance_api_secret"
#: Timeout of every signed call (s).
TIMEOUT_S = 5.0


@dataclass(frozen=True)
class TradingMode:
    """What ``itb serve`` was asked for: ``--live`` and whether this is a replay."""

    live_flag: bool = False
    replay: bool = False


def choose_mode(config: TraderBinanceConfig, pipeline: PipelineConfig, mode: TradingMode) -> str:
    """``live``, ``test-order`` or ``simulated`` (pure)."""
    if mode.replay or config.no_trades_only_data_processing or config.simulate_order_execution:
        return "simulated"
    if config.live and mode.live_flag:
        return "live"
    has_keys = KEY_SECRET in pipeline.secrets and SECRET_SECRET in pipeline.secrets
    return "test-order" if has_keys else "simulated"


def build_trader(
    config: TraderBinanceConfig,
    pipeline: PipelineConfig,
    storage: Storage,
    sink: MessageSink | None,
    mode: TradingMode,
) -> BinanceTrader:
    chosen = choose_mode(config, pipeline, mode)
    fee = Decimal(str(pipeline.simulate.fee))
    quote = Decimal(str(config.simulated_quote))
    venue: Venue
    scope: SecretScope | None = None
    if chosen == "simulated":
        venue = SimulatedVenue(SymbolFilters.default_for(pipeline.symbol), quote, fee)
    else:
        missing = [k for k in (KEY_SECRET, SECRET_SECRET) if k not in pipeline.secrets]
        if missing:
            raise ConfigError(f"secrets.{missing[0]}: trader_binance live trading needs the Binance API key")
        # Held as long as the trader lives, so the scope stays open (masking them) until it closes.
        scope, values = open_scope(
            {k: pipeline.secrets[k] for k in (KEY_SECRET, SECRET_SECRET)}, resolvers(secret_resolvers())
        )
        key, secret = values[KEY_SECRET], values[SECRET_SECRET]
        api_url = resolve_endpoints(pipeline.download).api_url
        exchange = BinanceVenue(
            pipeline.symbol, api_url, key, secret, TIMEOUT_S, config.test_order_before_submit
        )
        venue = exchange if chosen == "live" else TestOrderVenue(exchange, quote, fee)
    simulate = pipeline.simulate
    try:
        return BinanceTrader(
            config, pipeline.symbol, storage, venue, sink, pipeline.freq_ms,
            config.buy_signal_column or simulate.buy_column,
            config.sell_signal_column or simulate.sell_column, secrets=scope,
        )  # fmt: skip
    except BaseException:
        if scope is not None:
            scope.__exit__(None, None, None)
        raise
