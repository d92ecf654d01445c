"""The bot's one aiohttp web app. Platforms and payments mount their webhooks on it; /healthz is ours."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from core.db.session import Database

log = logging.getLogger(__name__)


class WebServer:
    def __init__(self, db: Database, *, host: str, port: int) -> None:
        self._db = db
        self._host = host
        self._port = port
        self.app = web.Application(client_max_size=25 * 1024 * 1024)
        self.app.router.add_get("/healthz", self._healthz)
        self._runner: web.AppRunner | None = None

    def add_post(self, path: str, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> None:
        """Mounts a webhook; only before `start`."""
        self.app.router.add_post(path, handler)

    def add_get(self, path: str, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> None:
        """Mounts a page (a one-time download); only before `start`."""
        self.app.router.add_get(path, handler)

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        log.info("web server listening on %s:%s", self._host, self.port)

    @property
    def port(self) -> int:
        """The bound port (useful when configured as 0)."""
        if self._runner is None or not self._runner.addresses:
            return self._port
        return int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _healthz(self, _request: web.Request) -> web.Response:
        try:
            await self._db.ping()
        except Exception:
            log.warning("health check: database unreachable", exc_info=True)
            return web.json_response({"status": "unavailable", "database": "down"}, status=503)
        return web.json_response({"status": "ok", "database": "ok"})
