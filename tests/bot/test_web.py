"""The web server's own route: /healthz answers 200 while the database answers, 503 when it does not."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

from bot.web import WebServer
from core.db import migrate
from core.db.session import Database
from tests.harness import DatabaseTarget, make_settings

# Nothing listens on port 1: connecting is refused at once.
UNREACHABLE = "postgresql+asyncpg://postgres@127.0.0.1:1/test"


@asynccontextmanager
async def serving(db: Database) -> AsyncIterator[str]:
    server = WebServer(db, host="127.0.0.1", port=0)
    await server.start()
    try:
        assert server.port != 0
        yield f"http://127.0.0.1:{server.port}"
    finally:
        await server.stop()


async def get_json(url: str) -> tuple[int, object]:
    async with aiohttp.ClientSession() as client, client.get(url) as response:
        return response.status, await response.json()


async def test_healthz_is_ok_while_the_database_answers(database: DatabaseTarget, tmp_path: Path) -> None:
    db = make_settings(database, tmp_path).open_database()
    try:
        await migrate.upgrade(db.engine)
        async with serving(db) as base:
            assert await get_json(f"{base}/healthz") == (200, {"status": "ok", "database": "ok"})
    finally:
        await db.dispose()


async def test_healthz_is_503_when_the_database_is_unreachable() -> None:
    # A PostgreSQL URL is used for both databases: an unopenable SQLite file would leave aiosqlite's
    # worker thread calling back into the test's event loop after it closed (a race in aiosqlite's
    # clean-up of a failed connect), which makes the suite flaky.
    db = Database(UNREACHABLE)
    try:
        async with serving(db) as base:
            assert await get_json(f"{base}/healthz") == (503, {"status": "unavailable", "database": "down"})
            # still serving: the next check tries the database again and gets the same answer
            assert await get_json(f"{base}/healthz") == (503, {"status": "unavailable", "database": "down"})
    finally:
        await db.dispose()


async def test_unknown_paths_are_404(database: DatabaseTarget, tmp_path: Path) -> None:
    db = make_settings(database, tmp_path).open_database()
    try:
        async with (
            serving(db) as base,
            aiohttp.ClientSession() as client,
            client.get(f"{base}/nothing-here") as response,
        ):
            assert response.status == 404
    finally:
        await db.dispose()
