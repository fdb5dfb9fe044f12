"""Client order ids derived from what an order is for, so a retried request never places a second
order: the same (symbol, candle, side, attempt) always makes the same id, and Binance refuses a
``newClientOrderId`` it already holds ("Duplicate order sent."). The attempt counts the orders
already made for that candle and side (one rejected by the exchange is followed by attempt 1).
Binance allows ``^[.A-Z:/a-z0-9_-]{1,36}$``."""

from __future__ import annotations

import hashlib
import re

PREFIX = "itb"
VALID = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")


def client_order_id(symbol: str, candle_ms: int, side: str, attempt: int) -> str:
    """``itb-<hash>-<side>-<attempt>`` (at most 36 characters)."""
    digest = hashlib.sha256(f"{symbol}:{candle_ms}".encode()).hexdigest()[:16]
    text = f"{PREFIX}-{digest}-{side[0].lower()}{attempt}"
    assert VALID.match(text)
    return text
