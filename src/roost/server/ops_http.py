"""The operations endpoint: Prometheus metrics, liveness and readiness over HTTP.

Served on ``metrics_host:metrics_port`` (off by default; loopback when on),
apart from the chat port, for scrapers, load balancers and orchestrators:

- ``GET /metrics``: every metric in the Prometheus text format
- ``GET /healthz``: 200 while the process runs its event loop
- ``GET /readyz``: 200 when the store (and the bus) answer, else 503 with the reasons
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

if TYPE_CHECKING:
    from roost.server.app import Server

log = logging.getLogger("roost.server")


class OpsEndpoint:
    """The HTTP listener of one server process."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.port = 0
        self._runner: web.AppRunner | None = None

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/metrics", self.metrics)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/readyz", self.readyz)
        return app

    async def start(self, host: str, port: int) -> None:
        # No access log: a scraper every few seconds would drown the server's own lines.
        runner = web.AppRunner(self._app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port, reuse_address=True)
        await site.start()
        self._runner = runner
        addresses = runner.addresses
        self.port = int(addresses[0][1]) if addresses else port
        log.info("metrics and health on http://%s:%d/", _show_host(host), self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def metrics(self, request: web.Request) -> web.Response:
        # The bus and store gauges say what a check finds now, not what it found long ago.
        await self.server.check_health()
        body = self.server.metrics.text()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(self, request: web.Request) -> web.Response:
        health = await self.server.check_health()
        body = {"ready": health.ready, "store": health.store, "bus": health.bus}
        if health.problems:
            body["problems"] = health.problems  # type: ignore[assignment]
        return web.Response(
            text=json.dumps(body) + "\n",
            status=200 if health.ready else 503,
            content_type="application/json",
        )


def _show_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
