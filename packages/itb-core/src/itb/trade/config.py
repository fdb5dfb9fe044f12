"""``output_sets[].config`` of ``trader_binance``: the reference project's keys plus ``live``,
``order_timeout_candles``, ``stop_loss`` and ``caps`` (quote-asset amounts, each optional).

The reference's ``no_trades_only_data_processing`` and ``simulate_order_execution`` are accepted (so a
ported config serves) and can only make the trader safer: either set means simulated, never live."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Caps(BaseModel):
    """Hard limits checked before every order; a refused order is logged and notified, never resized."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_order_notional: float | None = Field(default=None, gt=0, description="Quote amount of one order.")
    max_position_notional: float | None = Field(
        default=None, gt=0, description="Quote value (at the order price) of the base held after a buy."
    )
    max_orders_per_day: int | None = Field(default=None, gt=0, description="Orders placed per UTC day.")
    daily_loss_limit: float | None = Field(
        default=None, gt=0, description="No new buy once today's realised loss reaches this quote amount."
    )
    min_free_quote: float | None = Field(
        default=None, ge=0, description="Free quote balance a buy must leave untouched."
    )


class TraderBinanceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    buy_signal_column: str | None = Field(default=None, description="Default: simulate.buy_column.")
    sell_signal_column: str | None = Field(default=None, description="Default: simulate.sell_column.")
    percentage_used_for_trade: float = Field(
        default=99.0, gt=0, le=100, description="Percent of the free quote balance a buy spends."
    )
    limit_price_adjustment: float = Field(
        default=0.0, ge=-0.1, le=0.1,
        description="Limit price = close x (1 - a) for a buy, close x (1 + a) for a sell.",
    )  # fmt: skip
    live: bool = Field(default=False, description="Place real orders (also needs `itb serve --live`).")
    order_timeout_candles: int = Field(
        default=1,
        ge=1,
        description="Cancel an order not filled after this many candles (keeps partial fills).",
    )
    stop_loss: float | None = Field(
        default=None, gt=0, lt=1,
        description="Sell when a candle closes this fraction below the average entry price.",
    )  # fmt: skip
    caps: Caps = Field(default_factory=Caps)
    no_trades_only_data_processing: bool = Field(
        default=False, description="Reference key: true means no order reaches the exchange (simulated)."
    )
    simulate_order_execution: bool = Field(
        default=False, description="Reference key: true means orders and fills are simulated."
    )
    test_order_before_submit: bool = Field(
        default=False, description="Reference key: live orders are first sent to the test-order endpoint."
    )
    simulated_quote: float = Field(
        default=1000.0, gt=0, description="Dry run without exchange balances: the simulated quote balance."
    )
