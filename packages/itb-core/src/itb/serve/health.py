"""``--http HOST:PORT``: ``/healthz`` and ``/readyz`` for an orchestrator, served on the service's own
event loop (aiohttp), asking two functions of the service (:class:`itb.serve.live.LiveStatus`).

- ``/healthz``: 200 while the last good tick is younger than two candles, else 503 with the reason
  (how old it is, the last exchange error).
- ``/readyz``: 200 once the models are loaded and the windows warm (the first tick succeeded),
  503 before.
- ``/metrics``: the service's Prometheus metrics (:mod:`itb.serve.metrics`), when given.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from itb.errors import ConfigError


def parse_http(text: str) -> tuple[str, int]:
    """``HOST:PORT`` of ``--http`` (a ConfigError, exit 2, otherwise)."""
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"--http: {text!r} is not HOST:PORT (such as 127.0.0.1:8080)")
    return host, int(port)


def _answer(ok: bool, reason: str) -> web.Response:
    body = json.dumps({"status": "ok" if ok else "unavailable", "reason": reason})
    return web.Response(status=200 if ok else 503, text=body, content_type="application/json")


async def start_health(
    healthy: Callable[[], tuple[bool, str]],
    ready: Callable[[], bool],
    host: str,
    port: int,
    *,
    metrics: Callable[[], bytes] | None = None,
    extra: Callable[[web.Application], None] | None = None,
) -> web.AppRunner:
    """Serve the endpoints until the returned runner is cleaned up: ``/metrics`` answers what
    ``metrics`` returns (the Prometheus text format), and ``extra`` adds routes (the traders'
    ``/status``, ``/stop``, ``/resume``)."""

    async def healthz(_: web.Request) -> web.Response:
        return _answer(*healthy())

    async def readyz(_: web.Request) -> web.Response:
        if ready():
            return _answer(True, "models loaded, windows warm")
        return _answer(False, "waiting for the first good tick (windows not warm yet)")

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    if metrics is not None:
        exposition = metrics

        async def metrics_page(_: web.Request) -> web.Response:
            return web.Response(body=exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})

        app.router.add_get("/metrics", metrics_page)
    if extra is not None:
        extra(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        raise ConfigError(f"--http: cannot listen on {host}:{port} ({exc.strerror})") from None
    return runner
