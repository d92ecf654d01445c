"""The operators' routes on a web server, beside its own /healthz: /readyz (able to work) and /metrics.

The web roles serve them on the public web server; processes without it serve them on a listener of
their own (`[ops]`), built from the same bounded `WebServer`.
"""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from bot.metrics import Metrics
from bot.web import WebServer
from core.readiness import Readiness


def mount(server: WebServer, readiness: Readiness, metrics: Metrics) -> None:
    async def readyz(_request: web.Request) -> web.Response:
        report = await readiness.check()
        body = {"status": "ready" if report.ready else "unready", "checks": report.checks}
        return web.json_response(body, status=200 if report.ready else 503)

    async def scrape(_request: web.Request) -> web.Response:
        return web.Response(body=await metrics.page(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    server.add_get("/readyz", readyz)
    server.add_get("/metrics", scrape)
