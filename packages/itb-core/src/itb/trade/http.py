"""``/status``, ``/stop`` and ``/resume`` on the service's HTTP server (``itb serve --http``), for the
traders of the process. Every request needs ``Authorization: Bearer <token>`` with the value of
``secrets.trade_api_token`` (compared in constant time); without that secret the endpoints are not
served. ``/stop`` persists the kill switch and cancels the open orders before it answers; ``/resume``
persists ``running``. Optional query ``symbol=`` picks one symbol (default: all)."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

from aiohttp import web

from itb.config.models import PipelineConfig
from itb.plugins.manager import secret_resolvers
from itb.secret_refs import open_scope, resolvers
from itb.trade.trader import BinanceTrader

TOKEN_SECRET = "trade_api_token"
log = logging.getLogger("itb.trade")


def _json(status: int, body: Any) -> web.Response:
    return web.Response(status=status, text=json.dumps(body), content_type="application/json")


def trade_routes(traders: Sequence[BinanceTrader], token: str) -> Callable[[web.Application], None]:
    """A function that adds the three endpoints to an aiohttp application."""

    def authorised(request: web.Request) -> bool:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ")
        return hmac.compare_digest(given.encode(), token.encode())

    def chosen(request: web.Request) -> list[BinanceTrader]:
        symbol = request.query.get("symbol")
        return [t for t in traders if symbol in (None, t.symbol)]

    async def status(request: web.Request) -> web.Response:
        if not authorised(request):
            return _json(401, {"error": "unauthorised"})
        return _json(200, {"traders": [t.status() for t in chosen(request)]})

    async def stop(request: web.Request) -> web.Response:
        if not authorised(request):
            return _json(401, {"error": "unauthorised"})
        for trader in chosen(request):
            await asyncio.to_thread(trader.stop_trading, "stopped over HTTP", "http")
        return _json(200, {"traders": [t.status() for t in chosen(request)]})

    async def resume(request: web.Request) -> web.Response:
        if not authorised(request):
            return _json(401, {"error": "unauthorised"})
        for trader in chosen(request):
            trader.resume_trading("http")
        return _json(200, {"traders": [t.status() for t in chosen(request)]})

    def add(app: web.Application) -> None:
        app.router.add_get("/status", status)
        app.router.add_post("/stop", stop)
        app.router.add_post("/resume", resume)

    return add


def trade_routes_for(
    config: PipelineConfig, traders: Sequence[BinanceTrader]
) -> Callable[[web.Application], None] | None:
    """The endpoints when the process trades and ``secrets.trade_api_token`` is configured."""
    if not traders:
        return None
    ref = config.secrets.get(TOKEN_SECRET)
    if ref is None:
        log.warning("no /status, /stop, /resume over HTTP: secrets.%s is not configured", TOKEN_SECRET)
        return None
    # The token is held for the life of the service: its scope stays open, so logs mask it.
    _, values = open_scope({TOKEN_SECRET: ref}, resolvers(secret_resolvers()))
    return trade_routes(traders, values[TOKEN_SECRET])
