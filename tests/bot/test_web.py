"""The web server's own route: /healthz answers 200 while the process serves, without asking anything
else (readiness, database included, is /readyz: tests/bot/test_health.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp

from bot.web import WebServer


@asynccontextmanager
async def serving() -> AsyncIterator[str]:
    server = WebServer(host="127.0.0.1", port=0)
    await server.start()
    try:
        assert server.port != 0
        yield f"http://127.0.0.1:{server.port}"
    finally:
        await server.stop()


async def test_healthz_says_the_process_is_alive() -> None:
    async with (
        serving() as base,
        aiohttp.ClientSession() as client,
        client.get(f"{base}/healthz") as response,
    ):
        assert response.status == 200
        assert await response.json() == {"status": "ok"}


async def test_unknown_paths_are_404() -> None:
    async with (
        serving() as base,
        aiohttp.ClientSession() as client,
        client.get(f"{base}/nothing-here") as response,
    ):
        assert response.status == 404
