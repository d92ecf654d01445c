"""The operators' routes on a web server, beside its own /healthz: /readyz (able to work) and /metrics.

The web roles serve them on the public web server; processes without it serve them on a listener of
their own (`[ops]`), built from the same bounded `WebServer`.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from bot.config import Settings
from bot.metrics import Metrics
from bot.web import WebServer
from core.db.session import Database
from core.readiness import Door, Readiness


def mount(server: WebServer, readiness: Readiness, metrics: Metrics) -> None:
    async def readyz(_request: web.Request) -> web.Response:
        report = await readiness.check()
        body = {"status": "ready" if report.ready else "unready", "checks": report.checks}
        return web.json_response(body, status=200 if report.ready else 503)

    async def scrape(_request: web.Request) -> web.Response:
        return web.Response(body=await metrics.page(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    server.add_get("/readyz", readyz)
    server.add_get("/metrics", scrape)


def listener(settings: Settings) -> WebServer:
    """The small listener of a process without the web server: these routes only, bounded alike."""
    web_settings = settings.web
    return WebServer(
        host=settings.ops.host,
        port=settings.ops.port,
        max_connections=web_settings.max_connections,
        header_timeout_s=web_settings.header_timeout_s,
        body_timeout_s=web_settings.body_timeout_s,
    )


def readiness(settings: Settings, db: Database, doors: Sequence[Door]) -> Readiness:
    return Readiness(
        db,
        doors,
        worker_stale_s=settings.ops.ready_worker_stale_s,
        outbox_overdue_s=settings.ops.ready_outbox_overdue_s,
        timeout_s=settings.ops.check_timeout_s,
    )
