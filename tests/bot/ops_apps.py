"""Runs whole apps of a given role, as `image2bot run --role ...` would, for the operators' routes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from bot.app import App, Role, build
from bot.web import WebServer
from tests.harness import DatabaseTarget, make_settings

CEILING_S = 30.0  # generous: what is waited for takes well under a second
# Short beats, so that a stopped worker shows within a test's patience.
FAST_OPS = {
    "enabled": True,
    "port": 0,
    "heartbeat_s": 0.05,
    "ready_worker_stale_s": 1.0,
    "metrics_cache_s": 0,
}


def role_app(database: DatabaseTarget, data_dir: Path, role: Role, **sections: dict[str, Any]) -> App:
    ops = {**FAST_OPS, **sections.pop("ops", {})}
    return build(make_settings(database, data_dir, ops=ops, **sections), role=role)


@asynccontextmanager
async def running(app: App) -> AsyncIterator[str]:
    """Runs `app` until the block ends; yields the base URL of its operators' routes."""
    task = asyncio.create_task(app.run())
    server = app.web or app.ops_web
    assert server is not None
    try:
        await until(lambda: _listening(server) or task.done())
        if task.done():
            task.result()  # the start failed: say why
        yield f"http://127.0.0.1:{server.port}"
    finally:
        app.stop()
        await task


def _listening(server: WebServer) -> bool:
    return server.port != 0


async def until(condition: Any, ceiling_s: float = CEILING_S) -> None:
    """Waits for a synchronous or asynchronous condition, looking again every few milliseconds."""
    async with asyncio.timeout(ceiling_s):
        while True:
            result = condition()
            if asyncio.iscoroutine(result):
                result = await result
            if result:
                return
            await asyncio.sleep(0.02)


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as client, client.get(url) as response:
        return response.status, await response.text()
